// proxyproto::parse (proxy_protocol.h) against haproxy's doc/proxy-protocol.txt: detection of
// either version, the version 1 line (section 2.1) with the spec's own examples and one case per
// rejection, the version 2 binary header (section 2.2) built by hand from the spec's layout,
// TLVs (2.2.x) skipped by length, the size bounds, and that every proper prefix of a valid
// header asks for more.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "proxyproto/proxy_protocol.h"

using namespace std::literals;
using epoxy::proxyproto::Header;
using epoxy::proxyproto::kMaxV1Bytes;
using epoxy::proxyproto::kMaxV2Bytes;
using epoxy::proxyproto::parse;
using epoxy::proxyproto::ParseStatus;

namespace {

struct Result {
  ParseStatus status = ParseStatus::NeedMore;
  Header header;
  std::string error;
};

Result run(std::string_view data) {
  Result r;
  r.status = parse(data, r.header, &r.error);
  return r;
}

// A complete header of `length` bytes at the start of `data`.
Header done(std::string_view data, int version, size_t length) {
  Result r = run(data);
  INFO("error: ", r.error);
  REQUIRE(r.status == ParseStatus::Done);
  CHECK(r.header.version == version);
  CHECK(r.header.length == length);
  return r.header;
}

// Rejected, with a reason.
void rejected(std::string_view data, ParseStatus status = ParseStatus::Invalid) {
  Result r = run(data);
  CHECK(r.status == status);
  CHECK(!r.error.empty());
}

// Every proper prefix of a complete header is NeedMore.
void prefixes_need_more(std::string_view header) {
  for (size_t n = 0; n < header.size(); ++n) {
    INFO("prefix of ", n, " bytes");
    CHECK(run(header.substr(0, n)).status == ParseStatus::NeedMore);
  }
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

const std::string kSig = bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});

// Signature, version/command, family, the big-endian length (of `body` unless given), body.
std::string v2(int ver_cmd, int family, std::string_view body, int len = -1) {
  size_t n = len < 0 ? body.size() : static_cast<size_t>(len);
  std::string out = kSig + bytes({ver_cmd, family, static_cast<int>(n >> 8), static_cast<int>(n & 0xff)});
  out.append(body);
  return out;
}

// 192.168.0.1:56324 -> 192.168.0.11:443 as a TCP over IPv4 address block.
const std::string kTcp4Block = bytes({192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb});

// [2001:db8::1]:56324 -> [2001:db8::2]:443 as a TCP over IPv6 address block.
const std::string kTcp6Block =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) +
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}) + bytes({0xdc, 0x04, 0x01, 0xbb});

const std::string kMaxV6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

}  // namespace

