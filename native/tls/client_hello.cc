#include "client_hello.h"

#include <algorithm>
#include <utility>

// Formats: RFC 8446 §5.1 (records), §4.1.2 (ClientHello), §4.2 (extensions); RFC 6066 §3
// (server_name); RFC 7301 §3.1 (ALPN). Lengths are checked as soon as they arrive, so every
// verdict is decided at a byte position, whatever the split of the input.

namespace epoxy::tls {

const char* to_string(HelloStatus s) {
  switch (s) {
    case HelloStatus::NeedMore: return "need-more";
    case HelloStatus::Done: return "done";
    case HelloStatus::NotTls: return "not-tls";
    case HelloStatus::Malformed: return "malformed";
    case HelloStatus::TooLarge: return "too-large";
  }
  return "?";
}

namespace {

constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderBytes = 5;
constexpr size_t kHandshakeHeaderBytes = 4;
constexpr size_t kMaxRecordBytes = 16384;  // 2^14: TLSPlaintext.length's limit
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxSessionIdBytes = 32;
constexpr size_t kExtServerName = 0;
constexpr size_t kExtAlpn = 16;
constexpr size_t kNameTypeHostName = 0;
constexpr size_t kMaxHostNameBytes = 253;  // a DNS name in text form, without the root's dot

// A bounded cursor over a complete message: every read checks what is left, so a length that
// points past its enclosing vector fails the read instead of reading past it.
struct Reader {
  const uint8_t* p;
  size_t left;

  bool empty() const { return left == 0; }
  bool u8(size_t& v) { return number(1, v); }
  bool u16(size_t& v) { return number(2, v); }
  bool skip(size_t n) {
    Reader unused;
    return take(n, unused);
  }
  // The next n bytes, as a reader of their own.
  bool take(size_t n, Reader& out) {
    if (n > left) return false;
    out = Reader{p, n};
    p += n;
    left -= n;
    return true;
  }
  // A vector with a `width`-byte length prefix (TLS's opaque<..>).
  bool vec(size_t width, Reader& out) {
    size_t n = 0;
    return number(width, n) && take(n, out);
  }

 private:
  bool number(size_t width, size_t& v) {
    if (width > left) return false;
    v = 0;
    for (size_t i = 0; i < width; ++i) v = v << 8 | p[i];
    p += width;
    left -= width;
    return true;
  }
};

bool host_name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// "Example.COM." and "example.com" name the same host: routes compare the normalized form.
bool take_host_name(Reader name, std::string& out) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.left; ++i) {
    if (!host_name_char(name.p[i])) return false;
  }
  size_t n = name.left;
  if (name.p[n - 1] == '.') --n;  // the root label, once
  // "a.." still ends in an empty label: no host, and no route could match it.
  if (n == 0 || n > kMaxHostNameBytes || name.p[n - 1] == '.') return false;
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = name.p[i];
    out[i] = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return true;
}

// ServerNameList server_name_list<1..2^16-1>; the first host_name wins. Other name types are
// skipped with the same 2-byte length (none is defined, and every reader assumes it).
bool parse_server_name(Reader body, ClientHello& out) {
  Reader list;
  if (!body.vec(2, list) || !body.empty() || list.empty()) return false;
  while (!list.empty()) {
    size_t type = 0;
    Reader name;
    if (!list.u8(type) || !list.vec(2, name)) return false;
    if (type != kNameTypeHostName || out.has_sni) continue;
    if (!take_host_name(name, out.sni)) return false;
    out.has_sni = true;
  }
  return true;
}

// ProtocolName protocol_name_list<2..2^16-1>, each name opaque<1..2^8-1>: all are checked, the
// first kMaxAlpn kept.
bool parse_alpn(Reader body, ClientHello& out) {
  Reader list;
  if (!body.vec(2, list) || !body.empty() || list.empty()) return false;
  while (!list.empty()) {
    Reader name;
    if (!list.vec(1, name) || name.empty()) return false;
    if (out.alpn.size() < kMaxAlpn) out.alpn.emplace_back(reinterpret_cast<const char*>(name.p), name.left);
  }
  return true;
}

// Only the two extensions read here are checked for duplicates: a second one would make the
// result ambiguous. Others are the server's business; refusing what the server would accept
// would only break clients.
bool parse_extensions(Reader exts, ClientHello& out) {
  bool seen_sni = false;
  bool seen_alpn = false;
  while (!exts.empty()) {
    size_t type = 0;
    Reader body;
    if (!exts.u16(type) || !exts.vec(2, body)) return false;
    if (type == kExtServerName) {
      if (seen_sni || !parse_server_name(body, out)) return false;
      seen_sni = true;
    } else if (type == kExtAlpn) {
      if (seen_alpn || !parse_alpn(body, out)) return false;
      seen_alpn = true;
    }
  }
  return true;
}

