// Helpers for the native/http unit tests (native/http/test/*.cc): each runs one parser entry
// point on a byte string and answers a plain struct that OWNS its strings, so a test can parse
// a temporary (get("X-A: 1\r\n")) and look at the result afterwards without dangling views.
//
// Byte strings with a NUL need the sv suffix ("a\0b"sv): a plain literal stops at the NUL.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/chunked.h"
#include "http/parser.h"

namespace epoxy::http {

// doctest prints enums as numbers; these (found by ADL) print names in failure messages.
inline doctest::String toString(ParseStatus s) {
  switch (s) {
    case ParseStatus::Incomplete: return "Incomplete";
    case ParseStatus::Done: return "Done";
    case ParseStatus::Error: return "Error";
  }
  return "?";
}

inline doctest::String toString(Framing f) {
  switch (f) {
    case Framing::None: return "None";
    case Framing::ContentLength: return "ContentLength";
    case Framing::Chunked: return "Chunked";
    case Framing::UntilClose: return "UntilClose";
  }
  return "?";
}

inline const char* kind_name(ChunkedKind k) {
  switch (k) {
    case ChunkedKind::NeedMore: return "need-more";
    case ChunkedKind::Data: return "data";
    case ChunkedKind::Meta: return "meta";
    case ChunkedKind::Trailers: return "trailers";
    case ChunkedKind::Done: return "done";
    case ChunkedKind::Error: return "error";
  }
  return "?";
}

inline doctest::String toString(ChunkedKind k) { return kind_name(k); }

namespace testing {

// Field lines as (name, value) pairs, copied out of the parsed bytes.
using Fields = std::vector<std::pair<std::string, std::string>>;

inline Fields copy_fields(const std::vector<Header>& hs) {
  Fields out;
  for (const Header& h : hs) out.emplace_back(h.name, h.value);
  return out;
}

// What a parse that failed answered, or {0, "accepted"} / {0, "incomplete"} when it did not
// fail: a test compares the whole pair, so a wrong status, a wrong reason and a parse that
// did not fail at all each print as what they are.
struct Rejection {
  int status = 0;
  std::string reason;
  bool operator==(const Rejection&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Rejection& r) {
  return os << '{' << r.status << ", \"" << r.reason << "\"}";
}

inline Rejection rejection_of(ParseStatus st, const ParseError& err) {
  if (st == ParseStatus::Done) return {0, "accepted"};
  if (st == ParseStatus::Incomplete) return {0, "incomplete"};
  return {err.status, err.reason};
}

// ---- requests ----

struct Request {
  ParseStatus status = ParseStatus::Error;
  Rejection error;
  std::string method;
  std::string target;
  int minor = 0;
  Fields headers;
  size_t head_len = 0;
  Framing framing = Framing::None;
  uint64_t content_length = 0;
  bool keep_alive = false;
  bool expect_continue = false;
  bool upgrade = false;
  std::string host;
};

inline Request parse(std::string_view bytes, const Limits& limits = {}) {
  RequestHead head;
  ParseError err;
  Request r;
  r.status = parse_request(bytes, limits, head, err);
  r.error = rejection_of(r.status, err);
  if (r.status != ParseStatus::Done) return r;
  r.method = head.method;
  r.target = head.target;
  r.minor = head.minor;
  r.headers = copy_fields(head.headers);
  r.head_len = head.head_len;
  r.framing = head.framing;
  r.content_length = head.content_length;
  r.keep_alive = head.keep_alive;
  r.expect_continue = head.expect_continue;
  r.upgrade = head.upgrade;
  r.host = head.host;
  return r;
}

// A request that must parse: fails the test (with the reason) when it does not.
inline Request accepted(std::string_view bytes, const Limits& limits = {}) {
  Request r = parse(bytes, limits);
  INFO("rejected: " << r.error);
  REQUIRE(r.status == ParseStatus::Done);
  return r;
}

inline Rejection rejection(std::string_view bytes, const Limits& limits = {}) { return parse(bytes, limits).error; }

// A GET or POST with `fields` (each ending in CRLF) after a Host field.
inline std::string get(std::string_view fields = "", std::string_view version = "1.1") {
  return "GET / HTTP/" + std::string(version) + "\r\nHost: a.example\r\n" + std::string(fields) + "\r\n";
}

inline std::string post(std::string_view fields, std::string_view version = "1.1") {
  return "POST /p HTTP/" + std::string(version) + "\r\nHost: a.example\r\n" + std::string(fields) + "\r\n";
}

// ---- responses ----

struct Response {
  ParseStatus status = ParseStatus::Error;
  Rejection error;
  int minor = 0;
  int status_code = 0;
  std::string reason;
  Fields headers;
  size_t head_len = 0;
  Framing framing = Framing::None;
  uint64_t content_length = 0;
  bool keep_alive = false;
  bool upgrade = false;
  bool tunnel = false;
};

inline Response parse_resp(std::string_view bytes, std::string_view method = "GET", const Limits& limits = {}) {
  ResponseHead head;
  ParseError err;
  Response r;
  r.status = parse_response(bytes, method, limits, head, err);
  r.error = rejection_of(r.status, err);
  if (r.status != ParseStatus::Done) return r;
  r.minor = head.minor;
  r.status_code = head.status;
  r.reason = head.reason;
  r.headers = copy_fields(head.headers);
  r.head_len = head.head_len;
  r.framing = head.framing;
  r.content_length = head.content_length;
  r.keep_alive = head.keep_alive;
  r.upgrade = head.upgrade;
  r.tunnel = head.tunnel;
  return r;
}

inline Response resp_accepted(std::string_view bytes, std::string_view method = "GET", const Limits& limits = {}) {
  Response r = parse_resp(bytes, method, limits);
  INFO("rejected: " << r.error);
  REQUIRE(r.status == ParseStatus::Done);
  return r;
}

inline Rejection resp_rejection(std::string_view bytes, std::string_view method = "GET", const Limits& limits = {}) {
  return parse_resp(bytes, method, limits).error;
}

// ---- find_head_end, as a session calls it ----

struct HeadEnd {
  size_t end = 0;      // what find_head_end answered last
  size_t calls = 0;    // how many arrivals it took
  size_t arrived = 0;  // bytes that had arrived then
};

// Calls find_head_end as `bytes` arrive `piece` bytes at a time, until it finds the end.
inline HeadEnd find_head_end_in_pieces(std::string_view bytes, size_t piece = std::numeric_limits<size_t>::max()) {
  piece = std::max<size_t>(piece, 1);
  HeadEnd r;
  size_t scan = 0;
  if (bytes.empty()) {
    r.end = find_head_end(bytes, scan);
    r.calls = 1;
    return r;
  }
  while (r.arrived < bytes.size() && r.end == 0) {
    r.arrived = bytes.size() - r.arrived <= piece ? bytes.size() : r.arrived + piece;
    r.end = find_head_end(bytes.substr(0, r.arrived), scan);
    ++r.calls;
  }
  return r;
}

// ---- the chunked decoder, as a session drives it ----

struct DecodeOptions {
  size_t piece = std::numeric_limits<size_t>::max();  // bytes per arrival
  bool splice = false;  // move chunk data around the decoder, reporting it with skip_data()
  Limits limits;
};

struct Decoded {
  ChunkedKind last = ChunkedKind::NeedMore;  // Done, Error, or NeedMore when the input ran out
  Rejection error;                           // {0, ""} unless the decoder failed
  std::string data;                          // the chunk data, de-chunked
  size_t consumed = 0;                       // bytes consumed in all (data, framing, trailers)
  Fields trailers;
  size_t forbidden = 0;
  std::string forwarded_trailers;            // append_allowed_trailers()
  std::string steps;                         // the step kinds, space-separated ("spliced" for skip_data)
};

// Plays a session that receives `in` in pieces and keeps the bytes not consumed at the front
// of its buffer (the decoder's contract), until Done, Error, or the end of the input.
inline Decoded decode(std::string_view in, const DecodeOptions& o = {}) {
  ChunkedDecoder decoder(o.limits);
  Decoded r;
  std::string buffer;
  size_t offset = 0;
  size_t piece = std::max<size_t>(o.piece, 1);
  auto note = [&](const char* step) {
    if (!r.steps.empty()) r.steps.push_back(' ');
    r.steps.append(step);
  };
  while (true) {
    if (o.splice && decoder.data_left() > 0 && !buffer.empty()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(decoder.data_left(), buffer.size()));
      r.data.append(buffer, 0, n);
      buffer.erase(0, n);
      r.consumed += n;
      decoder.skip_data(n);
      note("spliced");
      continue;
    }
    ChunkedStep step = decoder.feed(buffer);
    if (step.kind == ChunkedKind::NeedMore) {
      if (offset >= in.size()) break;
      size_t n = std::min(piece, in.size() - offset);
      buffer.append(in.substr(offset, n));
      offset += n;
      continue;
    }
    note(kind_name(step.kind));
    r.last = step.kind;
    if (step.kind == ChunkedKind::Data) r.data.append(buffer, 0, step.consumed);
    if (step.kind == ChunkedKind::Trailers) {
      r.trailers = copy_fields(decoder.trailers());  // copied now: the views die with `buffer`
      r.forbidden = decoder.forbidden_trailers();
      decoder.append_allowed_trailers(r.forwarded_trailers);
    }
    if (step.kind == ChunkedKind::Done || step.kind == ChunkedKind::Error) break;
    buffer.erase(0, step.consumed);
    r.consumed += step.consumed;
  }
  if (decoder.failed()) r.error = {decoder.error().status, decoder.error().reason};
  return r;
}

// A chunked body that must decode completely.
inline Decoded decoded(std::string_view in, const DecodeOptions& o = {}) {
  Decoded r = decode(in, o);
  INFO("steps: " << r.steps << "; error: " << r.error);
  REQUIRE(r.last == ChunkedKind::Done);
  return r;
}

inline Rejection chunked_rejection(std::string_view in, const DecodeOptions& o = {}) {
  Decoded r = decode(in, o);
  if (r.last == ChunkedKind::Done) return {0, "accepted"};
  if (r.last != ChunkedKind::Error) return {0, "incomplete"};
  return r.error;
}

}  // namespace testing
}  // namespace epoxy::http

namespace doctest {

template <>
struct StringMaker<std::pair<std::string, std::string>> {
  static String convert(const std::pair<std::string, std::string>& f) {
    std::string s = "{\"" + f.first + "\", \"" + f.second + "\"}";
    return String(s.data(), static_cast<String::size_type>(s.size()));
  }
};

template <>
struct StringMaker<epoxy::http::testing::Fields> {
  static String convert(const epoxy::http::testing::Fields& fs) {
    std::string s = "{";
    for (const auto& [name, value] : fs) {
      if (s.size() > 1) s.append(", ");
      s.append("{\"").append(name).append("\", \"").append(value).append("\"}");
    }
    s.push_back('}');
    return String(s.data(), static_cast<String::size_type>(s.size()));
  }
};

}  // namespace doctest
