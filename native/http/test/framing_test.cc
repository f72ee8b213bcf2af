// Request body framing (RFC 9112 §6): Content-Length and Transfer-Encoding, and one case per
// rejection of note_content_length and request_framing — the rules that keep two parsers from
// seeing two different bodies (request smuggling).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::Framing;
using epoxy::http::testing::accepted;
using epoxy::http::testing::post;
using epoxy::http::testing::Rejection;
using epoxy::http::testing::rejection;

namespace {

std::string connect_with(std::string_view fields) {
  return "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n" + std::string(fields) + "\r\n";
}

}  // namespace

// ---- what is accepted ----

TEST_CASE("no body without Content-Length or Transfer-Encoding") {
  CHECK(accepted(post("")).framing == Framing::None);
}

TEST_CASE("Content-Length: decimal, leading zeros allowed") {
  auto zero = accepted(post("Content-Length: 0\r\n"));
  CHECK(zero.framing == Framing::ContentLength);
  CHECK(zero.content_length == 0);
  auto r = accepted(post("content-length: 0042\r\n"));
  CHECK(r.framing == Framing::ContentLength);
  CHECK(r.content_length == 42);
}

TEST_CASE("Content-Length up to 2^64-1") {
  CHECK(accepted(post("Content-Length: 18446744073709551615\r\n")).content_length == 18446744073709551615ULL);
}

TEST_CASE("identical duplicate Content-Length, as fields or a list (RFC 9110 §8.6)") {
  CHECK(accepted(post("Content-Length: 5\r\nContent-Length: 5\r\n")).content_length == 5);
  CHECK(accepted(post("Content-Length: 5, 5\r\n")).content_length == 5);
  CHECK(accepted(post("Content-Length: 5,05 ,5\r\n")).content_length == 5);  // same number, other spelling
}

TEST_CASE("chunked, any case, OWS tolerated") {
  CHECK(accepted(post("Transfer-Encoding: chunked\r\n")).framing == Framing::Chunked);
  CHECK(accepted(post("transfer-encoding:  CHUNKED \r\n")).framing == Framing::Chunked);
}

TEST_CASE("bytes after the head are not part of it") {
  const std::string head = post("Content-Length: 5\r\n");
  auto r = accepted(head + "hello" + "GET / HTTP/1.1\r\n");
  CHECK(r.head_len == head.size());
  CHECK(r.framing == Framing::ContentLength);
  CHECK(r.content_length == 5);
}

TEST_CASE("GET and HEAD may have a body too: framing does not depend on the method") {
  CHECK(accepted("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n").framing == Framing::ContentLength);
  CHECK(accepted("HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").framing == Framing::Chunked);
}

// ---- rejections: one case per reason ----

TEST_CASE("reject 400 'Content-Length with Transfer-Encoding' (RFC 9112 §6.1)") {
  const Rejection want{400, "Content-Length with Transfer-Encoding"};
  CHECK(rejection(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")) == want);
  CHECK(rejection(post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n")) == want);  // either order
  CHECK(rejection(post("Transfer-Encoding: gzip\r\nContent-Length: 3\r\n")) == want);     // whatever the coding
}

TEST_CASE("reject 400 'differing Content-Length values'") {
  const Rejection want{400, "differing Content-Length values"};
  CHECK(rejection(post("Content-Length: 5\r\nContent-Length: 6\r\n")) == want);  // duplicate fields
  CHECK(rejection(post("Content-Length: 5, 6\r\n")) == want);                    // a list
}

TEST_CASE("reject 400 'invalid Content-Length': not digits only") {
  const Rejection want{400, "invalid Content-Length"};
  CHECK(rejection(post("Content-Length: +5\r\n")) == want);   // a sign
  CHECK(rejection(post("Content-Length: -1\r\n")) == want);   // negative
  CHECK(rejection(post("Content-Length: 0x5\r\n")) == want);  // hex
  CHECK(rejection(post("Content-Length: 5 5\r\n")) == want);  // inner space
  CHECK(rejection(post("Content-Length: \r\n")) == want);     // empty
  CHECK(rejection(post("Content-Length: 5,\r\n")) == want);   // an empty list element
  CHECK(rejection(post("Content-Length: 5.0\r\n")) == want);
}

TEST_CASE("reject 400 'Content-Length overflow' (more than 64 bits)") {
  const Rejection want{400, "Content-Length overflow"};
  CHECK(rejection(post("Content-Length: 18446744073709551616\r\n")) == want);  // 2^64
  CHECK(rejection(post("Content-Length: 99999999999999999999\r\n")) == want);  // 20 nines
}

TEST_CASE("reject 400 'Transfer-Encoding is not a final, single chunked' (RFC 9112 §6.3)") {
  const Rejection want{400, "Transfer-Encoding is not a final, single chunked"};
  CHECK(rejection(post("Transfer-Encoding: chunked, gzip\r\n")) == want);      // chunked not last
  CHECK(rejection(post("Transfer-Encoding: gzip\r\n")) == want);               // without chunked
  CHECK(rejection(post("Transfer-Encoding: identity\r\n")) == want);           // identity is not a coding
  CHECK(rejection(post("Transfer-Encoding: xchunked\r\n")) == want);
  CHECK(rejection(post("Transfer-Encoding: chunked, chunked\r\n")) == want);   // twice in a list
  CHECK(rejection(post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")) == want);  // in two fields
  CHECK(rejection(post("Transfer-Encoding: chunked;q=1\r\n")) == want);        // chunked takes no parameters
  CHECK(rejection(post("Transfer-Encoding: ,chunked\r\n")) == want);           // an empty element
  CHECK(rejection(post("Transfer-Encoding:\r\n")) == want);                    // empty
  CHECK(rejection(post("Transfer-Encoding: \"chunked\"\r\n")) == want);        // not a token
}

TEST_CASE("reject 501 'transfer coding not implemented': another coding before the final chunked") {
  // RFC 9112 §6.1: a server that receives a coding it does not understand answers 501.
  const Rejection want{501, "transfer coding not implemented"};
  CHECK(rejection(post("Transfer-Encoding: gzip, chunked\r\n")) == want);
  CHECK(rejection(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")) == want);  // in two fields
}

TEST_CASE("reject 400 'Transfer-Encoding in an HTTP/1.0 request' (RFC 9112 §6.1)") {
  CHECK(rejection(post("Transfer-Encoding: chunked\r\n", "1.0")) ==
        Rejection{400, "Transfer-Encoding in an HTTP/1.0 request"});
}

TEST_CASE("reject 400 'CONNECT with content' (RFC 9110 §9.3.6)") {
  const Rejection want{400, "CONNECT with content"};
  CHECK(rejection(connect_with("Content-Length: 0\r\n")) == want);
  CHECK(rejection(connect_with("Transfer-Encoding: chunked\r\n")) == want);
}
