// Character classes and small grammar pieces shared by the head parser (parser.cc) and the
// chunked decoder (chunked.cc). Internal to native/http: the public types are in parser.h.
//
// Classification is one table lookup per byte (no locale, no <cctype>): the rules are the
// ABNF of RFC 9110 §5.6 and RFC 9112, with the few deliberate deviations noted where used.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "parser.h"

namespace epoxy::http::syntax {

enum CharClass : uint8_t {
  kTchar = 1 << 0,       // token character (RFC 9110 §5.6.2)
  kFieldValue = 1 << 1,  // field-vchar, SP, HTAB (obs-text included; CTLs, DEL excluded)
  kTarget = 1 << 2,      // request-target byte: VCHAR except '#' (a fragment is never sent)
  kRegName = 1 << 3,     // reg-name / IPv4 (unreserved, sub-delims, '%' checked separately)
  kHex = 1 << 4,         // HEXDIG
  kQdtext = 1 << 5,      // qdtext of a quoted-string (RFC 9110 §5.6.4)
  kDigit = 1 << 6,
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  constexpr std::string_view tchar_marks = "!#$%&'*+-.^_`|~";
  constexpr std::string_view reg_marks = "-._~!$&'()*+,;=%";
  for (int c = 0; c < 256; ++c) {
    uint8_t m = 0;
    bool digit = c >= '0' && c <= '9';
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool vchar = c >= 0x21 && c <= 0x7e;
    bool obs_text = c >= 0x80;
    if (digit || alpha || tchar_marks.find(static_cast<char>(c)) != std::string_view::npos) m |= kTchar;
    if (vchar || obs_text || c == ' ' || c == '\t') m |= kFieldValue;
    if (vchar && c != '#') m |= kTarget;
    if (digit || alpha || reg_marks.find(static_cast<char>(c)) != std::string_view::npos) m |= kRegName;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) m |= kHex;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || obs_text) {
      m |= kQdtext;
    }
    if (digit) m |= kDigit;
    t[static_cast<size_t>(c)] = m;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kClasses = make_classes();

inline bool has(char c, CharClass cls) { return (kClasses[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;  // callers check kHex first
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

// ASCII case-insensitive equality; `lower_literal` must already be lowercase.
inline bool equals_ci(std::string_view s, std::string_view lower_literal) {
  if (s.size() != lower_literal.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lower(s[i]) != lower_literal[i]) return false;
  }
  return true;
}

inline bool starts_with_ci(std::string_view s, std::string_view lower_literal) {
  return s.size() >= lower_literal.size() && equals_ci(s.substr(0, lower_literal.size()), lower_literal);
}

inline std::string_view trim_ows(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_ows(s[b])) ++b;
  while (e > b && is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Index of the first byte of `s` outside class `cls`, or s.size().
inline size_t span(std::string_view s, CharClass cls) {
  size_t i = 0;
  while (i < s.size() && has(s[i], cls)) ++i;
  return i;
}

// Calls `f(element)` for each comma-separated element of a list value, OWS-trimmed. Empty
// elements are passed too (as empty views): each caller decides whether they are an error.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    f(trim_ows(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

// The reason for a byte that no rule allows: a CR gets its own (bare CR is a smuggling
// classic), everything else the caller's generic one.
inline const char* bad_char_reason(char c, const char* generic) {
  if (c == '\r') return "bare CR";
  if (c == '\0') return "NUL byte";
  return generic;
}

// One field line (RFC 9112 §5) without its CRLF: `name ":" OWS value OWS`. The name is a
// token with nothing between it and the colon; the value is field-vchars, SP and HTAB only
// (no CTL, NUL, DEL or bare CR) and is returned OWS-trimmed. A line that starts with SP or HTAB
// is obs-fold (RFC 9112 §5.2), rejected. Fills `err` (with `status`) and returns false on error.
inline bool parse_field_line(std::string_view line, int status, Header& out, ParseError& err) {
  size_t colon = span(line, kTchar);
  if (colon == line.size() || line[colon] != ':') {
    char c = colon < line.size() ? line[colon] : '\0';
    if (colon == line.size()) {
      err = {status, "field line without a colon"};
    } else if (is_ows(c)) {
      err = {status, colon == 0 ? "obs-fold (line folding)" : "whitespace before the colon"};
    } else {
      err = {status, bad_char_reason(c, "invalid character in field name")};
    }
    return false;
  }
  if (colon == 0) {
    err = {status, "empty field name"};
    return false;
  }
  std::string_view rest = line.substr(colon + 1);
  size_t bad = span(rest, kFieldValue);
  if (bad != rest.size()) {
    err = {status, bad_char_reason(rest[bad], "invalid character in field value")};
    return false;
  }
  out.name = line.substr(0, colon);
  out.value = trim_ows(rest);
  return true;
}

// Index just past the first empty line (an LF directly preceded by LF or by CRLF), scanning
// LFs from `scan_from`; 0 when there is none yet. `scan_from` is advanced to data.size() so a
// caller that appends bytes rescans only the new ones (the look-back reads at most two old
// bytes). Bare LFs count as line ends here on purpose: a head that uses them is found, and then
// rejected by the strict parse, instead of waiting for a CRLFCRLF that may never come.
// Positions before `start` are not looked back into (they precede the first line).
inline size_t find_empty_line_end(std::string_view data, size_t& scan_from, size_t start) {
  size_t i = scan_from < start ? start : scan_from;
  const char* base = data.data();
  while (i < data.size()) {
    const void* hit = std::memchr(base + i, '\n', data.size() - i);
    if (hit == nullptr) break;
    size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - base);
    if (lf >= start + 1 && base[lf - 1] == '\n') {
      scan_from = lf + 1;
      return lf + 1;
    }
    if (lf >= start + 2 && base[lf - 1] == '\r' && base[lf - 2] == '\n') {
      scan_from = lf + 1;
      return lf + 1;
    }
    i = lf + 1;
  }
  scan_from = data.size();
  return 0;
}

}  // namespace epoxy::http::syntax
