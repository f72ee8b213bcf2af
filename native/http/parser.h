// epoxy's HTTP/1.1 head parser: request heads (from clients) and response heads (from
// servers), strict, zero-copy, no N-API and no allocation beyond the caller's header vector.
//
// Strict means: a message that two HTTP parsers could read two ways is rejected, never
// "repaired" and forwarded (RFC 9110/9112, plus the rules haproxy and request-smuggling
// research taught). What is rejected, and why, is listed next to parse_request and
// parse_response below; native/http/test/ has one test per rule (ctest) and
// test/http-differential.test.ts lists every case where we are stricter than Node's llhttp.
//
// Zero-copy: every string_view in a parsed head points into the `data` given to the parse
// call. The views are valid as long as the caller keeps those bytes where they are.
//
// Incremental use (the session receives bytes in pieces):
//   size_t scan = 0;                                   // per message
//   on each arrival: size_t n = find_head_end(buffered, scan);
//     n == 0 && buffered.size() <  limits.max_head  -> wait for more bytes
//     n == 0 && buffered.size() >= limits.max_head  -> parse_* reports 431 (502 for a response)
//     n >  0                                         -> parse_*(buffered, ...) once
// find_head_end looks only at bytes it has not seen (plus two bytes of look-back), so a head
// that trickles in byte by byte costs O(length), not O(length²). Calling parse_* directly on
// every arrival is also correct (it reports Incomplete, or an Error as soon as a complete line
// is invalid), just slower for large heads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace epoxy::http {

struct Limits {
  // Most bytes a head may take: leading empty lines, start line, field lines and the final
  // CRLFCRLF. Past it a request gets 431, a response 502. Also bounds a trailer section.
  size_t max_head = 16384;
  // Most field lines in a head (431 past it) or in a trailer section.
  size_t max_headers = 100;
};

// One field line. Both views point into the parsed bytes; the value has its surrounding OWS
// (SP, HTAB) removed, its inside is untouched. Names keep the sender's case.
struct Header {
  std::string_view name;
  std::string_view value;
};

// How the body after a head is delimited (RFC 9112 §6.3).
enum class Framing : uint8_t {
  None,           // no body: the next message (or the tunnel) starts right after the head
  ContentLength,  // exactly `content_length` bytes (possibly 0)
  Chunked,        // chunked transfer coding: feed the bytes to a ChunkedDecoder (chunked.h)
  UntilClose,     // responses only: everything until the server closes the connection
};

struct RequestHead {
  std::string_view method;  // a token, case-sensitive ("GET", also extension methods)
  std::string_view target;  // as sent: origin-form, absolute-form, authority-form or "*"
  int minor = 1;            // HTTP/1.<minor>: 0 or 1
  std::vector<Header> headers;  // in order, duplicates kept; cleared (capacity kept) per parse
  size_t head_len = 0;      // bytes from the start of `data` to the body, final CRLFCRLF included
  Framing framing = Framing::None;
  uint64_t content_length = 0;  // meaningful when framing == ContentLength
  bool keep_alive = true;   // 1.1 unless "Connection: close"; 1.0 only with "keep-alive"
  bool expect_continue = false;  // HTTP/1.1 and "Expect: 100-continue"
  bool upgrade = false;     // HTTP/1.1, "Connection: upgrade" and an Upgrade header field
  // The authority the request is for: the authority of an absolute-form target (a proxy must
  // use it rather than the Host field, RFC 9112 §3.2.2), the target of CONNECT, otherwise the
  // raw Host value (possibly empty, as RFC 9112 §3.2 allows). Feed it to normalize_host().
  std::string_view host;
};

struct ResponseHead {
  int minor = 1;
  int status = 0;              // 100..999
  std::string_view reason;     // possibly empty
  std::vector<Header> headers;
  size_t head_len = 0;
  Framing framing = Framing::None;
  uint64_t content_length = 0;  // the Content-Length value when one was sent (even if unused)
  bool keep_alive = true;       // false when the server closes: Connection, 1.0, UntilClose, tunnel
  bool upgrade = false;         // 101 Switching Protocols
  // The bytes after this head are no longer HTTP: a 101, or a 2xx answer to CONNECT. The
  // session switches to a byte tunnel (framing is None).
  bool tunnel = false;
};

enum class ParseStatus : uint8_t { Incomplete, Done, Error };