// The ClientHello body, after the 4-byte handshake header.
bool parse_client_hello(Reader r, ClientHello& out) {
  Reader session_id, suites, compression, exts;
  if (!r.skip(2 + kRandomBytes)) return false;  // legacy_version, random
  if (!r.vec(1, session_id) || session_id.left > kMaxSessionIdBytes) return false;
  if (!r.vec(2, suites) || suites.left < 2 || suites.left % 2 != 0) return false;
  if (!r.vec(1, compression) || compression.empty()) return false;
  if (r.empty()) return true;  // no extensions block at all: a valid (pre-TLS 1.2 style) hello
  if (!r.vec(2, exts) || !r.empty()) return false;
  return parse_extensions(exts, out);
}

}  // namespace

HelloStatus ClientHelloReader::feed(const uint8_t* data, size_t n) {
  if (status_ != HelloStatus::NeedMore || n == 0) return status_;
  const size_t before = consumed_;
  consumed_ += n;
  size_t i = 0;
  while (i < n && status_ == HelloStatus::NeedMore) {
    size_t at = before + i;
    if (at >= kMaxInputBytes) {
      status_ = HelloStatus::TooLarge;  // the next byte would be one past the input bound
      break;
    }
    i += step(data + i, std::min(n - i, kMaxInputBytes - at));
  }
  // Parsed or refused, the message's bytes are no longer needed (the caller forwards its own).
  if (status_ != HelloStatus::NeedMore) msg_ = std::vector<uint8_t>();
  return status_;
}

size_t ClientHelloReader::step(const uint8_t* p, size_t n) {
  if (rec_left_ == 0) {
    status_ = record_header_byte(*p);
    return 1;
  }
  if (msg_.size() < kHandshakeHeaderBytes) {
    --rec_left_;
    status_ = message_header_byte(*p);
    return 1;
  }
  size_t k = std::min({n, rec_left_, msg_total_ - msg_.size()});
  rec_left_ -= k;
  status_ = message_bytes(p, k);
  return k;
}

HelloStatus ClientHelloReader::record_header_byte(uint8_t b) {
  rec_hdr_[rec_hdr_len_++] = b;
  switch (rec_hdr_len_) {
    case 1:
      // Records carry nothing but the hello's fragments until it is whole: anything else first
      // is another protocol, anything else later a broken hello.
      if (b != kContentHandshake) return msg_.empty() ? HelloStatus::NotTls : HelloStatus::Malformed;
      break;
    case 2:
      if (b != 3) return HelloStatus::Malformed;
      break;
    case 3:
      if (b > 4) return HelloStatus::Malformed;  // SSL 3.0 .. TLS 1.3 (the first is often 0x0301)
      break;
    case kRecordHeaderBytes:
      rec_hdr_len_ = 0;
      rec_left_ = size_t{rec_hdr_[3]} << 8 | b;
      // An empty handshake fragment is forbidden (RFC 8446 §5.1), and would let a client send
      // headers forever without progress.
      if (rec_left_ == 0 || rec_left_ > kMaxRecordBytes) return HelloStatus::Malformed;
      break;
    default:
      break;
  }
  return HelloStatus::NeedMore;
}

HelloStatus ClientHelloReader::message_header_byte(uint8_t b) {
  msg_.push_back(b);
  if (msg_.size() == 1 && b != kHandshakeClientHello) return HelloStatus::Malformed;
  if (msg_.size() < kHandshakeHeaderBytes) return HelloStatus::NeedMore;
  size_t length = size_t{msg_[1]} << 16 | size_t{msg_[2]} << 8 | msg_[3];
  // Decided now, not after the bytes: a client announcing 16 MiB gets its answer at byte 9.
  if (length > kMaxHelloBytes - kHandshakeHeaderBytes) return HelloStatus::TooLarge;
  msg_total_ = kHandshakeHeaderBytes + length;
  msg_.reserve(std::min(msg_total_, kHandshakeHeaderBytes + rec_left_));
  return message_bytes(nullptr, 0);  // an empty body is whole already (and Malformed)
}

HelloStatus ClientHelloReader::message_bytes(const uint8_t* p, size_t n) {
  if (n > 0) msg_.insert(msg_.end(), p, p + n);
  return msg_.size() == msg_total_ ? parse_message() : HelloStatus::NeedMore;
}

HelloStatus ClientHelloReader::parse_message() {
  ClientHello parsed;
  Reader body{msg_.data() + kHandshakeHeaderBytes, msg_.size() - kHandshakeHeaderBytes};
  if (!parse_client_hello(body, parsed)) return HelloStatus::Malformed;
  hello_ = std::move(parsed);
  return HelloStatus::Done;
}

}  // namespace epoxy::tls
