// The head parser: one pass over the lines of a head (memchr for each LF, one table lookup per
// byte), field values validated as they are cut, the few fields that decide framing and
// connection handling interpreted on the way, the cross-field rules checked at the end.
#include "parser.h"

#include <algorithm>
#include <cstring>

#include "syntax.h"

namespace epoxy::http {
namespace {

using syntax::has;

constexpr int kBadRequest = 400;
constexpr int kTooLarge = 431;
constexpr int kNotImplemented = 501;
constexpr int kBadGateway = 502;
constexpr int kVersionNotSupported = 505;

// What the framing- and connection-relevant fields said, gathered while the lines are read.
struct FieldFacts {
  int host_count = 0;
  std::string_view host;
  bool has_length = false;
  uint64_t length = 0;
  bool has_te = false;
  int chunked_count = 0;
  bool te_last_chunked = false;  // the last coding seen so far is chunked
  bool te_other = false;         // a coding other than chunked was listed
  bool te_malformed = false;     // an empty element, or chunked with parameters
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
};

// Bytes of empty lines (CRLF only) before the start line; RFC 9112 §2.2 asks a server to
// ignore at least one, and a client may send one after a POST body.
size_t skip_empty_lines(std::string_view data) {
  size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') i += 2;
  return i;
}

enum class LineStatus : uint8_t { Ok, Incomplete, Error };

// Cuts the line starting at `pos`: `line` without its CRLF; `pos` moves past the LF.
LineStatus take_line(std::string_view window, size_t& pos, std::string_view& line, int status, ParseError& err) {
  if (pos >= window.size()) return LineStatus::Incomplete;  // also: memchr never sees a null pointer
  const void* hit = std::memchr(window.data() + pos, '\n', window.size() - pos);
  if (hit == nullptr) return LineStatus::Incomplete;
  size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - window.data());
  if (lf == pos || window[lf - 1] != '\r') {
    err = {status, "bare LF (line not ended by CRLF)"};
    return LineStatus::Error;
  }
  line = window.substr(pos, lf - 1 - pos);
  pos = lf + 1;
  return LineStatus::Ok;
}

// 1*DIGIT into 64 bits; false on anything else, including overflow.
bool parse_decimal(std::string_view s, uint64_t& out, bool& overflow) {
  overflow = false;
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!has(c, syntax::kDigit)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      overflow = true;
      return false;
    }
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Content-Length, possibly a list, possibly repeated: every element must be 1*DIGIT and all
// must be the same number (RFC 9110 §8.6 lets a recipient accept "5, 5"; differing is fatal).
bool note_content_length(std::string_view value, int status, FieldFacts& f, ParseError& err) {
  bool ok = true;
  syntax::for_each_element(value, [&](std::string_view e) {
    if (!ok) return;
    uint64_t v = 0;
    bool overflow = false;
    if (!parse_decimal(e, v, overflow)) {
      err = {status, overflow ? "Content-Length overflow" : "invalid Content-Length"};
      ok = false;
    } else if (f.has_length && v != f.length) {
      err = {status, "differing Content-Length values"};
      ok = false;
    } else {
      f.has_length = true;
      f.length = v;
    }
  });
  return ok;
}

// Transfer-Encoding elements accumulate over repeated fields (one list, RFC 9110 §5.3).
void note_transfer_encoding(std::string_view value, FieldFacts& f) {
  f.has_te = true;
  syntax::for_each_element(value, [&](std::string_view e) {
    size_t tok = syntax::span(e, syntax::kTchar);
    if (tok == 0) {
      f.te_malformed = true;
      return;
    }
    if (syntax::equals_ci(e.substr(0, tok), "chunked")) {
      if (tok != e.size()) f.te_malformed = true;  // chunked takes no parameters
      ++f.chunked_count;
      f.te_last_chunked = true;
    } else {
      f.te_other = true;
      f.te_last_chunked = false;
    }
  });
}

void note_connection(std::string_view value, FieldFacts& f) {
  syntax::for_each_element(value, [&](std::string_view e) {
    if (syntax::equals_ci(e, "close")) f.conn_close = true;
    else if (syntax::equals_ci(e, "keep-alive")) f.conn_keep_alive = true;
    else if (syntax::equals_ci(e, "upgrade")) f.conn_upgrade = true;
  });
}

// Interprets the fields that matter to the proxy. The length switch keeps the common case (a
// field we do not care about) at one comparison.
bool note_field(const Header& h, int status, FieldFacts& f, ParseError& err) {
  switch (h.name.size()) {
    case 4:
      if (syntax::equals_ci(h.name, "host")) {
        ++f.host_count;
        f.host = h.value;
      }
      break;
    case 6:
      if (syntax::equals_ci(h.name, "expect") && syntax::equals_ci(h.value, "100-continue")) f.expect_continue = true;
      break;
    case 7:
      if (syntax::equals_ci(h.name, "upgrade")) f.has_upgrade = true;
      break;
    case 10:
      if (syntax::equals_ci(h.name, "connection")) note_connection(h.value, f);
      break;
    case 14:
      if (syntax::equals_ci(h.name, "content-length")) return note_content_length(h.value, status, f, err);
      break;
    case 17:
      if (syntax::equals_ci(h.name, "transfer-encoding")) note_transfer_encoding(h.value, f);
      break;
    default:
      break;
  }
  return true;
}

// "HTTP/1.0" or "HTTP/1.1". A well-formed other version is `unsupported_status` (505 for a
// request), anything else is `status`.
bool parse_version(std::string_view v, int status, int unsupported_status, int& minor, ParseError& err) {
  bool shaped = v.size() == 8 && v.substr(0, 5) == "HTTP/" && has(v[5], syntax::kDigit) && v[6] == '.' &&
                has(v[7], syntax::kDigit);
  if (!shaped) {
    err = {status, "malformed HTTP version"};
    return false;
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    err = {unsupported_status, "HTTP version not supported"};
    return false;
  }
  minor = v[7] - '0';
  return true;
}

// `method SP request-target SP HTTP-version`, single spaces, nothing else.
bool parse_request_line(std::string_view line, RequestHead& out, ParseError& err) {
  size_t m = syntax::span(line, syntax::kTchar);
  if (m == 0 || m == line.size() || line[m] != ' ') {
    err = {kBadRequest, syntax::bad_char_reason(m < line.size() ? line[m] : ' ', "invalid method")};
    return false;
  }
  std::string_view rest = line.substr(m + 1);
  size_t t = syntax::span(rest, syntax::kTarget);
  if (t == rest.size()) {
    err = {kBadRequest, "missing HTTP version"};
    return false;
  }
  if (t == 0 || rest[t] != ' ') {
    err = {kBadRequest, rest[t] == '#' ? "fragment in request-target"
                                       : syntax::bad_char_reason(rest[t], "invalid character in request-target")};
    return false;
  }
  out.method = line.substr(0, m);
  out.target = rest.substr(0, t);
  return parse_version(rest.substr(t + 1), kBadRequest, kVersionNotSupported, out.minor, err);
}

bool same_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (syntax::lower(a[i]) != syntax::lower(b[i])) return false;
  }
  return true;
}

