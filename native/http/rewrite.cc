#include "rewrite.h"

#include <array>
#include <vector>

namespace epoxy::http {

namespace {

constexpr std::string_view kVia = "1.1 epoxy";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The Connection fields of a head, found once per message: their tokens name fields that are
// hop-by-hop too.
struct ConnectionTokens {
  // Up to four Connection fields are kept without allocating; with more (never seen in
  // practice) every lookup rescans the head.
  std::array<std::string_view, 4> values{};
  size_t count = 0;
  const std::vector<Header>* all = nullptr;

  explicit ConnectionTokens(const std::vector<Header>& headers) {
    for (const Header& h : headers) {
      if (!iequals(h.name, "connection")) continue;
      if (count < values.size()) {
        values[count++] = h.value;
      } else {
        all = &headers;
      }
    }
  }
  static bool lists(std::string_view v, std::string_view field) {
    while (!v.empty()) {
      size_t comma = v.find(',');
      if (iequals(trim(v.substr(0, comma)), field)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    return false;
  }
  bool names(std::string_view field) const {
    if (all) {
      for (const Header& h : *all) {
        if (iequals(h.name, "connection") && lists(h.value, field)) return true;
      }
      return false;
    }
    for (size_t i = 0; i < count; ++i) {
      if (lists(values[i], field)) return true;
    }
    return false;
  }
};

bool hop_by_hop(const ConnectionTokens& tokens, std::string_view name, bool keep_upgrade) {
  static constexpr std::array<std::string_view, 6> kAlways = {"connection", "keep-alive", "proxy-connection",
                                                              "te", "trailer", "proxy-authenticate"};
  for (std::string_view h : kAlways) {
    if (iequals(name, h)) return true;
  }
  if (iequals(name, "upgrade")) return !keep_upgrade;
  // Connection may not name the fields that frame or route the message: without them the next
  // hop would read another message (a chunked body without its Transfer-Encoding is read as
  // the next request).
  if (iequals(name, "transfer-encoding") || iequals(name, "content-length") || iequals(name, "host")) return false;
  return tokens.count > 0 && tokens.names(name);
}

// The Via field that gets our hop appended: the last one forwarded (field lines with one name
// are one list, RFC 9110 §5.3), or npos when none is and a Via field must be added.
size_t last_via(const std::vector<Header>& headers, const ConnectionTokens& tokens, bool keep_upgrade) {
  size_t last = std::string_view::npos;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (iequals(headers[i].name, "via") && !hop_by_hop(tokens, headers[i].name, keep_upgrade)) last = i;
  }
  return last;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

}  // namespace

bool field_is(std::string_view name, std::string_view lower_name) { return iequals(name, lower_name); }

void write_request_head(const RequestHead& req, const RequestRewrite& rw, std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  out.append(req.target);
  out.append(" HTTP/1.1\r\n");
  bool has_host = false;
  ConnectionTokens tokens(req.headers);
  size_t via = last_via(req.headers, tokens, req.upgrade);
  for (size_t i = 0; i < req.headers.size(); ++i) {
    const Header& h = req.headers[i];
    if (hop_by_hop(tokens, h.name, req.upgrade)) continue;
    if (iequals(h.name, "x-forwarded-for")) continue;  // extended below with this client
    if (iequals(h.name, "x-forwarded-proto")) continue;  // we know the scheme; the client does not decide it
    if (iequals(h.name, "content-length")) continue;  // sent once below, as one number
    if (iequals(h.name, "host")) has_host = true;
    if (i == via) {
      out.append(h.name).append(": ").append(h.value).append(", ").append(kVia).append("\r\n");
      continue;
    }
    append_field(out, h.name, h.value);
  }
  if (!has_host && !rw.fallback_host.empty()) append_field(out, "Host", rw.fallback_host);
  // Identical duplicates ("5, 5" or two fields) were accepted; the server sees one plain value.
  if (req.framing == Framing::ContentLength) append_field(out, "Content-Length", std::to_string(req.content_length));
  // Every X-Forwarded-For line received, in order (one list), then this client.
  out.append("X-Forwarded-For: ");
  for (const Header& h : req.headers) {
    if (iequals(h.name, "x-forwarded-for") && !h.value.empty() && !hop_by_hop(tokens, h.name, req.upgrade)) {
      out.append(h.value).append(", ");
    }
  }
  out.append(rw.client_ip).append("\r\n");
  out.append("X-Forwarded-Proto: http\r\n");
  if (via == std::string_view::npos) append_field(out, "Via", kVia);
  if (req.upgrade) out.append("Connection: upgrade\r\n");
  out.append("\r\n");
}

void write_response_head(const ResponseHead& resp, const ResponseRewrite& rw, std::string& out) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(resp.status));
  out.push_back(' ');
  out.append(resp.reason);
  out.append("\r\n");
  ConnectionTokens tokens(resp.headers);
  size_t via = last_via(resp.headers, tokens, resp.upgrade);
  for (size_t i = 0; i < resp.headers.size(); ++i) {
    const Header& h = resp.headers[i];
    if (hop_by_hop(tokens, h.name, resp.upgrade)) continue;
    if (rw.dechunk && iequals(h.name, "transfer-encoding")) continue;
    if (i == via) {
      out.append(h.name).append(": ").append(h.value).append(", ").append(kVia).append("\r\n");
      continue;
    }
    append_field(out, h.name, h.value);
  }
  if (via == std::string_view::npos) append_field(out, "Via", kVia);
  if (resp.upgrade) {
    out.append("Connection: upgrade\r\n");
  } else if (rw.close_client) {
    out.append("Connection: close\r\n");
  } else if (rw.client_http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

std::string generated_response(int status, std::string_view detail) {
  std::string body = std::to_string(status);
  body.push_back(' ');
  body.append(reason_phrase(status));
  if (!detail.empty()) body.append(": ").append(detail);
  body.push_back('\n');
  std::string out = "HTTP/1.1 ";
  out.append(std::to_string(status)).push_back(' ');
  out.append(reason_phrase(status)).append("\r\n");
  out.append("Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

}  // namespace epoxy::http
