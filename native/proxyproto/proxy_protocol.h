// The PROXY protocol (haproxy's doc/proxy-protocol.txt), versions 1 and 2: parsing the header a
// load balancer in front sends before the client's bytes, and building the header epoxy sends to
// a server before the client's bytes, so each side learns the original client address.
//
// Parsing is given every byte read so far (the header is small and bounded: a v1 line is at most
// 107 bytes, a v2 header at most kMaxV2Bytes here) and says whether a complete, valid header is
// at its start, how long it is, and what it carries; bytes after it belong to the client.
// No dependency on N-API or the rest of the engine (only net/address.h's SockAddr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../net/address.h"

namespace epoxy::proxyproto {

constexpr size_t kMaxV1Bytes = 107;   // the specification's bound, CRLF included
constexpr size_t kMaxV2Bytes = 4096;  // 16-byte preamble + addresses + TLVs; larger is refused
constexpr size_t kV2SignatureLen = 12;

enum class ParseStatus : uint8_t {
  NeedMore,  // a valid prefix of a v1 or v2 header so far
  Done,      // a complete header: see Header
  Invalid,   // not a PROXY header, or a malformed one (error says why)
  TooLarge,  // a v1 line over 107 bytes without CRLF, or a v2 length over kMaxV2Bytes
};

const char* to_string(ParseStatus s);

struct Header {
  int version = 0;     // 1 or 2
  size_t length = 0;   // bytes of the header, to skip before the client's own bytes
  // v2 LOCAL, or v1 UNKNOWN, or v2 PROXY with an address family other than TCP over IPv4/IPv6
  // (UNSPEC, UDP, unix): the receiver keeps the connection's real addresses.
  bool local = true;
  SockAddr src;        // when !local: the original client
  SockAddr dst;        // when !local: the address the client connected to
};

// Parses the header at the start of `data`. `error` (when not null) gets a short reason on
// Invalid/TooLarge, naming what was wrong ("bad v2 version", "v1 source port out of range").
// `out` is written only on Done; `error` only on Invalid/TooLarge.
// Detection: a (prefix of the) 12-byte v2 signature is v2, of "PROXY " is v1; empty or a proper
// prefix of either is NeedMore; anything else is Invalid.
// v1 per section 2.1: NeedMore until the first LF, which must come by byte 107 (TooLarge once
// 107 bytes are in without one) and follow a CR (a bare LF is Invalid); a malformed line is only
// judged once its LF is in. "PROXY" SP "TCP4"|"TCP6" SP src SP dst SP sport SP dport, single
// spaces, addresses as inet_pton takes them for the family (glibc refuses heading zeroes in IPv4
// numbers: "01.2.3.4"), ports decimal 0..65535 without heading zeroes ("0" is fine, "080" is
// not: the spec forbids them; haproxy 2.6 accepts them). "PROXY UNKNOWN" alone or followed by SP
// and anything is local (haproxy 2.6 refuses the long form the spec allows).
// v2 per section 2.2: decided from the first 16 bytes (version nibble 2, command LOCAL or PROXY,
// for PROXY a family/transport byte of 0x00, 0x11, 0x12, 0x21, 0x22, 0x31 or 0x32 and a length
// at least 12 for 0x11 / 36 for 0x21, 16 + length <= kMaxV2Bytes), Done once 16 + length bytes
// are in. Only PROXY over TCP4/TCP6 (0x11/0x21) has its addresses read: the TLVs after them are
// walked by (type, 2-byte length), never interpreted, and a TLV (or a TLV header) overrunning
// the length is Invalid, as haproxy does. Every other header (LOCAL, UNSPEC, UDP, unix) is local
// and the bytes after the 16 are skipped unread, TLVs included.
ParseStatus parse(std::string_view data, Header& out, std::string* error = nullptr);

// Appends a v1 line: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 when both are IPv6;
// an IPv4 address beside an IPv6 one is written as IPv4-mapped IPv6 ::ffff:a.b.c.d; addresses as
// inet_ntop writes them), or "PROXY UNKNOWN\r\n" when src or dst is null or not AF_INET/AF_INET6
// (health checks, unknown families). At most 104 bytes.
void append_v1(std::string& out, const SockAddr* src, const SockAddr* dst);

// Appends a v2 header: PROXY over TCP4/TCP6 with src and dst (mixed families as for v1), and
// the AUTHORITY TLV (0x02) when `authority` is not empty and the ALPN TLV (0x01) when `alpn` is
// not empty; LOCAL (family UNSPEC, no address block, no TLVs) when src or dst is null or not
// AF_INET/AF_INET6. TLVs go in ascending type, ALPN then AUTHORITY. A TLV is left out whole
// (never cut) when it would take the header over kMaxV2Bytes, and an `authority` over 255 bytes
// is left out too: haproxy (PP2_AUTHORITY_MAX) refuses the whole header for it, and no host
// name is that long. The result is at most kMaxV2Bytes and parse() gives it back whole.
void append_v2(std::string& out, const SockAddr* src, const SockAddr* dst, std::string_view authority = {},
               std::string_view alpn = {});

}  // namespace epoxy::proxyproto
