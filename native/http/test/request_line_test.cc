// The request line (RFC 9112 §3): the RFC's examples of each request-target form, and one case
// per rejection the start line can produce (parse_request_line, parse_version, check_target).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::Framing;
using epoxy::http::testing::accepted;
using epoxy::http::testing::Fields;
using epoxy::http::testing::get;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::rejection;

namespace {

// A request line followed by a Host field: most cases here only vary the first line.
std::string with_host(std::string_view request_line, std::string_view host = "a") {
  return std::string(request_line) + "\r\nHost: " + std::string(host) + "\r\n\r\n";
}

}  // namespace

// ---- the RFC's examples ----

TEST_CASE("RFC 9112 §2.1 request: method, target, version, fields, head length") {
  const std::string s =
      "GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1 libcurl/7.64.1 OpenSSL/1.1.1b zlib/1.2.11\r\n"
      "Host: www.example.com\r\nAccept-Language: en, mi\r\n\r\n";
  auto r = accepted(s);
  CHECK(r.method == "GET");
  CHECK(r.target == "/hello.txt");
  CHECK(r.minor == 1);
  CHECK(r.framing == Framing::None);
  CHECK(r.keep_alive);
  CHECK(r.host == "www.example.com");
  CHECK(r.head_len == s.size());
  CHECK_FALSE(r.expect_continue);
  CHECK_FALSE(r.upgrade);
  CHECK(r.headers == Fields{{"User-Agent", "curl/7.64.1 libcurl/7.64.1 OpenSSL/1.1.1b zlib/1.2.11"},
                            {"Host", "www.example.com"},
                            {"Accept-Language", "en, mi"}});
}