// The target's form against the method (RFC 9112 §3.2), and the authority it names.
bool check_target(RequestHead& out, const FieldFacts& f, ParseError& err) {
  std::string_view t = out.target;
  if (out.method == "CONNECT") {
    if (!valid_host(t, true)) {
      err = {kBadRequest, "CONNECT needs an authority-form target (host:port)"};
      return false;
    }
    out.host = t;
    return true;
  }
  if (t == "*") {
    if (out.method != "OPTIONS") {
      err = {kBadRequest, "asterisk-form target is only for OPTIONS"};
      return false;
    }
    out.host = f.host;
    return true;
  }
  if (t[0] == '/') {
    out.host = f.host;
    return true;
  }
  size_t scheme = syntax::starts_with_ci(t, "http://") ? 7 : syntax::starts_with_ci(t, "https://") ? 8 : 0;
  if (scheme == 0) {
    err = {kBadRequest, "request-target is neither origin-form nor http(s) absolute-form"};
    return false;
  }
  std::string_view rest = t.substr(scheme);
  std::string_view authority = rest.substr(0, std::min(rest.find('/'), rest.find('?')));
  if (!valid_host(authority)) {
    err = {kBadRequest, "invalid authority in request-target"};
    return false;
  }
  // RFC 9112 §3.2.2 says to ignore Host here; a backend that does not would route elsewhere.
  if (f.host_count == 1 && !same_ci(f.host, authority)) {
    err = {kBadRequest, "Host differs from the request-target's authority"};
    return false;
  }
  out.host = authority;
  return true;
}

bool check_host(const RequestHead& out, const FieldFacts& f, ParseError& err) {
  if (f.host_count > 1) {
    err = {kBadRequest, "duplicate Host"};
    return false;
  }
  if (f.host_count == 0 && out.minor == 1) {
    err = {kBadRequest, "missing Host in HTTP/1.1 request"};
    return false;
  }
  if (!f.host.empty() && !valid_host(f.host)) {
    err = {kBadRequest, "invalid Host"};
    return false;
  }
  return true;
}

