// The authority a request is for: the Host field rules of parse_request (RFC 9112 §3.2), and
// normalize_host / valid_host, which turn it into a routing key. Also idempotent().
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::idempotent;
using epoxy::http::normalize_host;
using epoxy::http::valid_host;
using epoxy::http::testing::accepted;
using epoxy::http::testing::get;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::rejection;

namespace {

std::string with_host(std::string_view host, std::string_view version = "1.1") {
  return "GET / HTTP/" + std::string(version) + "\r\nHost: " + std::string(host) + "\r\n\r\n";
}

}  // namespace

// ---- the Host field ----

TEST_CASE("HTTP/1.0 may omit Host") {
  auto r = accepted("GET / HTTP/1.0\r\n\r\n");
  CHECK(r.minor == 0);
  CHECK(r.host.empty());
  CHECK_FALSE(r.keep_alive);
}

TEST_CASE("empty Host is allowed (RFC 9112 §3.2)") {
  CHECK(accepted("GET / HTTP/1.1\r\nHost:\r\n\r\n").host.empty());
}

TEST_CASE("the host is the Host value as sent, OWS-trimmed (routing normalizes it later)") {
  CHECK(accepted(with_host("  Example.COM.:8080 ")).host == "Example.COM.:8080");
  CHECK(accepted("GET / HTTP/1.1\r\nhOST: a\r\n\r\n").host == "a");  // the name in any case
}

TEST_CASE("reject 400 'missing Host in HTTP/1.1 request'") {
  CHECK(rejection("GET / HTTP/1.1\r\n\r\n"sv) == Rejection{400, "missing Host in HTTP/1.1 request"});
  // An absolute-form target does not make up for it (RFC 9112 §3.2: a client MUST send Host).
  CHECK(rejection("GET http://a/ HTTP/1.1\r\n\r\n"sv) == Rejection{400, "missing Host in HTTP/1.1 request"});
}

TEST_CASE("reject 400 'duplicate Host'") {
  const Rejection want{400, "duplicate Host"};
  CHECK(rejection(get("Host: b.example\r\n")) == want);
  CHECK(rejection("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"sv) == want);  // even identical, even in 1.0
  CHECK(rejection("GET / HTTP/1.1\r\nHost: a\r\nhost:\r\n\r\n"sv) == want);     // even empty
}

TEST_CASE("reject 400 'invalid Host'") {
  const Rejection want{400, "invalid Host"};
  CHECK(rejection(with_host("a b")) == want);    // a space
  CHECK(rejection(with_host("u@a")) == want);    // userinfo
  CHECK(rejection(with_host("a/b")) == want);    // a path
  CHECK(rejection(with_host("a:8x")) == want);   // a bad port
  CHECK(rejection(with_host("a\\b", "1.0")) == want);  // also in HTTP/1.0
}

// ---- normalize_host ----

TEST_CASE("normalize_host: lowercase, port and one trailing dot removed") {
  CHECK(normalize_host("example.com") == "example.com");
  CHECK(normalize_host("Example.COM") == "example.com");
  CHECK(normalize_host("example.com:8080") == "example.com");
  CHECK(normalize_host("example.com.") == "example.com");
  CHECK(normalize_host("Example.com.:80") == "example.com");
  CHECK(normalize_host("example.com:") == "example.com");  // an empty port (RFC 3986 allows it)
  CHECK(normalize_host("a..") == "a.");                     // only one dot
}

TEST_CASE("normalize_host: IPv4 and bracketed IPv6 literals") {
  CHECK(normalize_host("[::1]") == "[::1]");
  CHECK(normalize_host("[::1]:8080") == "[::1]");
  CHECK(normalize_host("[2001:DB8::A]:443") == "[2001:db8::a]");
  CHECK(normalize_host("[::ffff:127.0.0.1]") == "[::ffff:127.0.0.1]");
  CHECK(normalize_host("127.0.0.1:9000") == "127.0.0.1");
}

TEST_CASE("normalize_host: reg-name characters, percent-encoding kept (lowercased)") {
  CHECK(normalize_host("xn--bcher-kva.example") == "xn--bcher-kva.example");
  CHECK(normalize_host("a%2Eb") == "a%2eb");
  CHECK(normalize_host("under_score") == "under_score");
  CHECK(normalize_host("a!$&'()*+,;=~-b") == "a!$&'()*+,;=~-b");  // sub-delims
}

TEST_CASE("normalize_host: invalid hosts give an empty key") {
  for (std::string_view bad : {""sv, "."sv, "a b"sv, "a\tb"sv, "a\0b"sv, "a\x7f" "b"sv, "u@a"sv, "a/b"sv, "a\\b"sv,
                               "a?b"sv, "a#b"sv, "a:80:80"sv, "a:123456"sv, "a:8x"sv, ":80"sv, "[::1"sv, "[]"sv,
                               "[::1]x"sv, "[zz::1]"sv, "[1.2.3.4]"sv, "caf\xe9.example"sv, "a%2"sv, "a%zz"sv,
                               "a\"b"sv, "a<b"sv, "a{b"sv}) {
    CAPTURE(bad);
    CHECK(normalize_host(bad).empty());
  }
}

TEST_CASE("valid_host: need_port requires a non-empty port (CONNECT)") {
  CHECK(valid_host("a.example"));
  CHECK_FALSE(valid_host("a.example", true));
  CHECK_FALSE(valid_host("a.example:", true));
  CHECK(valid_host("a.example:443", true));
  CHECK(valid_host("[::1]:443", true));
  CHECK_FALSE(valid_host("[::1]", true));
  CHECK_FALSE(valid_host(""));
}

TEST_CASE("idempotent: the RFC 9110 §9.2.2 methods, case-sensitive") {
  for (std::string_view m : {"GET"sv, "HEAD"sv, "OPTIONS"sv, "TRACE"sv, "PUT"sv, "DELETE"sv}) {
    CAPTURE(m);
    CHECK(idempotent(m));
  }
  for (std::string_view m : {"POST"sv, "PATCH"sv, "CONNECT"sv, "get"sv, ""sv}) {
    CAPTURE(m);
    CHECK_FALSE(idempotent(m));
  }
}
