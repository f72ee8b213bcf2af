// Socket addresses: parsing `ip:port` / `[v6]:port` literals (names are resolved by the control
// plane before they reach the engine) and formatting them back for logs and the select hook.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace epoxy {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }

  // `a.b.c.d` or `::1` without the port.
  std::string host() const;
  uint16_t port() const;
  // `a.b.c.d:port` or `[v6]:port`.
  std::string to_string() const;
};

// Parses an IP literal with port; false (and a reason in `error`) when malformed.
bool parse_address(std::string_view text, SockAddr& out, std::string& error);

}  // namespace epoxy
