// Helpers for the ClientHello reader's tests: byte building, a synthetic ClientHello builder,
// re-framing a handshake message into records, and feeding input in chosen splits.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tls/client_hello.h"

namespace epoxy::tls::testing {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kHandshake = 22;

template <size_t N>
Bytes bytes_of(const uint8_t (&a)[N]) {
  return Bytes(a, a + N);
}
inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline Bytes u8(size_t v) { return {static_cast<uint8_t>(v)}; }
inline Bytes u16(size_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
inline Bytes u24(size_t v) {
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline Bytes filled(size_t n, uint8_t b = 0) { return Bytes(n, b); }

// ---- building ClientHellos ----

inline Bytes ext(size_t type, const Bytes& body) { return cat({u16(type), u16(body.size()), body}); }

// One server_name list entry: name_type, 2-byte length, the name.
inline Bytes sni_entry(std::string_view name, size_t name_type = 0) {
  return cat({u8(name_type), u16(name.size()), bytes_of(name)});
}
inline Bytes sni_ext_of(std::initializer_list<Bytes> entries) {
  Bytes list = cat(entries);
  return ext(0, cat({u16(list.size()), list}));
}
inline Bytes sni_ext(std::string_view name) { return sni_ext_of({sni_entry(name)}); }

inline Bytes alpn_ext(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const std::string& p : protocols) list = cat({list, u8(p.size()), bytes_of(p)});
  return ext(16, cat({u16(list.size()), list}));
}
inline Bytes padding_ext(size_t body_bytes) { return ext(21, filled(body_bytes)); }

struct HelloSpec {
  Bytes session_id = filled(32, 0xaa);
  Bytes suites = {0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f};
  Bytes compression = {0};
  bool extensions_block = true;  // false: a hello that ends after compression_methods
  std::vector<Bytes> extensions;
};

inline Bytes hello_body(const HelloSpec& s) {
  Bytes body = cat({u16(0x0303), filled(32, 0x5a), u8(s.session_id.size()), s.session_id,
                    u16(s.suites.size()), s.suites, u8(s.compression.size()), s.compression});
  if (!s.extensions_block) return body;
  Bytes exts;
  for (const Bytes& e : s.extensions) exts = cat({exts, e});
  return cat({body, u16(exts.size()), exts});
}

// A handshake message: type, 3-byte length, body.
inline Bytes handshake(const Bytes& body, uint8_t type = 1) { return cat({u8(type), u24(body.size()), body}); }

inline Bytes record(const Bytes& payload, uint8_t type = kHandshake, size_t version = 0x0301) {
  return cat({u8(type), u16(version), u16(payload.size()), payload});
}

inline Bytes hello_message(const HelloSpec& s) { return handshake(hello_body(s)); }
inline Bytes hello_record(const HelloSpec& s) { return record(hello_message(s)); }

// A ClientHello message of exactly `total` bytes (handshake header included), grown with a
// padding extension after SNI "big.example" and ALPN "h2".
inline Bytes padded_message(size_t total) {
  HelloSpec s;
  s.extensions = {sni_ext("big.example"), alpn_ext({"h2"}), padding_ext(0)};
  size_t base = hello_message(s).size();
  s.extensions.back() = padding_ext(total - base);
  return hello_message(s);
}

// The handshake message carried by a one-record hello.
inline Bytes message_of(const Bytes& one_record) { return Bytes(one_record.begin() + 5, one_record.end()); }

// `msg` cut into consecutive records of sizes[0], sizes[1], ..., the last size repeated until
// the message ends.
inline Bytes reframe(const Bytes& msg, const std::vector<size_t>& sizes, size_t version = 0x0301) {
  Bytes out;
  size_t at = 0;
  for (size_t i = 0; at < msg.size(); ++i) {
    size_t k = std::min(sizes[std::min(i, sizes.size() - 1)], msg.size() - at);
    out = cat({out, record(Bytes(msg.begin() + at, msg.begin() + at + k), kHandshake, version)});
    at += k;
  }
  return out;
}

// ---- feeding ----

struct Outcome {
  HelloStatus status = HelloStatus::NeedMore;
  ClientHello hello;
  size_t consumed = 0;
};

inline Outcome outcome_of(const ClientHelloReader& r) { return {r.status(), r.hello(), r.consumed()}; }

// Feeds `in` in pieces of the given sizes, the last repeated (a 0 piece is an empty feed).
inline Outcome read_pieces(const Bytes& in, const std::vector<size_t>& pieces) {
  ClientHelloReader r;
  size_t at = 0;
  for (size_t i = 0; at < in.size(); ++i) {
    size_t k = std::min(pieces[std::min(i, pieces.size() - 1)], in.size() - at);
    if (k == 0 && i >= pieces.size()) k = 1;  // a repeated empty piece would never end
    r.feed(in.data() + at, k);
    at += k;
  }
  return outcome_of(r);
}
inline Outcome read_whole(const Bytes& in) { return read_pieces(in, {in.size()}); }
inline Outcome read_bytewise(const Bytes& in) { return read_pieces(in, {1}); }
inline Outcome read_split_at(const Bytes& in, size_t at) { return read_pieces(in, {at, in.size() - at}); }

inline HelloStatus status_of(const Bytes& in) { return read_whole(in).status; }

// The verdict and what was read, not consumed() (that depends on the split by design).
inline bool same_result(const Outcome& a, const Outcome& b) {
  return a.status == b.status && a.hello.has_sni == b.hello.has_sni && a.hello.sni == b.hello.sni &&
         a.hello.alpn == b.hello.alpn;
}

}  // namespace epoxy::tls::testing

namespace epoxy::tls {
// doctest prints a failed CHECK's operands with this.
inline std::ostream& operator<<(std::ostream& os, HelloStatus s) { return os << to_string(s); }
}  // namespace epoxy::tls
