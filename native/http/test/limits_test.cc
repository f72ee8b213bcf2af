// Heads that arrive in pieces and heads that are too big: find_head_end's incremental contract
// (parser.h), incomplete prefixes, and the 431 rejections of max_head and max_headers.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::find_head_end;
using epoxy::http::Limits;
using epoxy::http::ParseStatus;
using epoxy::http::testing::accepted;
using epoxy::http::testing::find_head_end_in_pieces;
using epoxy::http::testing::get;
using epoxy::http::testing::parse;
using epoxy::http::testing::parse_resp;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::rejection;

namespace {

// A request with a leading empty line and a body: the head ends just before "abc".
const std::string kPost = "\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
const size_t kPostHead = kPost.find("abc");

// A GET of exactly `n` bytes, padded with one field.
std::string head_of_size(size_t n) {
  const std::string prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  return prefix + std::string(n - prefix.size() - 4, 'x') + "\r\n\r\n";
}

std::string numbered_fields(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  return s;
}

Limits limits(size_t max_head, size_t max_headers = Limits{}.max_headers) {
  Limits l;
  l.max_head = max_head;
  l.max_headers = max_headers;
  return l;
}

}  // namespace

// ---- find_head_end ----

TEST_CASE("find_head_end with 1-, 2-, 3-, 7- and 1000-byte pieces finds the same end") {
  for (size_t piece : {1, 2, 3, 7, 1000}) {
    CAPTURE(piece);
    auto r = find_head_end_in_pieces(kPost, piece);
    CHECK(r.end == kPostHead);
    CHECK(r.arrived >= kPostHead);
  }
}

TEST_CASE("find_head_end scans each byte once: a head arriving byte by byte is found at its last byte") {
  auto r = find_head_end_in_pieces(kPost, 1);
  CHECK(r.end == kPostHead);
  CHECK(r.calls == kPostHead);
  CHECK(r.arrived == kPostHead);
}

TEST_CASE("find_head_end leaves its cursor at the end of what it scanned") {
  size_t scan = 0;
  CHECK(find_head_end("GET / HTTP/1.1\r\nHost"sv, scan) == 0);
  CHECK(scan == 20);
  // The cursor never moves back: only the new bytes (plus two of look-back) are scanned.
  CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\n"sv, scan) == 27);
}

TEST_CASE("an empty buffer is incomplete") {
  CHECK(parse(""sv).status == ParseStatus::Incomplete);
  CHECK(parse_resp(""sv).status == ParseStatus::Incomplete);
  CHECK(find_head_end_in_pieces(""sv).end == 0);
}

TEST_CASE("find_head_end waits while the head is incomplete") {
  CHECK(find_head_end_in_pieces("GET / HTTP/1.1\r\nHost: a\r\n\r"sv).end == 0);
  // Leading empty lines are not the end of a head (parse_request skips them too).
  CHECK(find_head_end_in_pieces("\r\n\r\n"sv).end == 0);
  CHECK(find_head_end_in_pieces("\r\n\r\n"sv, 1).end == 0);
}

TEST_CASE("find_head_end after skipped empty lines, across pieces") {
  const std::string s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t piece : {1, 2, 3, 5}) {
    CAPTURE(piece);
    CHECK(find_head_end_in_pieces(s, piece).end == s.size());
  }
}

TEST_CASE("find_head_end hands a bare-LF head to the parser, which rejects it") {
  const std::string lf = "GET / HTTP/1.1\nHost: a\n\nrest";
  auto r = find_head_end_in_pieces(lf, 1);
  CHECK(r.end == lf.find("rest"));
  CHECK(rejection(std::string_view(lf).substr(0, r.end)) == Rejection{400, "bare LF (line not ended by CRLF)"});
  // An LF after a CRLF also ends the head (a mixed ending), found across pieces too.
  const std::string mixed = "GET / HTTP/1.1\r\nHost: a\r\n\nrest";
  CHECK(find_head_end_in_pieces(mixed, 1).end == mixed.find("rest"));
  CHECK(find_head_end_in_pieces(mixed, 2).end == mixed.find("rest"));
}

TEST_CASE("every prefix of a valid request is incomplete, never an error") {
  for (size_t n = 0; n < kPostHead; ++n) {
    CAPTURE(n);
    CHECK(parse(std::string_view(kPost).substr(0, n)).status == ParseStatus::Incomplete);
  }
  CHECK(accepted(std::string_view(kPost).substr(0, kPostHead)).head_len == kPostHead);
}

// ---- limits ----

TEST_CASE("a head of exactly max_head bytes is accepted") {
  const std::string s = head_of_size(16384);
  REQUIRE(s.size() == 16384);
  CHECK(accepted(s).head_len == 16384);
}

TEST_CASE("reject 431 'request head too large'") {
  const Rejection want{431, "request head too large"};
  CHECK(rejection(head_of_size(16385)) == want);  // one byte more than max_head
  // An unfinished head is incomplete below max_head and 431 from it on.
  const std::string big = head_of_size(20000);
  CHECK(parse(std::string_view(big).substr(0, 16383)).status == ParseStatus::Incomplete);
  CHECK(rejection(std::string_view(big).substr(0, 16384)) == want);
  // An unfinished request line counts too.
  CHECK(rejection(std::string(16384, 'G')) == want);
  // max_head is configurable.
  CHECK(rejection(get("X-A: 12345678901234567890\r\n"), limits(40)) == want);
  CHECK(accepted(get("X-A: 1\r\n"), limits(64)).headers.size() == 2);
}

TEST_CASE("leading empty lines count towards max_head") {
  std::string crlfs;
  for (int i = 0; i < 10; ++i) crlfs += "\r\n";
  const std::string padded = crlfs + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK(accepted(padded, limits(padded.size())).head_len == padded.size());
  CHECK(rejection(padded, limits(padded.size() - 1)) == Rejection{431, "request head too large"});
}

TEST_CASE("reject 431 'too many header fields', max_headers configurable") {
  const Rejection want{431, "too many header fields"};
  CHECK(accepted(get(numbered_fields(99))).headers.size() == 100);  // 99 and Host: the default limit
  CHECK(rejection(get(numbered_fields(100))) == want);
  CHECK(rejection(get(numbered_fields(3)), limits(16384, 3)) == want);
  CHECK(accepted(get(numbered_fields(2)), limits(16384, 3)).headers.size() == 3);
}
