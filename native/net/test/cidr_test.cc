#include <doctest/doctest.h>

#include <string>

#include "net/address.h"
#include "net/cidr.h"

using epoxy::Cidr;
using epoxy::SockAddr;

namespace {

SockAddr addr(const std::string& text) {
  SockAddr a;
  std::string error;
  REQUIRE_MESSAGE(epoxy::parse_address(text, a, error), text << ": " << error);
  return a;
}

Cidr range(const std::string& text) {
  Cidr c;
  std::string error;
  REQUIRE_MESSAGE(epoxy::parse_cidr(text, c, error), text << ": " << error);
  return c;
}

std::string rejection(const std::string& text) {
  Cidr c;
  std::string error;
  INFO("input: " << text);
  CHECK_FALSE(epoxy::parse_cidr(text, c, error));
  CHECK_FALSE(error.empty());
  return error;
}

}  // namespace

TEST_CASE("cidr: an IPv4 range holds its addresses and no others") {
  Cidr c = range("10.0.0.0/8");
  CHECK(epoxy::cidr_contains(c, addr("10.0.0.1:1")));
  CHECK(epoxy::cidr_contains(c, addr("10.255.255.255:65535")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("11.0.0.0:1")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("9.255.255.255:1")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("[::1]:1")));
}

TEST_CASE("cidr: prefixes not on a byte boundary") {
  Cidr c = range("192.168.4.0/22");
  CHECK(epoxy::cidr_contains(c, addr("192.168.7.200:1")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("192.168.8.0:1")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("192.168.3.255:1")));
}

TEST_CASE("cidr: one address without a prefix is a /32 or /128") {
  Cidr c = range("127.0.0.1");
  CHECK(c.prefix == 32);
  CHECK(epoxy::cidr_contains(c, addr("127.0.0.1:5")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("127.0.0.2:5")));
  Cidr v6 = range("::1");
  CHECK(v6.prefix == 128);
  CHECK(epoxy::cidr_contains(v6, addr("[::1]:5")));
  CHECK_FALSE(epoxy::cidr_contains(v6, addr("127.0.0.1:5")));
}

TEST_CASE("cidr: IPv6 ranges, and 0/0 holds everything of its family") {
  Cidr c = range("2001:db8::/32");
  CHECK(epoxy::cidr_contains(c, addr("[2001:db8:1::5]:80")));
  CHECK_FALSE(epoxy::cidr_contains(c, addr("[2001:db9::5]:80")));
  CHECK(epoxy::cidr_contains(range("0.0.0.0/0"), addr("203.0.113.7:1")));
  CHECK(epoxy::cidr_contains(range("::/0"), addr("[fe80::1]:1")));
}

TEST_CASE("cidr: an IPv4-mapped client of a dual-stack listener matches IPv4 ranges") {
  CHECK(epoxy::cidr_contains(range("10.0.0.0/8"), addr("[::ffff:10.1.2.3]:4000")));
  CHECK_FALSE(epoxy::cidr_contains(range("10.0.0.0/8"), addr("[::ffff:11.1.2.3]:4000")));
  CHECK(epoxy::cidr_contains(range("::ffff:0:0/96"), addr("[::ffff:11.1.2.3]:4000")));
}

TEST_CASE("cidr: any_contains looks through every range") {
  std::vector<Cidr> ranges{range("10.0.0.0/8"), range("127.0.0.1")};
  CHECK(epoxy::any_contains(ranges, addr("127.0.0.1:9")));
  CHECK(epoxy::any_contains(ranges, addr("10.9.9.9:9")));
  CHECK_FALSE(epoxy::any_contains(ranges, addr("127.0.0.2:9")));
  CHECK_FALSE(epoxy::any_contains({}, addr("127.0.0.1:9")));
}

TEST_CASE("cidr: malformed ranges are refused with a reason") {
  CHECK(rejection("10.0.0.0/33").find("0-32") != std::string::npos);
  CHECK(rejection("::/129").find("0-128") != std::string::npos);
  rejection("10.0.0.0/");
  rejection("10.0.0.0/8x");
  rejection("10.0.0/8");
  rejection("example.com");
  rejection("");
  CHECK(rejection("10.1.2.3/8").find("host bits") != std::string::npos);
}
