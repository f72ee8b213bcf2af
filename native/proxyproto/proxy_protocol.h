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
// Invalid/TooLarge, naming what was wrong ("bad v2 signature", "v1 source port out of range").
// Rules: v1 per section 2.1 (single spaces, decimal ports without leading zeros rejected
// only where the spec says so, TCP4 needs dotted quads, TCP6 IPv6 text); v2 per section 2.2
// (version nibble 2, command LOCAL or PROXY, address block length at least the family's size;
// TLVs after the addresses are skipped by length, never interpreted).
ParseStatus parse(std::string_view data, Header& out, std::string* error = nullptr);

// Appends a v1 line: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 when both are IPv6;
// an IPv4 address beside an IPv6 one is written as IPv4-mapped IPv6), or "PROXY UNKNOWN\r\n"
// when src or dst is null (health checks, unknown families).
void append_v1(std::string& out, const SockAddr* src, const SockAddr* dst);

// Appends a v2 header: PROXY over TCP4/TCP6 with src and dst (mixed families as for v1), and
// the AUTHORITY TLV (0x02) when `authority` is not empty and the ALPN TLV (0x01) when `alpn` is
// not empty; LOCAL with no address block when src or dst is null.
void append_v2(std::string& out, const SockAddr* src, const SockAddr* dst, std::string_view authority = {},
               std::string_view alpn = {});

}  // namespace epoxy::proxyproto
