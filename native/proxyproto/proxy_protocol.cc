#include "proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace epoxy::proxyproto {

const char* to_string(ParseStatus s) {
  switch (s) {
    case ParseStatus::NeedMore: return "need-more";
    case ParseStatus::Done: return "done";
    case ParseStatus::Invalid: return "invalid";
    case ParseStatus::TooLarge: return "too-large";
  }
  return "?";
}

namespace {

constexpr char kV2SignatureBytes[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr std::string_view kV2Signature{kV2SignatureBytes, kV2SignatureLen};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV2FixedLen = 16;      // signature, version/command, family, length
constexpr size_t kTlvHeaderLen = 3;     // type, 2-byte length
constexpr size_t kMaxAuthority = 255;   // haproxy's PP2_AUTHORITY_MAX: it drops a longer one
constexpr uint8_t kCmdLocal = 0x20;     // version 2, LOCAL
constexpr uint8_t kCmdProxy = 0x21;     // version 2, PROXY
constexpr uint8_t kTcp4 = 0x11;
constexpr uint8_t kTcp6 = 0x21;
constexpr uint8_t kTlvAlpn = 0x01;
constexpr uint8_t kTlvAuthority = 0x02;

ParseStatus fail(std::string* error, ParseStatus status, std::string_view why) {
  if (error != nullptr) error->assign(why);
  return status;
}

// Whether `data` and `whole` agree on their common length (either is a prefix of the other).
bool agrees(std::string_view data, std::string_view whole) {
  size_t n = std::min(data.size(), whole.size());
  return data.substr(0, n) == whole.substr(0, n);
}

// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order, and a port in host order.
SockAddr make_addr(int family, const uint8_t* bytes, uint16_t port) {
  SockAddr a;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, bytes, 4);
    a.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, bytes, 16);
    a.len = sizeof(sockaddr_in6);
  }
  return a;
}

// ---- version 1 -------------------------------------------------------------------------------

// Splits `s` at single spaces into exactly `n` fields, none empty.
const char* split_fields(std::string_view s, std::string_view* fields, size_t n) {
  if (s.empty()) return "v1 line needs source, destination and two ports";
  size_t count = 0;
  while (true) {
    size_t sp = s.find(' ');
    std::string_view field = s.substr(0, sp);
    if (field.empty()) return "v1 fields must be separated by single spaces";
    if (count == n) return "v1 line has more than source, destination and two ports";
    fields[count++] = field;
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
  }
  return count == n ? nullptr : "v1 line needs source, destination and two ports";
}

// Decimal 0..65535. The spec forbids heading zeroes ("0" itself is fine): "080" is refused.
const char* parse_port(std::string_view s, bool source, uint16_t& port) {
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return source ? "v1 source port not decimal" : "v1 destination port not decimal";
    if (v <= 65535) v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (s.size() > 1 && s[0] == '0') {
    return source ? "v1 source port has a leading zero" : "v1 destination port has a leading zero";
  }
  if (v > 65535) return source ? "v1 source port out of range" : "v1 destination port out of range";
  port = static_cast<uint16_t>(v);
  return nullptr;
}

// The family's text form, as inet_pton takes it (glibc also refuses heading zeroes in IPv4).
bool parse_ip_text(std::string_view s, int family, uint8_t (&bytes)[16]) {
  char text[INET6_ADDRSTRLEN];
  if (s.size() >= sizeof text || s.find('\0') != std::string_view::npos) return false;
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  return inet_pton(family, text, bytes) == 1;
}

// The line between "PROXY " and CRLF. Returns why it is wrong, or nullptr with `h` filled.
const char* parse_v1_line(std::string_view line, Header& h) {
  size_t sp = line.find(' ');
  std::string_view proto = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  if (proto == "UNKNOWN") return nullptr;  // the receiver must ignore the rest of the line
  int family = proto == "TCP4" ? AF_INET : proto == "TCP6" ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC) return "v1 protocol is not TCP4, TCP6 or UNKNOWN";
  std::string_view f[4];
  if (const char* why = split_fields(rest, f, 4)) return why;
  uint8_t src[16];
  uint8_t dst[16];
  if (!parse_ip_text(f[0], family, src)) return "v1 source address is not of the family";
  if (!parse_ip_text(f[1], family, dst)) return "v1 destination address is not of the family";
  uint16_t sport = 0;
  uint16_t dport = 0;
  if (const char* why = parse_port(f[2], true, sport)) return why;
  if (const char* why = parse_port(f[3], false, dport)) return why;
  h.local = false;
  h.src = make_addr(family, src, sport);
  h.dst = make_addr(family, dst, dport);
  return nullptr;
}

