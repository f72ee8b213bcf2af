// The ClientHello reader (client_hello.h) on real hellos: RFC 8448's and ones captured from
// OpenSSL, Node and curl (hellos.h), fed whole, one byte at a time, at every 2-way split, and
// re-framed into records of many sizes: the verdict, SNI and ALPN never depend on the split.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tls/test/hello_support.h"
#include "tls/test/hellos.h"

using namespace epoxy::tls;
using namespace epoxy::tls::testing;

namespace {

struct Captured {
  const char* name;
  Bytes record;
  bool has_sni;
  std::string sni;
  std::vector<std::string> alpn;
};

const std::vector<Captured>& captured() {
  static const std::vector<Captured> all = {
      {"rfc8448", bytes_of(kRfc8448Hello), true, "server", {}},
      {"openssl-tls13", bytes_of(kOpensslTls13Hello), true, "api.example.com", {"h2", "http/1.1"}},
      {"openssl-tls12", bytes_of(kOpensslTls12Hello), true, "api.example.com", {"h2", "http/1.1"}},
      {"openssl-no-sni", bytes_of(kOpensslNoSniHello), false, "", {}},
      {"node-tls13", bytes_of(kNodeTls13Hello), true, "api.example.com", {"h2", "http/1.1"}},
      {"node-tls12", bytes_of(kNodeTls12Hello), true, "www.example.org", {"http/1.1", "h2", "acme-tls/1"}},
      {"curl", bytes_of(kCurlHello), true, "curl.example.net", {"h2", "http/1.1"}},
  };
  return all;
}

void check_expected(const Outcome& o, const Captured& c) {
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.has_sni == c.has_sni);
  CHECK(o.hello.sni == c.sni);
  CHECK(o.hello.alpn == c.alpn);
}

}  // namespace

TEST_CASE("RFC 8448 section 3 simple 1-RTT ClientHello record: SNI server, no ALPN") {
  Bytes rec = bytes_of(kRfc8448Hello);
  REQUIRE(rec.size() == 5 + 196);
  ClientHelloReader r;
  CHECK(r.feed(rec.data(), rec.size()) == HelloStatus::Done);
  CHECK(r.hello().has_sni);
  CHECK(r.hello().sni == "server");
  CHECK(r.hello().alpn.empty());
  CHECK(r.consumed() == rec.size());
}

TEST_CASE("captured hellos from OpenSSL, Node and curl: SNI lowercased without its dot, ALPN in order") {
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    Outcome o = read_whole(c.record);
    check_expected(o, c);
    CHECK(o.consumed == c.record.size());
  }
}

TEST_CASE("captured hellos one byte at a time: the verdict comes with the last byte, not before") {
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    ClientHelloReader r;
    for (size_t i = 0; i + 1 < c.record.size(); ++i) {
      REQUIRE(r.feed(&c.record[i], 1) == HelloStatus::NeedMore);
    }
    r.feed(&c.record.back(), 1);
    check_expected(outcome_of(r), c);
    CHECK(r.consumed() == c.record.size());
  }
}

TEST_CASE("captured hellos at every 2-way split") {
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    for (size_t at = 0; at <= c.record.size(); ++at) {
      CAPTURE(at);
      Outcome o = read_split_at(c.record, at);
      REQUIRE(o.status == HelloStatus::Done);
      REQUIRE(o.hello.sni == c.sni);
      REQUIRE(o.hello.alpn == c.alpn);
    }
  }
}

TEST_CASE("captured hellos in pieces of uneven sizes, empty feeds among them") {
  const std::vector<std::vector<size_t>> patterns = {{2}, {3}, {4, 1}, {5, 0, 4}, {7, 13, 1}, {9, 64}, {100, 0}};
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    for (const auto& p : patterns) {
      CAPTURE(p.size());
      CAPTURE(p.front());
      check_expected(read_pieces(c.record, p), c);
    }
  }
}

TEST_CASE("captured hellos re-framed into several records, each with its own header") {
  const std::vector<std::vector<size_t>> framings = {{1}, {2}, {3}, {7}, {64}, {100, 1}, {4, 1, 300}, {150, 150}};
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    Bytes msg = message_of(c.record);
    for (const auto& sizes : framings) {
      CAPTURE(sizes.front());
      Bytes records = reframe(msg, sizes);
      check_expected(read_whole(records), c);
      check_expected(read_bytewise(records), c);
      for (size_t at = 0; at <= records.size(); at += 7) check_expected(read_split_at(records, at), c);
    }
    // The last byte alone in a record of its own, and the header alone in the first.
    check_expected(read_whole(reframe(msg, {msg.size() - 1, 1})), c);
    check_expected(read_whole(reframe(msg, {4, msg.size()})), c);
  }
}

