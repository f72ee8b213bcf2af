// What the proxy changes in the heads it forwards (rewrite.h, RFC 9110 §7.6): hop-by-hop fields
// dropped (the fixed list and whatever Connection names), X-Forwarded-For extended,
// X-Forwarded-Proto set, Via added or extended, Content-Length sent once, HTTP/1.1 towards
// servers; and the responses the proxy generates itself. A forwarded head must parse again to
// the same framing: the server must never see a different body than the proxy did.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "http/rewrite.h"
#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::Framing;
using epoxy::http::generated_response;
using epoxy::http::Limits;
using epoxy::http::ParseError;
using epoxy::http::ParseStatus;
using epoxy::http::RequestHead;
using epoxy::http::RequestRewrite;
using epoxy::http::ResponseHead;
using epoxy::http::ResponseRewrite;
using epoxy::http::testing::accepted;
using epoxy::http::testing::Fields;
using epoxy::http::testing::resp_accepted;

namespace {

// The head write_request_head sends for the request head `raw` from client 192.0.2.1.
std::string forward_request(std::string_view raw, std::string_view fallback_host = "") {
  RequestHead head;
  ParseError err;
  INFO("rejected: " << err.reason);
  REQUIRE(epoxy::http::parse_request(raw, Limits{}, head, err) == ParseStatus::Done);
  RequestRewrite rw;
  rw.client_ip = "192.0.2.1";
  rw.fallback_host = fallback_host;
  std::string out;
  epoxy::http::write_request_head(head, rw, out);
  return out;
}

std::string forward_response(std::string_view raw, const ResponseRewrite& rw = {}) {
  ResponseHead head;
  ParseError err;
  INFO("rejected: " << err.reason);
  REQUIRE(epoxy::http::parse_response(raw, "GET", Limits{}, head, err) == ParseStatus::Done);
  std::string out;
  epoxy::http::write_response_head(head, rw, out);
  return out;
}

// The fields of a forwarded request or response, parsed back.
Fields request_fields(std::string_view raw, std::string_view fallback_host = "") {
  return accepted(forward_request(raw, fallback_host)).headers;
}

Fields response_fields(std::string_view raw, const ResponseRewrite& rw = {}) {
  return resp_accepted(forward_response(raw, rw)).headers;
}

}  // namespace

// ---- requests ----

TEST_CASE("rewrite: a typical request, byte for byte") {
  CHECK(forward_request("GET /a?b HTTP/1.1\r\nHost: a.example\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n") ==
        "GET /a?b HTTP/1.1\r\nHost: a.example\r\nUser-Agent: t\r\nAccept: */*\r\n"
        "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nVia: 1.1 epoxy\r\n\r\n");
}

TEST_CASE("rewrite: HTTP/1.0 requests go out as HTTP/1.1, with the fallback Host when they had none") {
  CHECK(forward_request("GET /x HTTP/1.0\r\n\r\n", "10.0.0.5:8080") ==
        "GET /x HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
        "Via: 1.1 epoxy\r\n\r\n");
  // A Host that was sent (even empty) is kept, and no fallback is added.
  CHECK(request_fields("GET /x HTTP/1.0\r\nHost: b\r\n\r\n", "10.0.0.5:8080")[0] ==
        std::pair<std::string, std::string>{"Host", "b"});
  CHECK(request_fields("GET /x HTTP/1.1\r\nHost:\r\n\r\n", "10.0.0.5:8080")[0] ==
        std::pair<std::string, std::string>{"Host", ""});
}

TEST_CASE("rewrite: X-Forwarded-For gets the client appended to the list received") {
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n")[1] ==
        std::pair<std::string, std::string>{"X-Forwarded-For", "10.1.2.3, 192.0.2.1"});
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for:\r\n\r\n")[1] ==
        std::pair<std::string, std::string>{"X-Forwarded-For", "192.0.2.1"});
}

TEST_CASE("rewrite: X-Forwarded-For over several fields keeps every one, in order") {
  // RFC 9110 §5.3: the field lines are one list; dropping one would lose a hop.
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n"
                       "\r\n")[1] ==
        std::pair<std::string, std::string>{"X-Forwarded-For", "1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.1"});
}

