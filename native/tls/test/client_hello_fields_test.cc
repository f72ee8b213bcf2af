// What the reader takes from a ClientHello it accepts (client_hello.h): the server_name
// normalization and its limits, ALPN order and kMaxAlpn, hellos without SNI, ALPN or
// extensions at all, unknown extensions; and the rejections of each field's content.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "tls/test/hello_support.h"

using namespace epoxy::tls;
using namespace epoxy::tls::testing;

namespace {

Outcome read_with(std::vector<Bytes> extensions) {
  HelloSpec s;
  s.extensions = std::move(extensions);
  Outcome o = read_whole(hello_record(s));
  // The same hello fed one byte at a time must agree, whatever the verdict.
  CHECK(same_result(read_bytewise(hello_record(s)), o));
  return o;
}

Outcome read_sni(const std::string& name) { return read_with({sni_ext(name)}); }

}  // namespace

// ---- accepted ----

TEST_CASE("a hello with neither SNI nor ALPN is Done with has_sni false") {
  Outcome o = read_with({ext(10, cat({u16(2), u16(0x1d)})), ext(13, cat({u16(2), u16(0x0804)}))});
  CHECK(o.status == HelloStatus::Done);
  CHECK_FALSE(o.hello.has_sni);
  CHECK(o.hello.sni.empty());
  CHECK(o.hello.alpn.empty());
}

TEST_CASE("a hello that ends after compression_methods, without an extensions block, is Done") {
  HelloSpec s;
  s.extensions_block = false;
  Outcome o = read_whole(hello_record(s));
  CHECK(o.status == HelloStatus::Done);
  CHECK_FALSE(o.hello.has_sni);
}

TEST_CASE("an empty extensions block is Done") {
  Outcome o = read_with({});
  CHECK(o.status == HelloStatus::Done);
  CHECK_FALSE(o.hello.has_sni);
}

TEST_CASE("an empty session id and the smallest cipher suite list are accepted") {
  HelloSpec s;
  s.session_id = {};
  s.suites = {0x13, 0x01};
  s.extensions = {sni_ext("a")};
  Outcome o = read_whole(hello_record(s));
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "a");
}

TEST_CASE("SNI is lowercased and loses one trailing dot") {
  CHECK(read_sni("Api.Example.COM.").hello.sni == "api.example.com");
  CHECK(read_sni("WWW.EXAMPLE.ORG").hello.sni == "www.example.org");
  CHECK(read_sni("x").hello.sni == "x");
  CHECK(read_sni("under_score-and-hyphen.0123456789.example").hello.sni ==
        "under_score-and-hyphen.0123456789.example");
  Outcome o = read_sni("a.b.");
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.has_sni);
  CHECK(o.hello.sni == "a.b");
}

TEST_CASE("SNI of 253 characters is accepted, with or without its trailing dot") {
  std::string name(253, 'a');
  CHECK(read_sni(name).hello.sni == name);
  CHECK(read_sni(name + ".").hello.sni == name);
}

TEST_CASE("SNI takes the first host_name of the list and skips other name types") {
  Outcome o = read_with({sni_ext_of({sni_entry("opaque thing", 7), sni_entry("First.Example"), sni_entry("second.example")})});
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "first.example");

  o = read_with({sni_ext_of({sni_entry("other", 1)})});
  CHECK(o.status == HelloStatus::Done);
  CHECK_FALSE(o.hello.has_sni);
}

TEST_CASE("ALPN keeps the protocols in order, arbitrary bytes included") {
  std::string binary("\x00\xff h", 4);
  Outcome o = read_with({alpn_ext({"http/1.1", "h2", binary, std::string(255, 'p')})});
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.alpn == std::vector<std::string>{"http/1.1", "h2", binary, std::string(255, 'p')});
}

TEST_CASE("ALPN keeps the first kMaxAlpn protocols and checks the rest") {
  std::vector<std::string> offered;
  for (size_t i = 0; i < kMaxAlpn + 5; ++i) offered.push_back("p" + std::to_string(i));
  Outcome o = read_with({alpn_ext(offered)});
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.alpn == std::vector<std::string>(offered.begin(), offered.begin() + kMaxAlpn));

  offered.push_back("");  // past kMaxAlpn, but still a zero-length name
  CHECK(read_with({alpn_ext(offered)}).status == HelloStatus::Malformed);
}

TEST_CASE("unknown extensions are skipped by their length, wherever they are") {
  Outcome o = read_with({ext(0xfafa, {}), ext(0xffff, filled(3000, 0x00)), sni_ext("Host.Example"),
                         ext(0x1234, filled(1, 0x10)), alpn_ext({"h2"}), ext(21, filled(100))});
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "host.example");
  CHECK(o.hello.alpn == std::vector<std::string>{"h2"});
}

