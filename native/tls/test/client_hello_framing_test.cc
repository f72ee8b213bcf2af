// The ClientHello reader's record and handshake framing (client_hello.h): what is not TLS,
// each malformed record or ClientHello length, and the bounds — kMaxHelloBytes judged from the
// handshake header alone, kMaxInputBytes over many small records — each verdict checked at the
// byte where it must be decided.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tls/test/hello_support.h"
#include "tls/test/hellos.h"

using namespace epoxy::tls;
using namespace epoxy::tls::testing;

namespace {

// The status after feeding only the first `n` bytes of `in`, one byte at a time.
HelloStatus status_after(const Bytes& in, size_t n) {
  ClientHelloReader r;
  for (size_t i = 0; i < n && i < in.size(); ++i) r.feed(&in[i], 1);
  return r.status();
}

// A hello body with `block` as everything after compression_methods.
Bytes body_then(const Bytes& block) {
  HelloSpec s;
  s.extensions_block = false;
  return cat({hello_body(s), block});
}

HelloStatus status_of_body(const Bytes& body) { return status_of(record(handshake(body))); }

HelloStatus status_of_spec(const HelloSpec& s) { return status_of(hello_record(s)); }

const Bytes& node_message() {
  static const Bytes msg = message_of(bytes_of(kNodeTls13Hello));
  return msg;
}

}  // namespace

// ---- not TLS ----