// Body framing of a request (RFC 9112 §6.1, §6.3), with every ambiguous combination refused.
bool request_framing(RequestHead& out, const FieldFacts& f, ParseError& err) {
  if (out.method == "CONNECT" && (f.has_te || f.has_length)) {
    err = {kBadRequest, "CONNECT with content"};
    return false;
  }
  if (f.has_te) {
    if (out.minor == 0) {
      err = {kBadRequest, "Transfer-Encoding in an HTTP/1.0 request"};
    } else if (f.has_length) {
      err = {kBadRequest, "Content-Length with Transfer-Encoding"};
    } else if (f.te_malformed || f.chunked_count > 1 || !f.te_last_chunked) {
      err = {kBadRequest, "Transfer-Encoding is not a final, single chunked"};
    } else if (f.te_other) {
      err = {kNotImplemented, "transfer coding not implemented"};
    } else {
      out.framing = Framing::Chunked;
      return true;
    }
    return false;
  }
  if (f.has_length) {
    out.framing = Framing::ContentLength;
    out.content_length = f.length;
  }
  return true;
}

enum class FieldsStatus : uint8_t { Done, Incomplete, Error };

// Reads field lines from `pos` up to and including the empty line that ends the head.
FieldsStatus read_fields(std::string_view window, size_t& pos, const Limits& limits, int status, int too_many_status,
                         std::vector<Header>& headers, FieldFacts& facts, ParseError& err) {
  if (headers.capacity() == 0) headers.reserve(std::min<size_t>(limits.max_headers, 32));
  while (true) {
    std::string_view line;
    LineStatus ls = take_line(window, pos, line, status, err);
    if (ls == LineStatus::Incomplete) return FieldsStatus::Incomplete;
    if (ls == LineStatus::Error) return FieldsStatus::Error;
    if (line.empty()) return FieldsStatus::Done;
    if (headers.size() >= limits.max_headers) {
      err = {too_many_status, "too many header fields"};
      return FieldsStatus::Error;
    }
    Header h;
    if (!syntax::parse_field_line(line, status, h, err)) return FieldsStatus::Error;
    headers.push_back(h);
    if (!note_field(h, status, facts, err)) return FieldsStatus::Error;
  }
}

// Incomplete while the head could still end within max_head; `too_large` afterwards.
ParseStatus incomplete(std::string_view data, const Limits& limits, int too_large, ParseError& err) {
  if (data.size() < limits.max_head) return ParseStatus::Incomplete;
  err = {too_large, too_large == kTooLarge ? "request head too large" : "response head too large"};
  return ParseStatus::Error;
}

void reset(RequestHead& out) {
  out.method = {};
  out.target = {};
  out.minor = 1;
  out.headers.clear();
  out.head_len = 0;
  out.framing = Framing::None;
  out.content_length = 0;
  out.keep_alive = true;
  out.expect_continue = false;
  out.upgrade = false;
  out.host = {};
}

void reset(ResponseHead& out) {
  out.minor = 1;
  out.status = 0;
  out.reason = {};
  out.headers.clear();
  out.head_len = 0;
  out.framing = Framing::None;
  out.content_length = 0;
  out.keep_alive = true;
  out.upgrade = false;
  out.tunnel = false;
}

// `HTTP-version SP 3DIGIT [SP reason-phrase]`.
bool parse_status_line(std::string_view line, ResponseHead& out, ParseError& err) {
  if (!parse_version(line.substr(0, 8), kBadGateway, kBadGateway, out.minor, err)) return false;
  bool shaped = line.size() >= 12 && line[8] == ' ' && line[9] >= '1' && line[9] <= '9' &&
                has(line[10], syntax::kDigit) && has(line[11], syntax::kDigit) && (line.size() == 12 || line[12] == ' ');
  if (!shaped) {
    err = {kBadGateway, "malformed status line"};
    return false;
  }
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  size_t bad = syntax::span(out.reason, syntax::kFieldValue);
  if (bad != out.reason.size()) {
    err = {kBadGateway, syntax::bad_char_reason(out.reason[bad], "invalid character in reason phrase")};
    return false;
  }
  return true;
}

bool response_framing(ResponseHead& out, std::string_view request_method, const FieldFacts& f, ParseError& err) {
  if (f.has_te) {
    const char* bad = out.minor == 0                                ? "Transfer-Encoding in an HTTP/1.0 response"
                      : f.has_length                                ? "Content-Length with Transfer-Encoding"
                      : (f.te_malformed || f.chunked_count > 1)     ? "malformed Transfer-Encoding"
                                                                    : nullptr;
    if (bad != nullptr) {
      err = {kBadGateway, bad};
      return false;
    }
  }
  if (out.status == 101 && !f.has_upgrade) {
    err = {kBadGateway, "101 without Upgrade"};
    return false;
  }
  out.content_length = f.length;
  if (out.status == 101) {
    out.upgrade = true;
    out.tunnel = true;
  } else if (request_method == "CONNECT" && out.status / 100 == 2) {
    out.tunnel = true;
  } else if (request_method == "HEAD" || out.status < 200 || out.status == 204 || out.status == 304) {
    out.framing = Framing::None;
  } else if (f.has_te) {
    // Codings before the final chunked are the client's business: the framing is still ours.
    out.framing = f.te_last_chunked ? Framing::Chunked : Framing::UntilClose;
  } else if (f.has_length) {
    out.framing = Framing::ContentLength;
  } else {
    out.framing = Framing::UntilClose;
  }
  return true;
}