TEST_CASE("ALPN before SNI in the extension list reads the same") {
  Outcome o = read_with({alpn_ext({"h2"}), sni_ext("b.example")});
  CHECK(o.status == HelloStatus::Done);
  CHECK(o.hello.sni == "b.example");
  CHECK(o.hello.alpn == std::vector<std::string>{"h2"});
}

// ---- rejected: SNI ----

TEST_CASE("SNI with a character outside letters, digits, hyphen, underscore and dot is Malformed") {
  const std::vector<std::string> bad_names = {"a b", "a/b", "a*.example", "a:443", "caf\xc3\xa9",
                                               std::string("a\0b", 3), "a\x7f", "a@b", "a\\b", "\xff"};
  for (const std::string& bad : bad_names) {
    CAPTURE(bad);
    CHECK(read_sni(bad).status == HelloStatus::Malformed);
  }
}

TEST_CASE("SNI empty, a lone dot, an empty last label or over 253 characters is Malformed") {
  CHECK(read_sni("").status == HelloStatus::Malformed);
  CHECK(read_sni(".").status == HelloStatus::Malformed);
  CHECK(read_sni("a..").status == HelloStatus::Malformed);
  CHECK(read_sni("..").status == HelloStatus::Malformed);
  CHECK(read_sni(std::string(254, 'a')).status == HelloStatus::Malformed);
  CHECK(read_sni(std::string(254, 'a') + ".").status == HelloStatus::Malformed);
  CHECK(read_sni(std::string(1000, 'a')).status == HelloStatus::Malformed);
}

TEST_CASE("a second server_name extension is Malformed") {
  CHECK(read_with({sni_ext("a.example"), sni_ext("a.example")}).status == HelloStatus::Malformed);
  CHECK(read_with({sni_ext("a.example"), alpn_ext({"h2"}), sni_ext("b.example")}).status == HelloStatus::Malformed);
}

TEST_CASE("a second ALPN extension is Malformed") {
  CHECK(read_with({alpn_ext({"h2"}), alpn_ext({"http/1.1"})}).status == HelloStatus::Malformed);
}

TEST_CASE("server_name list length not matching the extension is Malformed") {
  Bytes entry = sni_entry("a.example");
  CHECK(read_with({ext(0, cat({u16(entry.size() + 1), entry}))}).status == HelloStatus::Malformed);
  CHECK(read_with({ext(0, cat({u16(entry.size() - 1), entry}))}).status == HelloStatus::Malformed);
  CHECK(read_with({ext(0, cat({u16(entry.size()), entry, u8(0)}))}).status == HelloStatus::Malformed);
  CHECK(read_with({ext(0, u16(0))}).status == HelloStatus::Malformed);  // an empty list
  CHECK(read_with({ext(0, {})}).status == HelloStatus::Malformed);      // no list at all
  CHECK(read_with({ext(0, u8(0))}).status == HelloStatus::Malformed);   // half a length
}

TEST_CASE("server_name entry whose name length runs past the list is Malformed") {
  Bytes entry = cat({u8(0), u16(20), bytes_of("short")});
  CHECK(read_with({ext(0, cat({u16(entry.size()), entry}))}).status == HelloStatus::Malformed);
  Bytes cut = cat({u8(0), u8(0)});  // the name length itself cut short
  CHECK(read_with({ext(0, cat({u16(cut.size()), cut}))}).status == HelloStatus::Malformed);
}

// ---- rejected: ALPN ----

TEST_CASE("a zero-length ALPN protocol name is Malformed") {
  CHECK(read_with({alpn_ext({"h2", ""})}).status == HelloStatus::Malformed);
  CHECK(read_with({alpn_ext({""})}).status == HelloStatus::Malformed);
}

TEST_CASE("ALPN list empty, of the wrong length or with a name past its end is Malformed") {
  CHECK(read_with({ext(16, u16(0))}).status == HelloStatus::Malformed);
  CHECK(read_with({ext(16, {})}).status == HelloStatus::Malformed);
  Bytes list = cat({u8(2), bytes_of("h2")});
  CHECK(read_with({ext(16, cat({u16(list.size() + 1), list}))}).status == HelloStatus::Malformed);
  CHECK(read_with({ext(16, cat({u16(list.size()), list, u8(0)}))}).status == HelloStatus::Malformed);
  Bytes past = cat({u8(9), bytes_of("h2")});
  CHECK(read_with({ext(16, cat({u16(past.size()), past}))}).status == HelloStatus::Malformed);
}

TEST_CASE("a rejected hello leaves hello() empty") {
  HelloSpec s;
  s.extensions = {sni_ext("a.example"), alpn_ext({"h2"}), sni_ext("b.example")};
  Bytes rec = hello_record(s);
  ClientHelloReader r;
  CHECK(r.feed(rec.data(), rec.size()) == HelloStatus::Malformed);
  CHECK_FALSE(r.hello().has_sni);
  CHECK(r.hello().sni.empty());
  CHECK(r.hello().alpn.empty());
}