ParseStatus parse_v1(std::string_view data, Header& out, std::string* error) {
  std::string_view window = data.substr(0, kMaxV1Bytes);
  size_t lf = window.find('\n');
  if (lf == std::string_view::npos) {
    if (data.size() < kMaxV1Bytes) return ParseStatus::NeedMore;
    return fail(error, ParseStatus::TooLarge, "v1 line without CRLF in 107 bytes");
  }
  // The "PROXY " prefix matched, so lf >= kV1Prefix.size().
  if (window[lf - 1] != '\r') return fail(error, ParseStatus::Invalid, "v1 line ends with LF without CR");
  Header h;
  h.version = 1;
  h.length = lf + 1;
  std::string_view line = window.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  if (const char* why = parse_v1_line(line, h)) return fail(error, ParseStatus::Invalid, why);
  out = h;
  return ParseStatus::Done;
}

// ---- version 2 -------------------------------------------------------------------------------

// Reads forward through a fixed span; every read fails, reading nothing, past its end.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}
  size_t left() const { return bytes_.size() - pos_; }
  bool skip(size_t n) {
    if (n > left()) return false;
    pos_ += n;
    return true;
  }
  bool copy(uint8_t* dst, size_t n) {
    if (n > left()) return false;
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool be16(uint16_t& v) {
    uint8_t b[2];
    if (!copy(b, 2)) return false;
    v = static_cast<uint16_t>(b[0] << 8 | b[1]);
    return true;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

// The address block's size for a PROXY command's family/transport byte: 12 or 36 for TCP over
// IPv4/IPv6 (read), 0 for the other valid bytes (the header is then local), -1 when invalid.
int address_block(uint8_t family) {
  switch (family) {
    case kTcp4: return 12;
    case kTcp6: return 36;
    case 0x00:  // UNSPEC
    case 0x12:  // UDP over IPv4
    case 0x22:  // UDP over IPv6
    case 0x31:  // unix stream
    case 0x32:  // unix datagram
      return 0;
    default: return -1;
  }
}

// Source and destination addresses, then their ports, as section 2.2 lays them out.
bool read_addresses(Cursor& c, int family, Header& h) {
  size_t n = family == AF_INET ? 4 : 16;
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport = 0;
  uint16_t dport = 0;
  if (!c.copy(src, n) || !c.copy(dst, n) || !c.be16(sport) || !c.be16(dport)) return false;
  h.src = make_addr(family, src, sport);
  h.dst = make_addr(family, dst, dport);
  return true;
}

// TLVs fill the rest of the header exactly: each (type, length, value) within it.
bool skip_tlvs(Cursor& c) {
  while (c.left() > 0) {
    uint16_t len = 0;
    if (!c.skip(1) || !c.be16(len) || !c.skip(len)) return false;  // type, length, value
  }
  return true;
}

ParseStatus parse_v2(std::string_view data, Header& out, std::string* error) {
  if (data.size() < kV2FixedLen) return ParseStatus::NeedMore;
  auto ver_cmd = static_cast<uint8_t>(data[12]);
  auto family = static_cast<uint8_t>(data[13]);
  size_t len = static_cast<size_t>(static_cast<uint8_t>(data[14]) << 8 | static_cast<uint8_t>(data[15]));
  if ((ver_cmd >> 4) != 2) return fail(error, ParseStatus::Invalid, "bad v2 version");
  if ((ver_cmd & 0x0f) > 1) return fail(error, ParseStatus::Invalid, "bad v2 command");
  bool proxy = (ver_cmd & 0x0f) == 1;
  int block = proxy ? address_block(family) : 0;  // LOCAL: the family is ignored
  if (block < 0) return fail(error, ParseStatus::Invalid, "bad v2 address family");
  if (kV2FixedLen + len > kMaxV2Bytes) return fail(error, ParseStatus::TooLarge, "v2 header over 4096 bytes");
  if (len < static_cast<size_t>(block)) return fail(error, ParseStatus::Invalid, "v2 address block too short");
  if (data.size() < kV2FixedLen + len) return ParseStatus::NeedMore;
  Header h;
  h.version = 2;
  h.length = kV2FixedLen + len;
  if (block > 0) {
    // Only here is the address block understood, so only here do TLVs have a known start.
    Cursor c(data.substr(kV2FixedLen, len));
    h.local = false;
    if (!read_addresses(c, family == kTcp4 ? AF_INET : AF_INET6, h)) {
      return fail(error, ParseStatus::Invalid, "v2 address block too short");
    }
    if (!skip_tlvs(c)) return fail(error, ParseStatus::Invalid, "v2 TLV overruns the header");
  }
  out = h;
  return ParseStatus::Done;
}

// ---- builders --------------------------------------------------------------------------------

struct Endpoint {
  int family = AF_UNSPEC;
  uint8_t addr[16] = {};  // 4 bytes for AF_INET
  uint16_t port = 0;
};

bool endpoint_of(const SockAddr* a, Endpoint& e) {
  if (a == nullptr) return false;
  if (a->family() == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a->storage);
    std::memcpy(e.addr, &in->sin_addr, 4);
    e.port = ntohs(in->sin_port);
  } else if (a->family() == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a->storage);
    std::memcpy(e.addr, &in6->sin6_addr, 16);
    e.port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  e.family = a->family();
  return true;
}

// a.b.c.d as ::ffff:a.b.c.d.
void map_to_v6(Endpoint& e) {
  if (e.family != AF_INET) return;
  std::memmove(e.addr + 12, e.addr, 4);
  std::memset(e.addr, 0, 10);
  e.addr[10] = e.addr[11] = 0xff;
  e.family = AF_INET6;
}

// Both IPv4 or both IPv6 (the IPv4 one mapped); false when either is null or not IP.
bool endpoints(const SockAddr* src, const SockAddr* dst, Endpoint& s, Endpoint& d) {
  if (!endpoint_of(src, s) || !endpoint_of(dst, d)) return false;
  if (s.family != d.family) {
    map_to_v6(s);
    map_to_v6(d);
  }
  return true;
}

std::string ip_text(const Endpoint& e) {
  char text[INET6_ADDRSTRLEN] = {0};
  inet_ntop(e.family, e.addr, text, sizeof text);
  return text;
}

void append_be16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void append_tlv(std::string& out, uint8_t type, std::string_view value) {
  out.push_back(static_cast<char>(type));
  append_be16(out, value.size());
  out.append(value);
}

// Whether a TLV carrying `value` is sent: not empty, and it fits in `budget`, which it uses up.
bool take_tlv(std::string_view value, size_t max_value, size_t& budget) {
  if (value.empty() || value.size() > max_value || kTlvHeaderLen + value.size() > budget) return false;
  budget -= kTlvHeaderLen + value.size();
  return true;
}

}  // namespace