// What to answer when a parse fails. `status` is the response the proxy sends for a bad
// request (400, 431, 501, 505) and 502 for a bad response; `reason` is a static string for
// logs, never freed.
struct ParseError {
  int status = 0;
  const char* reason = "";
};

// Index just past the CRLFCRLF that ends the head starting at data[0], or 0 when it has not
// arrived yet. `scan_from` is the caller's cursor: 0 for a new message, then left as this
// function sets it (see the incremental contract above). Leading empty lines (CRLF) are
// skipped as parse_* skips them. A bare LF is also accepted as a line end here, so that a head
// using one is handed to parse_*, which rejects it, rather than waiting forever.
size_t find_head_end(std::string_view data, size_t& scan_from);

// Parses the request head at the start of `data` (bytes after the head are not looked at).
// Rejected with 400 unless noted:
//  - start line: anything but `method SP target SP HTTP/1.x CRLF` with single spaces; a method
//    that is not a token; target bytes outside VCHAR, or '#'; "*" other than with OPTIONS;
//    authority-form other than with CONNECT (and CONNECT with anything else); an absolute-form
//    target other than http(s)://, with userinfo ('@'), or whose authority differs from the
//    Host field (two parsers could route it two ways); a version other than HTTP/1.0 and
//    HTTP/1.1 (505 when it is well-formed "HTTP/d.d", 400 otherwise);
//  - lines: a line not ended by CRLF (a bare LF: RFC 9112 §2.2 lets a recipient accept it,
//    but a backend that does not would see a different message), a bare CR anywhere;
//    leading empty lines are skipped (CRLF only; RFC 9112 §2.2 SHOULD);
//  - field lines: see syntax::parse_field_line (token name, no whitespace before the colon,
//    no obs-fold, no NUL/CTL/DEL in values; obs-text allowed);
//  - Host: missing or repeated in HTTP/1.1, repeated in 1.0, a value normalize_host rejects;
//  - Content-Length: not 1*DIGIT (lists of identical values like "5, 5" are accepted, RFC 9110
//    §8.6), overflowing 64 bits, differing duplicates;
//  - Transfer-Encoding: in an HTTP/1.0 request; with Content-Length; chunked not last or
//    repeated; an empty or malformed element; any coding other than a lone "chunked" before the
//    final chunked ("gzip, chunked") gets 501 (RFC 9112 §6.1: not implemented) — we never
//    forward a coding we cannot frame ourselves; CONNECT with Content-Length or
//    Transfer-Encoding (CONNECT has no content);
//  - more than max_headers field lines, or a head longer than max_head: 431.
ParseStatus parse_request(std::string_view data, const Limits& limits, RequestHead& out, ParseError& err);

// Parses the response head at the start of `data`, answering a request with `request_method`.
// Every error is 502. Rules as for requests where they apply (lines, field lines,
// Content-Length, Transfer-Encoding with Content-Length, in HTTP/1.0, chunked repeated), plus:
// status line `HTTP/1.x SP 3DIGIT [SP reason] CRLF` (a missing reason is accepted; many servers
// omit it), status 100..999; a 101 without an Upgrade field.
// Framing (RFC 9112 §6.3): HEAD request, 1xx, 204, 304 -> None; 2xx to CONNECT -> None and
// tunnel; chunked last -> Chunked; Transfer-Encoding without a final chunked -> UntilClose;
// Content-Length -> ContentLength; otherwise UntilClose.
ParseStatus parse_response(std::string_view data, std::string_view request_method, const Limits& limits,
                           ResponseHead& out, ParseError& err);

// Host for routing: lowercase, port and one trailing dot removed ("Example.COM.:8080" ->
// "example.com"), IPv6 literals keep their brackets ("[::1]:80" -> "[::1]"). Empty when the
// host is empty or invalid: anything but reg-name characters (RFC 3986: unreserved,
// sub-delims, %HH) or a bracketed IPv6 literal, then an optional ":" and at most 5 digits —
// so spaces, CTLs, '@', '/', '\\', '?' and '#' are all rejected.
std::string normalize_host(std::string_view host);

// Whether normalize_host would accept `host`, without allocating. `need_port` requires a
// non-empty port (CONNECT's authority-form).
bool valid_host(std::string_view host, bool need_port = false);

// Methods that may be sent twice without harm (RFC 9110 §9.2.2).
bool idempotent(std::string_view method);

}  // namespace epoxy::http
