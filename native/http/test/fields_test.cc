// Field lines (RFC 9112 §5, RFC 9110 §5) and line endings (RFC 9112 §2.2) in request heads:
// what a field line may hold, one case per rejection of syntax::parse_field_line and of
// take_line, and the connection-handling fields (Connection, Expect, Upgrade).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::ParseStatus;
using epoxy::http::testing::accepted;
using epoxy::http::testing::Fields;
using epoxy::http::testing::get;
using epoxy::http::testing::parse;
using epoxy::http::testing::post;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::rejection;

namespace {

// The fields after the Host that get() puts first.
Fields fields_after_host(std::string_view fields) {
  Fields all = accepted(get(fields)).headers;
  REQUIRE(!all.empty());
  return Fields(all.begin() + 1, all.end());
}

}  // namespace

// ---- what is accepted ----

TEST_CASE("RFC 9110 §5.5 field values: OWS trimmed, inner whitespace and obs-text kept") {
  CHECK(fields_after_host("X-A:  a \t b\t \r\nX-B:\r\nX-C: caf\xe9\r\nX-D:1\r\n") ==
        Fields{{"X-A", "a \t b"}, {"X-B", ""}, {"X-C", "caf\xe9"}, {"X-D", "1"}});
}

TEST_CASE("field names keep their case, duplicates are kept in order") {
  CHECK(fields_after_host("x-Y: 1\r\nX-y: 2\r\n") == Fields{{"x-Y", "1"}, {"X-y", "2"}});
}

TEST_CASE("RFC 9110 §5.3 example: a list split over field lines stays as sent, in order") {
  CHECK(fields_after_host("Example-Field: Foo, Bar\r\nExample-Field: Baz\r\n") ==
        Fields{{"Example-Field", "Foo, Bar"}, {"Example-Field", "Baz"}});
}

TEST_CASE("RFC 9110 §5.6 values are not interpreted: quoted strings, commas, semicolons kept") {
  CHECK(fields_after_host("Cache-Control: private, community=\"UCI\"\r\nX-Q: \"a\\\"b\" ; q=0.5\r\n") ==
        Fields{{"Cache-Control", "private, community=\"UCI\""}, {"X-Q", "\"a\\\"b\" ; q=0.5"}});
}

TEST_CASE("RFC 9110 §5.6.2 field names: every tchar is allowed") {
  CHECK(fields_after_host("!#$%&'*+-.^_`|~09azAZ: v\r\n") == Fields{{"!#$%&'*+-.^_`|~09azAZ", "v"}});
}

// ---- field-line rejections: one case per reason ----

TEST_CASE("reject 400 'obs-fold (line folding)' (RFC 9112 §5.2)") {
  const Rejection want{400, "obs-fold (line folding)"};
  CHECK(rejection(get("X-A: a\r\n b\r\n")) == want);
  CHECK(rejection(get("X-A: a\r\n\tb\r\n")) == want);                    // with HTAB
  CHECK(rejection("GET / HTTP/1.1\r\n Host: a\r\n\r\n"sv) == want);       // whitespace before the first field line
}

TEST_CASE("reject 400 'whitespace before the colon' (RFC 9112 §5.1)") {
  const Rejection want{400, "whitespace before the colon"};
  CHECK(rejection(get("X-A : a\r\n")) == want);
  CHECK(rejection(get("X-A\t: a\r\n")) == want);                 // HTAB before the colon
  CHECK(rejection(post("Content-Length : 5\r\n")) == want);      // the smuggling classic
  CHECK(rejection(post("Transfer-Encoding : chunked\r\n")) == want);
}

TEST_CASE("reject 400 'field line without a colon'") {
  CHECK(rejection(get("X-A\r\n")) == Rejection{400, "field line without a colon"});
}

TEST_CASE("reject 400 'empty field name'") {
  CHECK(rejection(get(": a\r\n")) == Rejection{400, "empty field name"});
}

TEST_CASE("reject 400 'invalid character in field name'") {
  const Rejection want{400, "invalid character in field name"};
  CHECK(rejection(get("X(A): a\r\n")) == want);    // non-token
  CHECK(rejection(get("X-\xe9: a\r\n")) == want);  // obs-text
  CHECK(rejection(get("X\x7f: a\r\n")) == want);   // DEL
}