TEST_CASE("rewrite: X-Forwarded-Proto is ours: the client's is replaced") {
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n") ==
        Fields{{"Host", "a"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"}, {"Via", "1.1 epoxy"}});
}

TEST_CASE("rewrite: Via is added, or the received one extended where it stood") {
  CHECK(request_fields("GET / HTTP/1.1\r\nVia: 1.0 fred\r\nHost: a\r\n\r\n") ==
        Fields{{"Via", "1.0 fred, 1.1 epoxy"}, {"Host", "a"}, {"X-Forwarded-For", "192.0.2.1"},
               {"X-Forwarded-Proto", "http"}});
}

TEST_CASE("rewrite: Via over several fields: 1.1 epoxy once, after the last hop") {
  auto fields = request_fields("GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred\r\nVia: 1.1 nowhere.com\r\n\r\n");
  REQUIRE(fields.size() == 5);
  CHECK(fields[1] == std::pair<std::string, std::string>{"Via", "1.0 fred"});
  CHECK(fields[2] == std::pair<std::string, std::string>{"Via", "1.1 nowhere.com, 1.1 epoxy"});
}

TEST_CASE("rewrite: a Via that Connection names is dropped, and ours added") {
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nConnection: via\r\nVia: 1.0 fred\r\n\r\n") ==
        Fields{{"Host", "a"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"}, {"Via", "1.1 epoxy"}});
}

TEST_CASE("rewrite: hop-by-hop fields are dropped (RFC 9110 §7.6.1)") {
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                       "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\nProxy-Authenticate: Basic\r\n"
                       "Upgrade: websocket\r\nX-Kept: 1\r\n\r\n") ==
        Fields{{"Host", "a"}, {"X-Kept", "1"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"},
               {"Via", "1.1 epoxy"}});
}

TEST_CASE("rewrite: fields that Connection names are dropped, in any case, from any Connection field") {
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret , foo\r\nConnection: bar\r\n"
                       "x-secret: 1\r\nFoo: 2\r\nBAR: 3\r\nX-Kept: 4\r\n\r\n") ==
        Fields{{"Host", "a"}, {"X-Kept", "4"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"},
               {"Via", "1.1 epoxy"}});
  // More Connection fields than ConnectionTokens keeps inline: still found.
  CHECK(request_fields("GET / HTTP/1.1\r\nHost: a\r\nConnection: a\r\nConnection: b\r\nConnection: c\r\n"
                       "Connection: d\r\nConnection: e\r\nE: 1\r\nA: 2\r\n\r\n")
            .size() == 4);
}

TEST_CASE("rewrite: Connection cannot make framing fields or Host hop-by-hop") {
  // A chunked body forwarded without its Transfer-Encoding would be read by the server as the
  // next request: request smuggling. The forwarded head must frame the body as we do.
  auto chunked = accepted(forward_request(
      "POST / HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding, host\r\nTransfer-Encoding: chunked\r\n\r\n",
      "10.0.0.5"));
  CHECK(chunked.framing == Framing::Chunked);
  CHECK(chunked.host == "a");
  auto length = accepted(forward_request("POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\n"
                                         "Content-Length: 3\r\n\r\n"));
  CHECK(length.framing == Framing::ContentLength);
  CHECK(length.content_length == 3);
}

TEST_CASE("rewrite: an upgrade keeps Upgrade and says Connection: upgrade") {
  CHECK(request_fields("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n") ==
        Fields{{"Host", "a"}, {"Upgrade", "websocket"}, {"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "http"},
               {"Via", "1.1 epoxy"}, {"Connection", "upgrade"}});
}

TEST_CASE("rewrite: Content-Length is sent once, as one number") {
  for (std::string_view cl : {"Content-Length: 5, 5\r\n"sv, "Content-Length: 5\r\ncontent-length: 005\r\n"sv}) {
    CAPTURE(cl);
    auto fields = request_fields("POST / HTTP/1.1\r\nHost: a\r\n" + std::string(cl) + "\r\n");
    CHECK(fields == Fields{{"Host", "a"}, {"Content-Length", "5"}, {"X-Forwarded-For", "192.0.2.1"},
                           {"X-Forwarded-Proto", "http"}, {"Via", "1.1 epoxy"}});
  }
}

TEST_CASE("rewrite: a chunked request keeps its Transfer-Encoding") {
  auto r = accepted(forward_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(r.framing == Framing::Chunked);
}

// ---- responses ----

TEST_CASE("rewrite: a typical response, byte for byte") {
  CHECK(forward_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: s\r\n\r\n") ==
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: s\r\nVia: 1.1 epoxy\r\n\r\n");
}

TEST_CASE("rewrite: responses go out as HTTP/1.1, the reason phrase kept (or empty)") {
  CHECK(forward_response("HTTP/1.0 404 Nope\r\nContent-Length: 0\r\n\r\n").starts_with("HTTP/1.1 404 Nope\r\n"));
  CHECK(forward_response("HTTP/1.1 204\r\n\r\n").starts_with("HTTP/1.1 204 \r\n"));
}

TEST_CASE("rewrite: response hop-by-hop fields and the ones Connection names are dropped") {
  CHECK(response_fields("HTTP/1.1 200 OK\r\nConnection: close, X-Internal\r\nKeep-Alive: timeout=5\r\n"
                        "X-Internal: 1\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n") ==
        Fields{{"Content-Length", "0"}, {"Via", "1.1 epoxy"}});
}

TEST_CASE("rewrite: response Via is extended, once, after the last hop") {
  CHECK(response_fields("HTTP/1.1 200 OK\r\nVia: 1.0 a\r\nVia: 1.1 b\r\nContent-Length: 0\r\n\r\n") ==
        Fields{{"Via", "1.0 a"}, {"Via", "1.1 b, 1.1 epoxy"}, {"Content-Length", "0"}});
}

TEST_CASE("rewrite: the client connection's fate: close, HTTP/1.0 keep-alive, or nothing") {
  ResponseRewrite close;
  close.close_client = true;
  CHECK(response_fields("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close).back() ==
        std::pair<std::string, std::string>{"Connection", "close"});
  ResponseRewrite ten;
  ten.client_http10 = true;
  CHECK(response_fields("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ten).back() ==
        std::pair<std::string, std::string>{"Connection", "keep-alive"});
  CHECK(response_fields("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n") ==
        Fields{{"Content-Length", "0"}, {"Via", "1.1 epoxy"}});
}

TEST_CASE("rewrite: 101 keeps Upgrade and says Connection: upgrade") {
  CHECK(response_fields("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n") ==
        Fields{{"Upgrade", "websocket"}, {"Via", "1.1 epoxy"}, {"Connection", "upgrade"}});
}

TEST_CASE("rewrite: de-chunking for an HTTP/1.0 client drops Transfer-Encoding") {
  ResponseRewrite rw;
  rw.dechunk = true;
  rw.close_client = true;
  auto out = forward_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", rw);
  CHECK(out == "HTTP/1.1 200 OK\r\nVia: 1.1 epoxy\r\nConnection: close\r\n\r\n");
  CHECK(resp_accepted(out).framing == Framing::UntilClose);
}

TEST_CASE("rewrite: a server's Connection cannot drop the response's framing fields") {
  // The client would read the body until close while the proxy keeps the connection: the next
  // response would be read as part of this one.
  CHECK(resp_accepted(forward_response("HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n"))
            .framing == Framing::Chunked);
  CHECK(resp_accepted(forward_response("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\n"))
            .framing == Framing::ContentLength);
}

// ---- generated responses ----

TEST_CASE("generated_response: a complete response with a text body and Connection: close") {
  const std::string r = generated_response(502, "server closed the connection");
  const std::string body = "502 Bad Gateway: server closed the connection\n";
  CHECK(r == "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n"
             "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  auto parsed = resp_accepted(r);
  CHECK(parsed.status_code == 502);
  CHECK(parsed.framing == Framing::ContentLength);
  CHECK(parsed.content_length == body.size());
  CHECK(parsed.head_len + body.size() == r.size());
  CHECK_FALSE(parsed.keep_alive);
}

TEST_CASE("generated_response: the reason phrase of each status the proxy sends") {
  const std::pair<int, std::string_view> known[] = {
      {400, "Bad Request"},        {403, "Forbidden"},
      {404, "Not Found"},          {405, "Method Not Allowed"},
      {408, "Request Timeout"},    {413, "Content Too Large"},
      {414, "URI Too Long"},       {417, "Expectation Failed"},
      {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
      {501, "Not Implemented"},    {502, "Bad Gateway"},
      {503, "Service Unavailable"}, {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"}, {599, "Error"},
  };
  for (const auto& [status, reason] : known) {
    CAPTURE(status);
    auto r = resp_accepted(generated_response(status, ""));
    CHECK(r.status_code == status);
    CHECK(r.reason == reason);
  }
  // Without a detail the body is the status line's text alone.
  CHECK(generated_response(404, "").ends_with("\r\n\r\n404 Not Found\n"));
}

TEST_CASE("field_is: ASCII case-insensitive name comparison") {
  CHECK(epoxy::http::field_is("Content-Length", "content-length"));
  CHECK(epoxy::http::field_is("HOST", "host"));
  CHECK_FALSE(epoxy::http::field_is("Hosts", "host"));
  CHECK_FALSE(epoxy::http::field_is("", "host"));
}