TEST_CASE("detection: v2 signature, PROXY and SP, their prefixes, anything else") {
  CHECK(run("").status == ParseStatus::NeedMore);
  CHECK(run("P").status == ParseStatus::NeedMore);
  CHECK(run("PROXY").status == ParseStatus::NeedMore);
  CHECK(run("PROXY ").status == ParseStatus::NeedMore);
  CHECK(run("\r").status == ParseStatus::NeedMore);
  CHECK(run(kSig.substr(0, 5)).status == ParseStatus::NeedMore);  // through the NUL byte
  CHECK(run(kSig).status == ParseStatus::NeedMore);
  CHECK(run(kSig + "\x21\x11\x00"s).status == ParseStatus::NeedMore);  // 15 bytes
  Result r = run("GET / HTTP/1.1\r\n\r\n");
  CHECK(r.status == ParseStatus::Invalid);
  CHECK(r.error == "not a PROXY protocol header");
  rejected("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  rejected("PROXYTCP4");
  rejected("PROXY\r\n");
  rejected("\x16\x03\x01\x02\x00"sv);           // a TLS ClientHello
  rejected("\r\n\r\n\x01"sv);                   // the signature goes wrong at byte 5
  rejected(kSig.substr(0, 11) + "\x0b");        // ... or at byte 12
  rejected(kSig.substr(0, 8) + "PROXY");
}

TEST_CASE("v1: the spec's TCP4 example, followed by the HTTP request it carries") {
  std::string line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  Header h = done(line + "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n", 1, line.size());
  CHECK(line.size() == 47);
  CHECK_FALSE(h.local);
  CHECK(h.src.to_string() == "192.168.0.1:56324");
  CHECK(h.dst.to_string() == "192.168.0.11:443");
  CHECK(h.src.family() == AF_INET);
  CHECK(h.src.len == sizeof(sockaddr_in));
  prefixes_need_more(line);
}

TEST_CASE("v1: the spec's longest lines: TCP4 56 bytes, TCP6 104, UNKNOWN 107") {
  std::string tcp4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
  Header h = done(tcp4, 1, 56);
  CHECK(h.src.to_string() == "255.255.255.255:65535");

  std::string tcp6 = "PROXY TCP6 " + kMaxV6 + " " + kMaxV6 + " 65535 65535\r\n";
  h = done(tcp6, 1, 104);
  CHECK_FALSE(h.local);
  CHECK(h.src.to_string() == "[" + kMaxV6 + "]:65535");
  CHECK(h.dst.to_string() == "[" + kMaxV6 + "]:65535");
  CHECK(h.src.len == sizeof(sockaddr_in6));
  prefixes_need_more(tcp6);

  std::string unknown = "PROXY UNKNOWN " + kMaxV6 + " " + kMaxV6 + " 65535 65535\r\n";
  h = done(unknown + "GET /", 1, 107);
  CHECK(h.local);
  prefixes_need_more(unknown);
}

TEST_CASE("v1: PROXY UNKNOWN short form, and whatever follows UNKNOWN ignored") {
  Header h = done("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n", 1, 15);
  CHECK(h.local);
  prefixes_need_more("PROXY UNKNOWN\r\n");
  CHECK(done("PROXY UNKNOWN garbage  with\tanything\r\n", 1, 38).local);
  CHECK(done("PROXY UNKNOWN \r\n", 1, 16).local);
  rejected("PROXY UNKNOWNX\r\n");
  rejected("PROXY UNKNOWN\n");
}

TEST_CASE("v1: TCP6 in its other text forms, TCP4 and TCP6 port bounds") {
  Header h = done("PROXY TCP6 2001:DB8::1 ::1 1 65535\r\n", 1, 36);
  CHECK(h.src.to_string() == "[2001:db8::1]:1");
  CHECK(h.dst.to_string() == "[::1]:65535");
  h = done("PROXY TCP6 ::ffff:10.0.0.1 ::1 0 0\r\n", 1, 36);
  CHECK(h.src.to_string() == "[::ffff:10.0.0.1]:0");
  CHECK(h.src.port() == 0);
  h = done("PROXY TCP4 0.0.0.0 10.0.0.1 0 80\r\n", 1, 34);
  CHECK(h.src.to_string() == "0.0.0.0:0");
}

TEST_CASE("v1 rejections: spacing and fields") {
  rejected("PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n");   // double space
  rejected("PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n");
  rejected("PROXY TCP4 192.168.0.1 192.168.0.11 56324  443\r\n");
  rejected("PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  rejected("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n");  // trailing space
  rejected("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n");       // missing field
  rejected("PROXY TCP4 192.168.0.1 192.168.0.11\r\n");
  rejected("PROXY TCP4\r\n");
  rejected("PROXY TCP4 \r\n");
  rejected("PROXY \r\n");
  rejected("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 80\r\n");  // one too many
  rejected("PROXY TCP4\t192.168.0.1 192.168.0.11 56324 443\r\n");
  rejected("PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n");
  rejected("PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n");
  rejected("PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST_CASE("v1 rejections: ports") {
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 80a 80\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 80 -1\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 99999999999999999999 80\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 0x50 80\r\n");
  Result r = run("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n");
  CHECK(r.error == "v1 destination port out of range");
  // Heading zeroes are not permitted (section 2.1), whatever the value.
  r = run("PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n");
  CHECK(r.status == ParseStatus::Invalid);
  CHECK(r.error == "v1 source port has a leading zero");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 80 00\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 065535 80\r\n");
}

TEST_CASE("v1 rejections: addresses not of the announced family") {
  rejected("PROXY TCP4 ::1 5.6.7.8 1 2\r\n");
  rejected("PROXY TCP4 1.2.3.4 ::1 1 2\r\n");
  rejected("PROXY TCP6 1.2.3.4 ::1 1 2\r\n");
  rejected("PROXY TCP6 ::1 ::ffff:1.2.3.4.5 1 2\r\n");
  rejected("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
  rejected("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n");
  rejected("PROXY TCP4 localhost 5.6.7.8 1 2\r\n");
  rejected("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n");  // heading zero in an IPv4 number
  rejected("PROXY TCP6 [::1] ::1 1 2\r\n");
  rejected("PROXY TCP6 ::1%lo ::1 1 2\r\n");
  rejected("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n");
  rejected("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"sv);  // a NUL ends no address early
  rejected("PROXY TCP6 " + kMaxV6 + "0 ::1 1 2\r\n");
}

TEST_CASE("v1 rejections: line ends") {
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");                // LF only
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n");
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");            // a stray CR in the line
  rejected("PROXY TCP4 1.2.3.4 5.6.7.8 1\r 2\r\n");
  rejected("PROXY \n");
  // A CR alone does not end the line: still waiting for LF.
  CHECK(run("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r").status == ParseStatus::NeedMore);
  CHECK(run("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX").status == ParseStatus::NeedMore);
}

TEST_CASE("v1: no CRLF within 107 bytes is TooLarge exactly when byte 107 arrives") {
  std::string line = "PROXY UNKNOWN " + std::string(kMaxV1Bytes - 14, 'a');
  REQUIRE(line.size() == kMaxV1Bytes);
  for (size_t n = 0; n < kMaxV1Bytes; ++n) CHECK(run(line.substr(0, n)).status == ParseStatus::NeedMore);
  Result r = run(line);
  CHECK(r.status == ParseStatus::TooLarge);
  CHECK(!r.error.empty());
  rejected(line + "\r\n", ParseStatus::TooLarge);
  // The CR as byte 107 and LF as 108: one over.
  std::string over = line.substr(0, kMaxV1Bytes - 1) + "\r\n";
  rejected(over, ParseStatus::TooLarge);
  // TCP4 lines too, long before: whatever the line, its CRLF must come by byte 107.
  rejected("PROXY TCP4 " + std::string(200, '1'), ParseStatus::TooLarge);
  // A bad line still shorter than 107 bytes waits for its LF (not judged early).
  CHECK(run("PROXY TCP9 1.2.3.4").status == ParseStatus::NeedMore);
}

TEST_CASE("v2: TCP over IPv4 from the spec's layout, followed by the client's bytes") {
  std::string header = v2(0x21, 0x11, kTcp4Block);
  Header h = done(header + "GET / HTTP/1.1\r\n", 2, 28);
  CHECK_FALSE(h.local);
  CHECK(h.src.to_string() == "192.168.0.1:56324");
  CHECK(h.dst.to_string() == "192.168.0.11:443");
  CHECK(h.src.len == sizeof(sockaddr_in));
  prefixes_need_more(header);
}

TEST_CASE("v2: TCP over IPv6") {
  std::string header = v2(0x21, 0x21, kTcp6Block);
  Header h = done(header + "\x16\x03\x01", 2, 52);
  CHECK_FALSE(h.local);
  CHECK(h.src.to_string() == "[2001:db8::1]:56324");
  CHECK(h.dst.to_string() == "[2001:db8::2]:443");
  CHECK(h.dst.len == sizeof(sockaddr_in6));
  prefixes_need_more(header);
}

TEST_CASE("v2: LOCAL, with or without an address block, whatever the family") {
  std::string local = v2(0x20, 0x00, "");
  CHECK(done(local + "x", 2, 16).local);
  prefixes_need_more(local);
  std::string with_block = v2(0x20, 0x11, kTcp4Block);
  CHECK(done(with_block, 2, 28).local);
  prefixes_need_more(with_block);
  CHECK(done(v2(0x20, 0xff, "abc"), 2, 19).local);        // family ignored for LOCAL
  CHECK(done(v2(0x20, 0x11, "abc"), 2, 19).local);        // so is the block's size
  CHECK(done(v2(0x20, 0x00, "\x01\x00\x09"sv), 2, 19).local);  // and what would be TLVs
}

TEST_CASE("v2: PROXY with UNSPEC, UDP or unix families keeps the real addresses") {
  std::string unspec = v2(0x21, 0x00, "");
  CHECK(done(unspec, 2, 16).local);
  prefixes_need_more(unspec);
  CHECK(done(v2(0x21, 0x00, "anything"), 2, 24).local);
  CHECK(done(v2(0x21, 0x12, kTcp4Block), 2, 28).local);
  CHECK(done(v2(0x21, 0x22, kTcp6Block), 2, 52).local);
  std::string unix_block(216, '\0');
  unix_block.replace(0, 9, "/tmp/a.sk");
  std::string unix_stream = v2(0x21, 0x31, unix_block);
  CHECK(done(unix_stream, 2, 232).local);
  prefixes_need_more(unix_stream);
  CHECK(done(v2(0x21, 0x32, unix_block), 2, 232).local);
}

TEST_CASE("v2: TLVs after the addresses are skipped by length") {
  std::string tlvs = bytes({0x04, 0x00, 0x03, 0, 0, 0}) +          // PP2_TYPE_NOOP, 3 bytes
                     bytes({0x02, 0x00, 0x0b}) + "example.com" +   // PP2_TYPE_AUTHORITY
                     bytes({0x01, 0x00, 0x02}) + "h2" +            // PP2_TYPE_ALPN
                     bytes({0xe0, 0x00, 0x00}) +                   // a custom one, empty
                     bytes({0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0});  // PP2_TYPE_SSL, client SSL
  std::string header = v2(0x21, 0x11, kTcp4Block + tlvs);
  Header h = done(header + "GET", 2, 28 + tlvs.size());
  CHECK_FALSE(h.local);
  CHECK(h.src.to_string() == "192.168.0.1:56324");
  prefixes_need_more(header);
  std::string v6 = v2(0x21, 0x21, kTcp6Block + tlvs);
  CHECK(done(v6, 2, 52 + tlvs.size()).dst.to_string() == "[2001:db8::2]:443");
  prefixes_need_more(v6);
}

TEST_CASE("v2: a TLV overrunning the declared length is Invalid") {
  // NOOP claiming 6 bytes with 5 left in the header; the client's bytes after do not count.
  Result r = run(v2(0x21, 0x11, kTcp4Block + bytes({0x04, 0x00, 0x06, 1, 2, 3, 4, 5})) + "GET / HTTP/1.1\r\n");
  CHECK(r.status == ParseStatus::Invalid);
  CHECK(r.error == "v2 TLV overruns the header");
  rejected(v2(0x21, 0x11, kTcp4Block + bytes({0x04})));        // a TLV header cut at 1 byte
  rejected(v2(0x21, 0x11, kTcp4Block + bytes({0x04, 0x00})));  // or 2
  rejected(v2(0x21, 0x21, kTcp6Block + bytes({0x04, 0x00, 0x00, 0x01, 0xff, 0xff})));
  rejected(v2(0x21, 0x11, kTcp4Block + bytes({0x02, 0x00, 0x03}) + "ab"));
}

TEST_CASE("v2: length too small for the family is Invalid as soon as 16 bytes are in") {
  std::string v4_short = v2(0x21, 0x11, kTcp4Block.substr(0, 11));
  rejected(v4_short);
  rejected(v4_short.substr(0, 16));
  rejected(v2(0x21, 0x11, ""));
  std::string v6_short = v2(0x21, 0x21, kTcp6Block.substr(0, 35));
  rejected(v6_short.substr(0, 16));
  rejected(v6_short);
  rejected(v2(0x21, 0x21, kTcp4Block));  // an IPv4 block under an IPv6 family
  CHECK(run(v2(0x21, 0x11, kTcp4Block).substr(0, 16)).status == ParseStatus::NeedMore);
}

TEST_CASE("v2: bad version nibble, bad command, bad family") {
  for (int ver_cmd : {0x01, 0x11, 0x31, 0x41, 0xf1, 0x00, 0x10, 0x30}) {
    INFO("ver_cmd ", ver_cmd);
    Result r = run(v2(ver_cmd, 0x11, kTcp4Block));
    CHECK(r.status == ParseStatus::Invalid);
    CHECK(r.error == "bad v2 version");
    CHECK(run(v2(ver_cmd, 0x11, kTcp4Block).substr(0, 16)).status == ParseStatus::Invalid);
  }
  for (int ver_cmd : {0x22, 0x23, 0x2f}) {
    INFO("ver_cmd ", ver_cmd);
    Result r = run(v2(ver_cmd, 0x11, kTcp4Block));
    CHECK(r.status == ParseStatus::Invalid);
    CHECK(r.error == "bad v2 command");
  }
  for (int family : {0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff}) {
    INFO("family ", family);
    Result r = run(v2(0x21, family, kTcp6Block));
    CHECK(r.status == ParseStatus::Invalid);
    CHECK(r.error == "bad v2 address family");
  }
}

TEST_CASE("v2: 16 + len over kMaxV2Bytes is TooLarge after 16 bytes, exactly the bound is fine") {
  size_t over = kMaxV2Bytes - 16 + 1;
  std::string big = v2(0x21, 0x11, kTcp4Block, static_cast<int>(over));
  for (size_t n = 0; n < 16; ++n) CHECK(run(big.substr(0, n)).status == ParseStatus::NeedMore);
  rejected(big.substr(0, 16), ParseStatus::TooLarge);
  rejected(big, ParseStatus::TooLarge);
  rejected(v2(0x20, 0x00, "", 0xffff), ParseStatus::TooLarge);  // LOCAL too

  // A NOOP TLV filling the header up to exactly kMaxV2Bytes.
  size_t noop = kMaxV2Bytes - 28 - 3;
  std::string tlv = bytes({0x04, static_cast<int>(noop >> 8), static_cast<int>(noop & 0xff)}) + std::string(noop, 'n');
  std::string max = v2(0x21, 0x11, kTcp4Block + tlv);
  REQUIRE(max.size() == kMaxV2Bytes);
  CHECK(run(max.substr(0, kMaxV2Bytes - 1)).status == ParseStatus::NeedMore);
  CHECK_FALSE(done(max + "more", 2, kMaxV2Bytes).local);
}

TEST_CASE("parse writes the header only on Done and the error only on a rejection") {
  Header h;
  h.version = 7;
  std::string error = "untouched";
  CHECK(parse("PROXY TCP4 1.2", h, &error) == ParseStatus::NeedMore);
  CHECK(h.version == 7);
  CHECK(error == "untouched");
  CHECK(parse("PROXY TCP4 1.2\r\n", h, &error) == ParseStatus::Invalid);
  CHECK(h.version == 7);
  CHECK(error != "untouched");
  CHECK(parse("PROXY TCP4 1.2\r\n", h) == ParseStatus::Invalid);  // no error wanted
  CHECK(parse(v2(0x20, 0, ""), h) == ParseStatus::Done);
  CHECK(h.version == 2);
  CHECK(h.local);
}
