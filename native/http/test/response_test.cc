// Response heads (parse_response): the status line (RFC 9112 §4), the framing matrix of
// RFC 9112 §6.3 (no body for HEAD, 1xx, 204, 304; tunnels; Content-Length, chunked, close),
// and one case per rejection — every one a 502, the proxy's answer to a bad server.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::Framing;
using epoxy::http::Limits;
using epoxy::http::testing::Fields;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::resp_accepted;
using epoxy::http::testing::resp_rejection;

namespace {

// A response head: status line `HTTP/<version> <status>`, then `fields`.
std::string resp(std::string_view status, std::string_view fields = "", std::string_view version = "1.1") {
  return "HTTP/" + std::string(version) + " " + std::string(status) + "\r\n" + std::string(fields) + "\r\n";
}

// A response that must parse, and whose head is all of `s`.
epoxy::http::testing::Response whole(const std::string& s, std::string_view method = "GET") {
  auto r = resp_accepted(s, method);
  CHECK(r.head_len == s.size());
  return r;
}

}  // namespace

// ---- the status line ----

TEST_CASE("RFC 9112 §2.1 response: status line, fields, Content-Length framing") {
  const std::string s =
      "HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\nServer: Apache\r\n"
      "Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\nETag: \"34aa387-d-1568eb00\"\r\nAccept-Ranges: bytes\r\n"
      "Content-Length: 51\r\nVary: Accept-Encoding\r\nContent-Type: text/plain\r\n\r\n";
  auto r = resp_accepted(s + "Hello World! My content includes a trailing CRLF.\r\n");
  CHECK(r.status_code == 200);
  CHECK(r.reason == "OK");
  CHECK(r.minor == 1);
  CHECK(r.framing == Framing::ContentLength);
  CHECK(r.content_length == 51);
  CHECK(r.head_len == s.size());
  REQUIRE(r.headers.size() == 8);
  CHECK(r.headers[3] == std::pair<std::string, std::string>{"ETag", "\"34aa387-d-1568eb00\""});
}