TEST_CASE("plain text is NotTls from its first byte") {
  Bytes get = bytes_of("GET / HTTP/1.1\r\n");
  CHECK(status_of(get) == HelloStatus::NotTls);
  CHECK(status_after(get, 1) == HelloStatus::NotTls);
  CHECK(status_of(bytes_of("SSH-2.0-OpenSSH_9.2\r\n")) == HelloStatus::NotTls);
  CHECK(status_of(bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")) == HelloStatus::NotTls);
}

TEST_CASE("an SSLv2-format hello is NotTls") {
  Bytes v2 = {0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 0x07, 0x00, 0xc0};
  CHECK(status_of(v2) == HelloStatus::NotTls);
  CHECK(status_after(v2, 1) == HelloStatus::NotTls);
}

TEST_CASE("a first record of another content type is NotTls") {
  for (uint8_t type : {0, 20, 21, 23, 24, 0xff}) {
    CAPTURE(int(type));
    CHECK(status_of(record(node_message(), type)) == HelloStatus::NotTls);
  }
}

TEST_CASE("empty feeds leave the reader at NeedMore") {
  ClientHelloReader r;
  CHECK(r.feed(nullptr, 0) == HelloStatus::NeedMore);
  uint8_t b = 22;
  CHECK(r.feed(&b, 0) == HelloStatus::NeedMore);
  CHECK(r.status() == HelloStatus::NeedMore);
  CHECK(r.consumed() == 0);
  CHECK(r.feed(&b, 1) == HelloStatus::NeedMore);
  CHECK(r.consumed() == 1);
}

// ---- malformed records ----

TEST_CASE("a bad record version is Malformed as soon as its byte arrives") {
  Bytes msg = node_message();
  CHECK(status_after(record(msg, kHandshake, 0x0201), 2) == HelloStatus::Malformed);
  CHECK(status_after(record(msg, kHandshake, 0x0401), 2) == HelloStatus::Malformed);
  CHECK(status_after(record(msg, kHandshake, 0x0305), 3) == HelloStatus::Malformed);
  CHECK(status_after(record(msg, kHandshake, 0x03ff), 3) == HelloStatus::Malformed);
  CHECK(status_after(record(msg, kHandshake, 0x0304), 3) == HelloStatus::NeedMore);
}

TEST_CASE("a zero-length handshake record is Malformed, first or later") {
  CHECK(status_after(record({}), 5) == HelloStatus::Malformed);
  CHECK(status_of(cat({record({}), record(node_message())})) == HelloStatus::Malformed);
  Bytes msg = node_message();
  Bytes later = cat({record(Bytes(msg.begin(), msg.begin() + 20)), record({}), record(Bytes(msg.begin() + 20, msg.end()))});
  CHECK(status_of(later) == HelloStatus::Malformed);
}

TEST_CASE("a record longer than 2^14 bytes is Malformed from its header") {
  Bytes header = {22, 3, 1, 0x40, 0x01};  // 16385
  CHECK(status_after(header, 5) == HelloStatus::Malformed);
  CHECK(status_after(Bytes{22, 3, 1, 0xff, 0xff}, 5) == HelloStatus::Malformed);
  CHECK(status_after(Bytes{22, 3, 1, 0x40, 0x00}, 5) == HelloStatus::NeedMore);
}

TEST_CASE("a handshake message other than client_hello is Malformed at its type byte") {
  Bytes msg = node_message();
  for (uint8_t type : {0, 2, 4, 11, 0x10, 0xff}) {
    CAPTURE(int(type));
    Bytes rec = record(cat({u8(type), Bytes(msg.begin() + 1, msg.end())}));
    CHECK(status_after(rec, 5) == HelloStatus::NeedMore);
    CHECK(status_after(rec, 6) == HelloStatus::Malformed);
    CHECK(status_of(rec) == HelloStatus::Malformed);
  }
}

TEST_CASE("a non-handshake record before the hello is complete is Malformed") {
  Bytes msg = node_message();
  Bytes first = record(Bytes(msg.begin(), msg.begin() + 100));
  Bytes rest = record(Bytes(msg.begin() + 100, msg.end()));
  for (uint8_t type : {20, 21, 23, 0x80}) {
    CAPTURE(int(type));
    Bytes interleaved = cat({first, record({1}, type, 0x0303), rest});
    CHECK(status_after(interleaved, first.size()) == HelloStatus::NeedMore);
    CHECK(status_after(interleaved, first.size() + 1) == HelloStatus::Malformed);
  }
  CHECK(status_of(cat({first, bytes_of("GET / HTTP/1.1\r\n")})) == HelloStatus::Malformed);
  CHECK(status_of(cat({first, rest})) == HelloStatus::Done);
}

TEST_CASE("a later record with a bad version is Malformed") {
  Bytes msg = node_message();
  Bytes first = record(Bytes(msg.begin(), msg.begin() + 100));
  CHECK(status_of(cat({first, record(Bytes(msg.begin() + 100, msg.end()), kHandshake, 0x0200)})) ==
        HelloStatus::Malformed);
  CHECK(status_of(cat({first, record(Bytes(msg.begin() + 100, msg.end()), kHandshake, 0x0305)})) ==
        HelloStatus::Malformed);
}

// ---- malformed ClientHello ----

TEST_CASE("a session id of 33 bytes is Malformed") {
  HelloSpec s;
  s.session_id = filled(33, 1);
  CHECK(status_of_spec(s) == HelloStatus::Malformed);
  s.session_id = filled(32, 1);
  CHECK(status_of_spec(s) == HelloStatus::Done);
}

TEST_CASE("cipher suites of odd or zero length are Malformed") {
  HelloSpec s;
  s.suites = {0x13, 0x01, 0x13};
  CHECK(status_of_spec(s) == HelloStatus::Malformed);
  s.suites = {0x13};
  CHECK(status_of_spec(s) == HelloStatus::Malformed);
  s.suites = {};
  CHECK(status_of_spec(s) == HelloStatus::Malformed);
}

TEST_CASE("no compression method is Malformed") {
  HelloSpec s;
  s.compression = {};
  CHECK(status_of_spec(s) == HelloStatus::Malformed);
}

TEST_CASE("an extensions length not matching the rest of the message is Malformed") {
  Bytes exts = cat({sni_ext("a.example"), alpn_ext({"h2"})});
  CHECK(status_of_body(body_then(cat({u16(exts.size()), exts}))) == HelloStatus::Done);
  CHECK(status_of_body(body_then(cat({u16(exts.size() + 1), exts}))) == HelloStatus::Malformed);
  CHECK(status_of_body(body_then(cat({u16(exts.size() - 1), exts}))) == HelloStatus::Malformed);
  CHECK(status_of_body(body_then(cat({u16(exts.size()), exts, u8(0)}))) == HelloStatus::Malformed);
  CHECK(status_of_body(body_then(u8(0))) == HelloStatus::Malformed);  // half an extensions length
}

TEST_CASE("an extension cut short inside the block is Malformed") {
  for (const Bytes& exts : {Bytes{0x00}, Bytes{0x00, 0x0a, 0x00}, cat({u16(0x1234), u16(10), filled(3)}),
                            cat({sni_ext("a.example"), u16(21)})}) {
    CAPTURE(exts.size());
    CHECK(status_of_body(body_then(cat({u16(exts.size()), exts}))) == HelloStatus::Malformed);
  }
}

TEST_CASE("a handshake message shorter than its fields is Malformed") {
  HelloSpec s;
  Bytes body = hello_body(s);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{33}, size_t{34}, size_t{35}, size_t{40}, size_t{68}}) {
    CAPTURE(n);
    CHECK(status_of_body(Bytes(body.begin(), body.begin() + n)) == HelloStatus::Malformed);
  }
  // Length 0: the verdict comes with the handshake header.
  CHECK(status_after(record(handshake({})), 9) == HelloStatus::Malformed);
}