TEST_CASE("reject 400 'invalid character in field value': CTLs and DEL") {
  const Rejection want{400, "invalid character in field value"};
  CHECK(rejection(get("X-A: a\x01" "b\r\n")) == want);  // CTL 0x01
  CHECK(rejection(get("X-A: a\x0b" "b\r\n")) == want);  // VT
  CHECK(rejection(get("X-A: \x1b[31m\r\n")) == want);   // ESC
  CHECK(rejection(get("X-A: a\x7f" "b\r\n")) == want);  // DEL
}

TEST_CASE("reject 400 'NUL byte' in a field line") {
  const Rejection want{400, "NUL byte"};
  CHECK(rejection(get("X-A: a\0b\r\n"sv)) == want);  // in the value
  CHECK(rejection(get("X-\0A: a\r\n"sv)) == want);   // in the name
}

TEST_CASE("reject 400 'bare CR' in a field line") {
  const Rejection want{400, "bare CR"};
  CHECK(rejection(get("X-A: a\rb\r\n")) == want);  // in the value
  CHECK(rejection(get("X-A: a\r\r\n")) == want);   // at the end of the value
  CHECK(rejection(get("X\rA: a\r\n")) == want);    // in the name
}

TEST_CASE("reject 400 'bare LF (line not ended by CRLF)' (RFC 9112 §2.2)") {
  const Rejection want{400, "bare LF (line not ended by CRLF)"};
  CHECK(rejection("GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"sv) == want);  // ending a field line
  CHECK(rejection("GET / HTTP/1.1\nHost: a\r\n\r\n"sv) == want);            // ending the request line
  CHECK(rejection("GET / HTTP/1.1\r\nHost: a\r\n\n"sv) == want);            // as the final empty line
  CHECK(rejection("GET / HTTP/1.1\nHost: a\n\n"sv) == want);                // throughout
  CHECK(rejection("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"sv) == want);        // before the request line
  CHECK(rejection("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"sv) == want);    // after a skipped empty line
}

TEST_CASE("an invalid complete line is reported before the head is complete") {
  CHECK(rejection("GET / HTTP/1.1\r\nX-A : a\r\nHost: a\r\n"sv) == Rejection{400, "whitespace before the colon"});
  CHECK(parse("GET / HTTP/1.1\r\nX-A: a\r\nHost: a\r\n"sv).status == ParseStatus::Incomplete);
}

// ---- connection handling fields ----

TEST_CASE("keep-alive: HTTP/1.1 by default, unless Connection lists close") {
  CHECK(accepted(get()).keep_alive);
  CHECK_FALSE(accepted(get("Connection: close\r\n")).keep_alive);
  CHECK_FALSE(accepted(get("Connection: foo, CLOSE\r\n")).keep_alive);             // in a list, any case
  CHECK_FALSE(accepted(get("Connection: foo\r\nConnection: Close\r\n")).keep_alive);  // in a second field
  CHECK_FALSE(accepted(get("Connection: keep-alive, close\r\n")).keep_alive);      // close wins
}

TEST_CASE("keep-alive: HTTP/1.0 only with Connection: keep-alive") {
  CHECK_FALSE(accepted(get("", "1.0")).keep_alive);
  CHECK(accepted(get("Connection: Keep-Alive\r\n", "1.0")).keep_alive);
  CHECK(accepted(get("Connection: x ,keep-alive\r\n", "1.0")).keep_alive);  // in a list
  CHECK_FALSE(accepted(get("Connection: keep-alive-ish\r\n", "1.0")).keep_alive);  // whole elements only
}

TEST_CASE("Expect: 100-continue in HTTP/1.1, ignored in 1.0 (RFC 9110 §10.1.1)") {
  CHECK(accepted(post("Content-Length: 3\r\nExpect: 100-Continue\r\n")).expect_continue);
  CHECK_FALSE(accepted(post("Content-Length: 3\r\nExpect: 100-continue\r\n", "1.0")).expect_continue);
  CHECK_FALSE(accepted(post("Content-Length: 3\r\nExpect: something\r\n")).expect_continue);
}

TEST_CASE("upgrade needs Connection: upgrade and an Upgrade field, in HTTP/1.1") {
  CHECK(accepted(get("Connection: Upgrade\r\nUpgrade: websocket\r\n")).upgrade);
  CHECK(accepted(get("Connection: keep-alive, upgrade\r\nUpgrade: websocket\r\n")).upgrade);
  CHECK_FALSE(accepted(get("Upgrade: websocket\r\n")).upgrade);
  CHECK_FALSE(accepted(get("Connection: upgrade\r\n")).upgrade);
  CHECK_FALSE(accepted(get("Connection: upgrade\r\nUpgrade: websocket\r\n", "1.0")).upgrade);
}