ParseStatus parse(std::string_view data, Header& out, std::string* error) {
  if (data.empty()) return ParseStatus::NeedMore;
  if (agrees(data, kV2Signature)) return parse_v2(data, out, error);
  if (agrees(data, kV1Prefix)) {
    if (data.size() < kV1Prefix.size()) return ParseStatus::NeedMore;
    return parse_v1(data, out, error);
  }
  return fail(error, ParseStatus::Invalid, "not a PROXY protocol header");
}

void append_v1(std::string& out, const SockAddr* src, const SockAddr* dst) {
  Endpoint s;
  Endpoint d;
  if (!endpoints(src, dst, s, d)) {
    out.append("PROXY UNKNOWN\r\n");
    return;
  }
  out.append(s.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ").append(ip_text(s)).append(" ");
  out.append(ip_text(d)).append(" ").append(std::to_string(s.port)).append(" ");
  out.append(std::to_string(d.port)).append("\r\n");
}

void append_v2(std::string& out, const SockAddr* src, const SockAddr* dst, std::string_view authority,
               std::string_view alpn) {
  out.append(kV2Signature);
  Endpoint s;
  Endpoint d;
  if (!endpoints(src, dst, s, d)) {
    out.push_back(static_cast<char>(kCmdLocal));
    out.push_back('\0');  // UNSPEC
    append_be16(out, 0);
    return;
  }
  size_t n = s.family == AF_INET ? 4 : 16;
  size_t block = 2 * n + 4;
  size_t budget = kMaxV2Bytes - kV2FixedLen - block;
  bool with_alpn = take_tlv(alpn, kMaxV2Bytes, budget);
  bool with_authority = take_tlv(authority, kMaxAuthority, budget);
  size_t len = kMaxV2Bytes - kV2FixedLen - budget;
  out.push_back(static_cast<char>(kCmdProxy));
  out.push_back(static_cast<char>(s.family == AF_INET ? kTcp4 : kTcp6));
  append_be16(out, len);
  out.append(reinterpret_cast<const char*>(s.addr), n);
  out.append(reinterpret_cast<const char*>(d.addr), n);
  append_be16(out, s.port);
  append_be16(out, d.port);
  if (with_alpn) append_tlv(out, kTlvAlpn, alpn);
  if (with_authority) append_tlv(out, kTlvAuthority, authority);
}

}  // namespace epoxy::proxyproto