bool keep_alive(int minor, const FieldFacts& f) {
  if (f.conn_close) return false;
  return minor == 1 || f.conn_keep_alive;
}

// host[:port] with host a reg-name or a bracketed IPv6 literal; `name` is the host part.
bool split_host(std::string_view s, bool need_port, std::string_view& name) {
  if (s.empty()) return false;
  size_t end = 0;
  if (s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    bool colon = false;
    for (size_t i = 1; i < close; ++i) {
      char c = s[i];
      if (c == ':') colon = true;
      else if (!has(c, syntax::kHex) && c != '.') return false;
    }
    if (!colon) return false;
    end = close + 1;
  } else {
    while (end < s.size() && s[end] != ':') {
      char c = s[end];
      if (!has(c, syntax::kRegName)) return false;
      if (c == '%') {
        if (end + 2 >= s.size() || !has(s[end + 1], syntax::kHex) || !has(s[end + 2], syntax::kHex)) return false;
        end += 3;
      } else {
        ++end;
      }
    }
    if (end == 0) return false;
  }
  name = s.substr(0, end);
  if (end == s.size()) return !need_port;
  if (s[end] != ':') return false;
  std::string_view port = s.substr(end + 1);
  if (port.size() > 5 || syntax::span(port, syntax::kDigit) != port.size()) return false;
  return !(need_port && port.empty());
}

}  // namespace

size_t find_head_end(std::string_view data, size_t& scan_from) {
  return syntax::find_empty_line_end(data, scan_from, skip_empty_lines(data));
}

ParseStatus parse_request(std::string_view data, const Limits& limits, RequestHead& out, ParseError& err) {
  reset(out);
  std::string_view window = data.substr(0, std::min(data.size(), limits.max_head));
  size_t pos = skip_empty_lines(window);
  std::string_view line;
  LineStatus ls = take_line(window, pos, line, kBadRequest, err);
  if (ls == LineStatus::Incomplete) return incomplete(data, limits, kTooLarge, err);
  if (ls == LineStatus::Error || !parse_request_line(line, out, err)) return ParseStatus::Error;

  FieldFacts facts;
  FieldsStatus fs = read_fields(window, pos, limits, kBadRequest, kTooLarge, out.headers, facts, err);
  if (fs == FieldsStatus::Incomplete) return incomplete(data, limits, kTooLarge, err);
  if (fs == FieldsStatus::Error) return ParseStatus::Error;

  if (!check_host(out, facts, err) || !check_target(out, facts, err) || !request_framing(out, facts, err)) {
    return ParseStatus::Error;
  }
  out.head_len = pos;
  out.keep_alive = keep_alive(out.minor, facts);
  // RFC 9110 §10.1.1 and §7.8: both are ignored in HTTP/1.0 requests.
  out.expect_continue = out.minor == 1 && facts.expect_continue;
  out.upgrade = out.minor == 1 && facts.conn_upgrade && facts.has_upgrade;
  return ParseStatus::Done;
}

ParseStatus parse_response(std::string_view data, std::string_view request_method, const Limits& limits,
                           ResponseHead& out, ParseError& err) {
  reset(out);
  std::string_view window = data.substr(0, std::min(data.size(), limits.max_head));
  size_t pos = skip_empty_lines(window);
  std::string_view line;
  LineStatus ls = take_line(window, pos, line, kBadGateway, err);
  if (ls == LineStatus::Incomplete) return incomplete(data, limits, kBadGateway, err);
  if (ls == LineStatus::Error || !parse_status_line(line, out, err)) return ParseStatus::Error;

  FieldFacts facts;
  FieldsStatus fs = read_fields(window, pos, limits, kBadGateway, kBadGateway, out.headers, facts, err);
  if (fs == FieldsStatus::Incomplete) return incomplete(data, limits, kBadGateway, err);
  if (fs == FieldsStatus::Error) return ParseStatus::Error;

  if (!response_framing(out, request_method, facts, err)) return ParseStatus::Error;
  out.head_len = pos;
  out.keep_alive = keep_alive(out.minor, facts) && out.framing != Framing::UntilClose && !out.tunnel;
  return ParseStatus::Done;
}

bool valid_host(std::string_view host, bool need_port) {
  std::string_view name;
  return split_host(host, need_port, name);
}

std::string normalize_host(std::string_view host) {
  std::string_view name;
  if (!split_host(host, false, name)) return {};
  if (name[0] != '[' && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = syntax::lower(c);
  return out;
}

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

}  // namespace epoxy::http
