// Address ranges (`10.0.0.0/8`, `2001:db8::/32`, or one address) for the PROXY protocol's
// trusted sources: a connection from outside every range is closed before a byte is read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "address.h"

namespace epoxy {

struct Cidr {
  int family = 0;         // AF_INET or AF_INET6
  uint8_t bytes[16] = {};  // network address (4 used for IPv4), host bits zero
  uint8_t prefix = 0;     // 0..32 or 0..128
};

// Parses `ip` or `ip/prefix`; false with a reason in `error` when malformed. Host bits set
// below the prefix (`10.1.2.3/8`) are an error: such a range is usually a typo.
bool parse_cidr(std::string_view text, Cidr& out, std::string& error);

// Whether `addr` lies in `range`. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
// dual-stack listener reports for IPv4 clients) matches IPv4 ranges as its IPv4 address.
bool cidr_contains(const Cidr& range, const SockAddr& addr);

// Whether `addr` lies in any of `ranges`.
bool any_contains(const std::vector<Cidr>& ranges, const SockAddr& addr);

}  // namespace epoxy