TEST_CASE("status line: the reason phrase may be missing, empty, or hold SP, HTAB and obs-text") {
  auto missing = whole("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");  // many servers omit it
  CHECK(missing.status_code == 200);
  CHECK(missing.reason.empty());
  auto empty = whole("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
  CHECK(empty.status_code == 404);
  CHECK(empty.reason.empty());
  CHECK(whole(resp("500 Internal\tServer Err\xf6r", "Content-Length: 0\r\n")).reason == "Internal\tServer Err\xf6r");
}

TEST_CASE("status line: any status from 100 to 999") {
  CHECK(whole(resp("999 Odd", "Content-Length: 0\r\n")).status_code == 999);
  CHECK(whole(resp("100 Continue")).status_code == 100);
}

// ---- framing (RFC 9112 §6.3) ----

TEST_CASE("no body for a response to HEAD, whatever it says") {
  auto cl = whole(resp("200 OK", "Content-Length: 10\r\n"), "HEAD");
  CHECK(cl.framing == Framing::None);
  CHECK(cl.content_length == 10);  // still reported: the size of the GET's body
  CHECK(cl.keep_alive);
  CHECK(whole(resp("200 OK", "Transfer-Encoding: chunked\r\n"), "HEAD").framing == Framing::None);
}

TEST_CASE("no body for 1xx: 100 Continue, 103 Early Hints") {
  auto cont = whole(resp("100 Continue"), "POST");
  CHECK(cont.framing == Framing::None);
  CHECK_FALSE(cont.tunnel);
  CHECK(whole(resp("103 Early Hints", "Link: </s.css>\r\n")).framing == Framing::None);
}

TEST_CASE("101 Switching Protocols: no body, a tunnel, the connection is not reused") {
  auto r = whole(resp("101 Switching Protocols", "Connection: upgrade\r\nUpgrade: websocket\r\n"));
  CHECK(r.framing == Framing::None);
  CHECK(r.upgrade);
  CHECK(r.tunnel);
  CHECK_FALSE(r.keep_alive);
}

TEST_CASE("no body for 204 and 304, even with Content-Length") {
  CHECK(whole(resp("204 No Content", "Content-Length: 10\r\n")).framing == Framing::None);
  CHECK(whole(resp("304 Not Modified", "Content-Length: 10\r\n")).framing == Framing::None);
  CHECK(whole(resp("304 Not Modified", "Transfer-Encoding: chunked\r\n")).framing == Framing::None);
}

TEST_CASE("Content-Length framing keeps the connection") {
  auto r = whole(resp("200 OK", "Content-Length: 10\r\n"));
  CHECK(r.framing == Framing::ContentLength);
  CHECK(r.content_length == 10);
  CHECK(r.keep_alive);
}

TEST_CASE("chunked framing, also after other codings (they are the client's business)") {
  auto r = whole(resp("200 OK", "Transfer-Encoding: chunked\r\n"));
  CHECK(r.framing == Framing::Chunked);
  CHECK(r.keep_alive);
  CHECK(whole(resp("200 OK", "Transfer-Encoding: gzip, chunked\r\n")).framing == Framing::Chunked);
}

TEST_CASE("Transfer-Encoding without a final chunked: the body runs until close") {
  for (std::string_view te : {"gzip"sv, "chunked, gzip"sv}) {
    CAPTURE(te);
    auto r = whole(resp("200 OK", "Transfer-Encoding: " + std::string(te) + "\r\n"));
    CHECK(r.framing == Framing::UntilClose);
    CHECK_FALSE(r.keep_alive);
  }
}

TEST_CASE("neither Content-Length nor Transfer-Encoding: the body runs until close") {
  auto r = whole(resp("200 OK"));
  CHECK(r.framing == Framing::UntilClose);
  CHECK_FALSE(r.keep_alive);
}

TEST_CASE("2xx to CONNECT is a tunnel, its framing fields are ignored (RFC 9110 §9.3.6)") {
  auto r = whole(resp("200 Connection established"), "CONNECT");
  CHECK(r.framing == Framing::None);
  CHECK(r.tunnel);
  CHECK_FALSE(r.upgrade);
  CHECK_FALSE(r.keep_alive);
  CHECK(whole(resp("200 OK", "Content-Length: 5\r\n"), "CONNECT").framing == Framing::None);
}

TEST_CASE("4xx to CONNECT has a body") {
  auto r = whole(resp("407 Proxy Auth", "Content-Length: 3\r\n"), "CONNECT");
  CHECK(r.framing == Framing::ContentLength);
  CHECK_FALSE(r.tunnel);
}

TEST_CASE("keep-alive of responses: HTTP/1.0 closes unless keep-alive, Connection: close") {
  auto ten = whole(resp("200 OK", "Content-Length: 1\r\n", "1.0"));
  CHECK(ten.framing == Framing::ContentLength);
  CHECK_FALSE(ten.keep_alive);
  CHECK(ten.minor == 0);
  CHECK(whole(resp("200 OK", "Content-Length: 1\r\nConnection: keep-alive\r\n", "1.0")).keep_alive);
  CHECK_FALSE(whole(resp("200 OK", "Content-Length: 1\r\nConnection: close\r\n")).keep_alive);
}

TEST_CASE("response fields: kept in order, values OWS-trimmed, identical Content-Length lists") {
  auto r = whole(resp("200 OK", "Set-Cookie: a=1\r\nSet-Cookie:  b=2 \r\nContent-Length: 4, 4\r\n"));
  CHECK(r.headers == Fields{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Content-Length", "4, 4"}});
  CHECK(r.content_length == 4);
}

// ---- rejections (all 502): one case per reason ----

TEST_CASE("reject 502 'bare LF (line not ended by CRLF)' in a response") {
  const Rejection want{502, "bare LF (line not ended by CRLF)"};
  CHECK(resp_rejection("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"sv) == want);
  CHECK(resp_rejection("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"sv) == want);
}

TEST_CASE("reject 502 'malformed HTTP version' in a status line") {
  const Rejection want{502, "malformed HTTP version"};
  CHECK(resp_rejection("ICY 200 OK\r\n\r\n"sv) == want);
  CHECK(resp_rejection("http/1.1 200 OK\r\n\r\n"sv) == want);
  CHECK(resp_rejection("HTTP/1\r\n\r\n"sv) == want);
}

TEST_CASE("reject 502 'HTTP version not supported' in a status line") {
  const Rejection want{502, "HTTP version not supported"};
  CHECK(resp_rejection("HTTP/2.0 200 OK\r\n\r\n"sv) == want);
  CHECK(resp_rejection("HTTP/1.2 200 OK\r\n\r\n"sv) == want);
}

TEST_CASE("reject 502 'malformed status line'") {
  const Rejection want{502, "malformed status line"};
  CHECK(resp_rejection("HTTP/1.1 099 X\r\n\r\n"sv) == want);    // status below 100
  CHECK(resp_rejection("HTTP/1.1 20 OK\r\n\r\n"sv) == want);    // 2 digits
  CHECK(resp_rejection("HTTP/1.1 2000 OK\r\n\r\n"sv) == want);  // 4 digits
  CHECK(resp_rejection("HTTP/1.1 200OK\r\n\r\n"sv) == want);    // no SP before the reason
  CHECK(resp_rejection("HTTP/1.1\r\n\r\n"sv) == want);          // no status
  CHECK(resp_rejection("HTTP/1.1  200 OK\r\n\r\n"sv) == want);  // two spaces
}

TEST_CASE("reject 502 'invalid character in reason phrase'") {
  const Rejection want{502, "invalid character in reason phrase"};
  CHECK(resp_rejection("HTTP/1.1 200 O\x7fK\r\n\r\n"sv) == want);  // DEL
  CHECK(resp_rejection("HTTP/1.1 200 O\x01K\r\n\r\n"sv) == want);  // CTL
}

TEST_CASE("reject 502 'NUL byte' and 'bare CR' in a reason phrase") {
  CHECK(resp_rejection("HTTP/1.1 200 O\0K\r\n\r\n"sv) == Rejection{502, "NUL byte"});
  CHECK(resp_rejection("HTTP/1.1 200 O\rK\r\n\r\n"sv) == Rejection{502, "bare CR"});
}

TEST_CASE("reject 502 'invalid Content-Length', 'Content-Length overflow' in a response") {
  CHECK(resp_rejection(resp("200 OK", "Content-Length: 1x\r\n")) == Rejection{502, "invalid Content-Length"});
  CHECK(resp_rejection(resp("200 OK", "Content-Length: 18446744073709551616\r\n")) ==
        Rejection{502, "Content-Length overflow"});
}

TEST_CASE("reject 502 'differing Content-Length values' in a response") {
  CHECK(resp_rejection(resp("200 OK", "Content-Length: 1\r\nContent-Length: 2\r\n")) ==
        Rejection{502, "differing Content-Length values"});
}

TEST_CASE("reject 502 'Content-Length with Transfer-Encoding' in a response") {
  CHECK(resp_rejection(resp("200 OK", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n")) ==
        Rejection{502, "Content-Length with Transfer-Encoding"});
}

TEST_CASE("reject 502 'Transfer-Encoding in an HTTP/1.0 response'") {
  CHECK(resp_rejection(resp("200 OK", "Transfer-Encoding: chunked\r\n", "1.0")) ==
        Rejection{502, "Transfer-Encoding in an HTTP/1.0 response"});
}

TEST_CASE("reject 502 'malformed Transfer-Encoding' in a response") {
  const Rejection want{502, "malformed Transfer-Encoding"};
  CHECK(resp_rejection(resp("200 OK", "Transfer-Encoding: chunked, chunked\r\n")) == want);  // chunked twice
  CHECK(resp_rejection(resp("200 OK", "Transfer-Encoding: chunked;x=1\r\n")) == want);
  CHECK(resp_rejection(resp("200 OK", "Transfer-Encoding: gzip,,chunked\r\n")) == want);
}

TEST_CASE("reject 502 '101 without Upgrade'") {
  CHECK(resp_rejection(resp("101 Switching Protocols", "Connection: upgrade\r\n")) ==
        Rejection{502, "101 without Upgrade"});
}

TEST_CASE("reject 502 'too many header fields' in a response") {
  Limits l;
  l.max_headers = 2;
  CHECK(resp_rejection(resp("200 OK", "A: 1\r\nB: 2\r\nC: 3\r\n"), "GET", l) == Rejection{502, "too many header fields"});
  CHECK(resp_accepted(resp("200 OK", "A: 1\r\nB: 2\r\n"), "GET", l).headers.size() == 2);
}

TEST_CASE("reject 502 'response head too large'") {
  Limits l;
  l.max_head = 64;
  CHECK(resp_rejection("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'x') + "\r\n\r\n", "GET", l) ==
        Rejection{502, "response head too large"});
}

TEST_CASE("reject 502: the field-line rules of requests apply to responses") {
  auto field = [](std::string_view line) { return resp_rejection(resp("200 OK", std::string(line) + "\r\n")); };
  CHECK(field("X-A: a\r\n b") == Rejection{502, "obs-fold (line folding)"});
  CHECK(resp_rejection("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"sv) ==
        Rejection{502, "obs-fold (line folding)"});
  CHECK(field("Content-Length : 0") == Rejection{502, "whitespace before the colon"});
  CHECK(field("X-A") == Rejection{502, "field line without a colon"});
  CHECK(field(": a") == Rejection{502, "empty field name"});
  CHECK(field("X(A): a") == Rejection{502, "invalid character in field name"});
  CHECK(field("X-A: \x1b") == Rejection{502, "invalid character in field value"});
  CHECK(field("X-A: a\rb") == Rejection{502, "bare CR"});
  CHECK(field("X-A: a\0b"sv) == Rejection{502, "NUL byte"});
}