TEST_CASE("RFC 9112 §3.2.1 origin-form: path and query, the host from Host") {
  auto r = accepted("GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
  CHECK(r.target == "/where?q=now");
  CHECK(r.host == "www.example.org");
}

TEST_CASE("RFC 9112 §3.2.2 absolute-form: the authority is the host") {
  auto r = accepted("GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
  CHECK(r.target == "http://www.example.org/pub/WWW/TheProject.html");
  CHECK(r.host == "www.example.org");
  // Scheme and host compare case-insensitively; the authority ends at '?' too; its spelling is kept.
  CHECK(accepted("GET HTTPS://WWW.example.org:8443?x HTTP/1.1\r\nHost: www.EXAMPLE.org:8443\r\n\r\n").host ==
        "WWW.example.org:8443");
}

TEST_CASE("RFC 9112 §3.2.2 absolute-form without Host in HTTP/1.0: the authority still routes") {
  auto r = accepted("GET http://www.example.org/x HTTP/1.0\r\n\r\n");
  CHECK(r.host == "www.example.org");
  CHECK(r.minor == 0);
}

TEST_CASE("RFC 9112 §3.2.3 authority-form with CONNECT") {
  auto r = accepted("CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n");
  CHECK(r.method == "CONNECT");
  CHECK(r.target == "www.example.com:80");
  CHECK(r.host == "www.example.com:80");
  CHECK(r.framing == Framing::None);
}

TEST_CASE("RFC 9110 §9.3.6 CONNECT example: the target, not Host, names the tunnel's end") {
  // The RFC's own example sends Host without the port; the target is what the proxy connects to.
  auto r = accepted("CONNECT server.example.com:80 HTTP/1.1\r\nHost: server.example.com\r\n\r\n");
  CHECK(r.host == "server.example.com:80");
  CHECK(accepted("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n").host ==
        "[2001:db8::1]:443");
}

TEST_CASE("RFC 9112 §3.2.4 asterisk-form with OPTIONS") {
  auto r = accepted("OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n");
  CHECK(r.target == "*");
  CHECK(r.host == "www.example.org:8001");
}

TEST_CASE("RFC 9112 §3.2.4 OPTIONS in absolute-form without a path") {
  // The example a proxy receives before forwarding it as "OPTIONS * HTTP/1.1".
  auto r = accepted("OPTIONS http://www.example.org:8001 HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n");
  CHECK(r.target == "http://www.example.org:8001");
  CHECK(r.host == "www.example.org:8001");
}

TEST_CASE("extension methods are tokens (RFC 9110 §9.1)") {
  CHECK(accepted("PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n").method == "PROPFIND");
  CHECK(accepted("M-SEARCH! /d HTTP/1.1\r\nHost: a\r\n\r\n").method == "M-SEARCH!");
  // Methods are case-sensitive: "get" is an extension method, not GET, and is kept as sent.
  CHECK(accepted("get / HTTP/1.1\r\nHost: a\r\n\r\n").method == "get");
}

TEST_CASE("HTTP/1.0 and HTTP/1.1 set minor") {
  CHECK(accepted("GET / HTTP/1.0\r\n\r\n").minor == 0);
  CHECK(accepted(get()).minor == 1);
}

TEST_CASE("leading empty lines (CRLF) are skipped and counted in head_len (RFC 9112 §2.2)") {
  const std::string s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = accepted(s);
  CHECK(r.method == "GET");
  CHECK(r.head_len == s.size());
}

TEST_CASE("target bytes: every VCHAR but '#' is allowed (percent-encoding is not checked)") {
  CHECK(accepted(with_host("GET /a/b;c?d=e&f=%zz!$'()*+,:@~[]{}|\\^`\" HTTP/1.1")).target ==
        "/a/b;c?d=e&f=%zz!$'()*+,:@~[]{}|\\^`\"");
}

// ---- rejections: one case per reason ----

TEST_CASE("reject 400 'invalid method': not a token, or not followed by one SP") {
  const Rejection want{400, "invalid method"};
  CHECK(rejection(with_host("GE(T / HTTP/1.1")) == want);   // non-token method
  CHECK(rejection(with_host(" GET / HTTP/1.1")) == want);   // leading space before the method
  CHECK(rejection(with_host("GET\t/ HTTP/1.1")) == want);   // HTAB as separator
  CHECK(rejection(with_host("GET")) == want);               // the line is only a method
  CHECK(rejection(with_host("G\xc9T / HTTP/1.1")) == want);  // obs-text in the method
}

TEST_CASE("reject 400 'bare CR' in the request line") {
  const Rejection want{400, "bare CR"};
  CHECK(rejection(with_host("GET /\r HTTP/1.1")) == want);  // in the target
  CHECK(rejection(with_host("GE\rT / HTTP/1.1")) == want);  // in the method
}

TEST_CASE("reject 400 'NUL byte' in the request line") {
  const Rejection want{400, "NUL byte"};
  CHECK(rejection(with_host("GET /a\0 HTTP/1.1"sv)) == want);  // in the target
  CHECK(rejection(with_host("G\0ET / HTTP/1.1"sv)) == want);   // in the method
}

TEST_CASE("reject 400 'missing HTTP version' (HTTP/0.9 request line)") {
  const Rejection want{400, "missing HTTP version"};
  CHECK(rejection(with_host("GET /")) == want);
  CHECK(rejection("GET /\r\n"sv) == want);  // a 0.9 request has no fields: rejected at the line
}

TEST_CASE("reject 400 'fragment in request-target'") {
  CHECK(rejection(with_host("GET /a#b HTTP/1.1")) == Rejection{400, "fragment in request-target"});
}

TEST_CASE("reject 400 'invalid character in request-target'") {
  const Rejection want{400, "invalid character in request-target"};
  CHECK(rejection(with_host("GET  / HTTP/1.1")) == want);        // double space after the method
  CHECK(rejection(with_host("GET /caf\xe9 HTTP/1.1")) == want);  // obs-text
  CHECK(rejection(with_host("GET /a\x7f HTTP/1.1")) == want);    // DEL
  CHECK(rejection(with_host("GET /a\tb HTTP/1.1")) == want);     // HTAB inside the target
}

TEST_CASE("reject 400 'malformed HTTP version'") {
  const Rejection want{400, "malformed HTTP version"};
  CHECK(rejection(with_host("GET / http/1.1")) == want);    // lowercase
  CHECK(rejection(with_host("GET / HTTP/1.10")) == want);   // two minor digits
  CHECK(rejection(with_host("GET / HTTP/1.1 ")) == want);   // trailing space after the version
  CHECK(rejection(with_host("GET / HTTP/1")) == want);      // no minor
  CHECK(rejection(with_host("GET / / HTTP/1.1")) == want);  // a space inside the target
}

TEST_CASE("reject 505 'HTTP version not supported': well-formed, but not 1.0 or 1.1") {
  const Rejection want{505, "HTTP version not supported"};
  CHECK(rejection(with_host("GET / HTTP/1.2")) == want);
  CHECK(rejection(with_host("GET / HTTP/2.0")) == want);
  CHECK(rejection(with_host("GET / HTTP/0.9")) == want);
  // The HTTP/2 connection preface is a request line too.
  CHECK(rejection("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"sv) == want);
}

TEST_CASE("reject 400 'CONNECT needs an authority-form target (host:port)'") {
  const Rejection want{400, "CONNECT needs an authority-form target (host:port)"};
  CHECK(rejection(with_host("CONNECT / HTTP/1.1")) == want);  // origin-form
  CHECK(rejection(with_host("CONNECT a.example HTTP/1.1", "a.example")) == want);   // no port
  CHECK(rejection(with_host("CONNECT a.example: HTTP/1.1", "a.example")) == want);  // empty port
  CHECK(rejection(with_host("CONNECT http://a.example:80/ HTTP/1.1", "a.example")) == want);
}

TEST_CASE("reject 400 'asterisk-form target is only for OPTIONS'") {
  CHECK(rejection(with_host("GET * HTTP/1.1")) == Rejection{400, "asterisk-form target is only for OPTIONS"});
}

TEST_CASE("reject 400 'request-target is neither origin-form nor http(s) absolute-form'") {
  const Rejection want{400, "request-target is neither origin-form nor http(s) absolute-form"};
  CHECK(rejection(with_host("GET a.example:80 HTTP/1.1", "a.example:80")) == want);  // authority-form with GET
  CHECK(rejection(with_host("GET ftp://a.example/ HTTP/1.1", "a.example")) == want);  // another scheme
  CHECK(rejection(with_host("OPTIONS *x HTTP/1.1")) == want);
}

TEST_CASE("reject 400 'invalid authority in request-target'") {
  const Rejection want{400, "invalid authority in request-target"};
  CHECK(rejection(with_host("GET http://u@a.example/ HTTP/1.1", "a.example")) == want);  // userinfo
  CHECK(rejection(with_host("GET http:///x HTTP/1.1", "a.example")) == want);            // empty authority
  CHECK(rejection(with_host("GET http://a.example:123456/ HTTP/1.1", "a.example")) == want);  // 6-digit port
}

TEST_CASE("reject 400 'Host differs from the request-target's authority'") {
  // RFC 9112 §3.2.2 says to ignore Host here; a backend that does not would route elsewhere.
  const Rejection want{400, "Host differs from the request-target's authority"};
  CHECK(rejection(with_host("GET http://a.example/ HTTP/1.1", "b.example")) == want);
  CHECK(rejection(with_host("GET http://a.example/ HTTP/1.1", "a.example:80")) == want);  // ports are compared too
  CHECK(rejection("GET http://a.example/ HTTP/1.1\r\nHost:\r\n\r\n"sv) == want);          // an empty Host differs
}