TEST_CASE("records after the first may carry any version 3.0 to 3.4") {
  Bytes msg = message_of(bytes_of(kOpensslTls13Hello));
  for (size_t version : {0x0300, 0x0301, 0x0302, 0x0303, 0x0304}) {
    CAPTURE(version);
    Bytes first = record(Bytes(msg.begin(), msg.begin() + 50), kHandshake, 0x0301);
    Bytes rest = record(Bytes(msg.begin() + 50, msg.end()), kHandshake, version);
    Outcome o = read_whole(cat({first, rest}));
    CHECK(o.status == HelloStatus::Done);
    CHECK(o.hello.sni == "api.example.com");
    CHECK(read_whole(reframe(msg, {msg.size()}, version)).status == HelloStatus::Done);
  }
}

TEST_CASE("every proper prefix of a captured hello is NeedMore") {
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    for (size_t n = 0; n < c.record.size(); ++n) {
      CAPTURE(n);
      REQUIRE(read_whole(Bytes(c.record.begin(), c.record.begin() + n)).status == HelloStatus::NeedMore);
    }
  }
}

TEST_CASE("splits from a pseudo-random sequence give the same result as one feed") {
  uint32_t seed = 12345;
  for (const Captured& c : captured()) {
    CAPTURE(c.name);
    Outcome whole = read_whole(c.record);
    for (int round = 0; round < 50; ++round) {
      std::vector<size_t> pieces;
      for (int i = 0; i < 64; ++i) {
        seed = seed * 1103515245u + 12345u;
        pieces.push_back((seed >> 16) % 40);
      }
      CHECK(same_result(read_pieces(c.record, pieces), whole));
    }
  }
}

TEST_CASE("bytes after the hello, in its record or in the same feed, are ignored and counted") {
  Bytes msg = message_of(bytes_of(kNodeTls13Hello));
  // The record is longer than the message: the next handshake bytes would follow.
  Bytes longer = record(cat({msg, filled(10, 0xee)}));
  Outcome o = read_whole(longer);
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "api.example.com");
  CHECK(o.consumed == longer.size());

  // A change_cipher_spec record right behind, in the same feed: not looked at.
  Bytes with_ccs = cat({bytes_of(kNodeTls13Hello), record({1}, 20, 0x0303)});
  o = read_whole(with_ccs);
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.consumed == with_ccs.size());
}

TEST_CASE("consumed counts whole feeds up to the verdict, and nothing after it") {
  Bytes rec = bytes_of(kOpensslTls12Hello);
  ClientHelloReader r;
  CHECK(r.feed(rec.data(), 10) == HelloStatus::NeedMore);
  CHECK(r.consumed() == 10);
  Bytes rest = cat({Bytes(rec.begin() + 10, rec.end()), filled(5, 0x17)});
  CHECK(r.feed(rest.data(), rest.size()) == HelloStatus::Done);
  CHECK(r.consumed() == rec.size() + 5);
  CHECK(r.feed(rec.data(), rec.size()) == HelloStatus::Done);
  CHECK(r.consumed() == rec.size() + 5);
  CHECK(r.hello().sni == "api.example.com");
}

TEST_CASE("after a verdict feeds are ignored and the status never changes") {
  Bytes good = bytes_of(kRfc8448Hello);
  Bytes text = bytes_of("GET / HTTP/1.1\r\n");
  ClientHelloReader done;
  done.feed(good.data(), good.size());
  CHECK(done.feed(text.data(), text.size()) == HelloStatus::Done);
  CHECK(done.status() == HelloStatus::Done);
  CHECK(done.hello().sni == "server");

  ClientHelloReader refused;
  CHECK(refused.feed(text.data(), text.size()) == HelloStatus::NotTls);
  CHECK(refused.feed(good.data(), good.size()) == HelloStatus::NotTls);
  CHECK(refused.consumed() == text.size());
  CHECK_FALSE(refused.hello().has_sni);
}

TEST_CASE("to_string names every status") {
  CHECK(std::string(to_string(HelloStatus::NeedMore)) == "need-more");
  CHECK(std::string(to_string(HelloStatus::Done)) == "done");
  CHECK(std::string(to_string(HelloStatus::NotTls)) == "not-tls");
  CHECK(std::string(to_string(HelloStatus::Malformed)) == "malformed");
  CHECK(std::string(to_string(HelloStatus::TooLarge)) == "too-large");
}