TEST_CASE("a session id or cipher suite length past the end of the message is Malformed") {
  Bytes start = cat({u16(0x0303), filled(32)});
  CHECK(status_of_body(cat({start, u8(32), filled(10)})) == HelloStatus::Malformed);
  CHECK(status_of_body(cat({start, u8(0), u16(40), filled(10)})) == HelloStatus::Malformed);
  CHECK(status_of_body(cat({start, u8(0), u16(2), filled(2), u8(5), u8(0)})) == HelloStatus::Malformed);
}

// ---- bounds ----

TEST_CASE("an absurd handshake length is TooLarge after the first 9 bytes") {
  Bytes start = {22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff};
  ClientHelloReader r;
  for (size_t i = 0; i + 1 < start.size(); ++i) REQUIRE(r.feed(&start[i], 1) == HelloStatus::NeedMore);
  CHECK(r.feed(&start.back(), 1) == HelloStatus::TooLarge);
  CHECK(r.consumed() == 9);
}

TEST_CASE("a 10 KiB hello with a padding extension, in 1 and 2 records") {
  Bytes msg = padded_message(10 * 1024);
  REQUIRE(msg.size() == 10 * 1024);
  for (const Bytes& in : {record(msg), reframe(msg, {6000}), reframe(msg, {5, msg.size()})}) {
    CAPTURE(in.size());
    for (const Outcome& o : {read_whole(in), read_bytewise(in), read_split_at(in, in.size() / 2)}) {
      CHECK(o.status == HelloStatus::Done);
      CHECK(o.hello.sni == "big.example");
      CHECK(o.hello.alpn == std::vector<std::string>{"h2"});
    }
  }
}

TEST_CASE("a hello of exactly kMaxHelloBytes passes, in 1 and 2 records") {
  Bytes msg = padded_message(kMaxHelloBytes);
  REQUIRE(msg.size() == kMaxHelloBytes);
  for (const Bytes& in : {record(msg), reframe(msg, {9000}), reframe(msg, {1, msg.size()})}) {
    CAPTURE(in.size());
    Outcome o = read_whole(in);
    CHECK(o.status == HelloStatus::Done);
    CHECK(o.hello.sni == "big.example");
    CHECK(read_bytewise(in).status == HelloStatus::Done);
  }
}

TEST_CASE("a hello one byte over kMaxHelloBytes is TooLarge from its handshake header") {
  Bytes msg = padded_message(kMaxHelloBytes + 1);
  REQUIRE(msg.size() == kMaxHelloBytes + 1);
  // Two records: the handshake header is bytes 6..9 of the first.
  Bytes two = reframe(msg, {9000});
  CHECK(status_after(two, 8) == HelloStatus::NeedMore);
  CHECK(status_after(two, 9) == HelloStatus::TooLarge);
  CHECK(status_of(two) == HelloStatus::TooLarge);
  // The largest record allowed, carrying all but the last byte: still the handshake length.
  Bytes full_first = reframe(msg, {kMaxHelloBytes});
  CHECK(status_after(full_first, 9) == HelloStatus::TooLarge);
  // One record would need a length of 2^14 + 1: the record limit decides first, at byte 5.
  Bytes one = record(msg);
  CHECK(status_after(one, 5) == HelloStatus::Malformed);
}

TEST_CASE("input up to kMaxInputBytes reaches a verdict, one byte more is TooLarge") {
  // One message byte per record: 6 input bytes for each, so 4096 bytes fill the input bound.
  Bytes fits = reframe(padded_message(kMaxInputBytes / 6), {1});
  REQUIRE(fits.size() == kMaxInputBytes);
  Outcome o = read_whole(fits);
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "big.example");
  CHECK(read_bytewise(fits).status == HelloStatus::Done);
  CHECK(read_whole(cat({fits, filled(100, 0x17)})).status == HelloStatus::Done);

  Bytes over = reframe(padded_message(kMaxInputBytes / 6 + 1), {1});
  REQUIRE(over.size() == kMaxInputBytes + 6);
  CHECK(status_of(over) == HelloStatus::TooLarge);
  ClientHelloReader r;
  for (size_t i = 0; i < kMaxInputBytes; ++i) REQUIRE(r.feed(&over[i], 1) == HelloStatus::NeedMore);
  CHECK(r.feed(&over[kMaxInputBytes], 1) == HelloStatus::TooLarge);
  CHECK(r.consumed() == kMaxInputBytes + 1);
}

TEST_CASE("a kMaxHelloBytes hello in one-byte records is TooLarge at the input bound") {
  Bytes tiny = reframe(padded_message(kMaxHelloBytes), {1});
  Outcome o = read_whole(tiny);
  CHECK(o.status == HelloStatus::TooLarge);
  CHECK(o.consumed == tiny.size());
  CHECK(status_after(tiny, kMaxInputBytes) == HelloStatus::NeedMore);
  CHECK(status_after(tiny, kMaxInputBytes + 1) == HelloStatus::TooLarge);
}
