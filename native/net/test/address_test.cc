#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "net/address.h"
#include "testing/net_sockets.h"

using epoxy::parse_address;
using epoxy::SockAddr;

namespace {

// Parses text that must be rejected and returns the reason given.
std::string rejection(const std::string& text) {
  SockAddr a;
  std::string error;
  bool ok = parse_address(text, a, error);
  INFO("input: \"" << text << "\"");
  CHECK_FALSE(ok);
  CHECK_FALSE(error.empty());
  return error;
}

}  // namespace

TEST_CASE("address: IPv4 literal with port parses and formats back") {
  SockAddr a;
  std::string error;
  REQUIRE(parse_address("127.0.0.1:8080", a, error));
  CHECK(error.empty());
  CHECK(a.family() == AF_INET);
  CHECK(a.len == sizeof(sockaddr_in));
  CHECK(a.port() == 8080);
  CHECK(a.host() == "127.0.0.1");
  CHECK(a.to_string() == "127.0.0.1:8080");
  auto* in = reinterpret_cast<const sockaddr_in*>(a.get());
  CHECK(ntohs(in->sin_port) == 8080);
  CHECK(ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK);

  REQUIRE(parse_address("0.0.0.0:1", a, error));
  CHECK(a.to_string() == "0.0.0.0:1");
  REQUIRE(parse_address("255.255.255.255:65535", a, error));
  CHECK(a.port() == 65535);
  CHECK(a.to_string() == "255.255.255.255:65535");
}

TEST_CASE("address: IPv6 literal in brackets parses and formats back") {
  SockAddr a;
  std::string error;
  REQUIRE(parse_address("[::1]:443", a, error));
  CHECK(a.family() == AF_INET6);
  CHECK(a.len == sizeof(sockaddr_in6));
  CHECK(a.port() == 443);
  CHECK(a.host() == "::1");
  CHECK(a.to_string() == "[::1]:443");
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.get());
  CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));

  // Formatting is canonical (RFC 5952 as inet_ntop writes it): zeros compressed, lowercase.
  REQUIRE(parse_address("[2001:DB8:0:0:0:0:0:1]:65535", a, error));
  CHECK(a.to_string() == "[2001:db8::1]:65535");
  REQUIRE(parse_address("[::]:80", a, error));
  CHECK(a.to_string() == "[::]:80");
  REQUIRE(parse_address("[::ffff:10.0.0.1]:80", a, error));
  CHECK(a.family() == AF_INET6);
  CHECK(a.host() == "::ffff:10.0.0.1");
}

TEST_CASE("address: a reparse starts from a clean address") {
  SockAddr a;
  std::string error;
  REQUIRE(parse_address("[2001:db8::7]:9000", a, error));
  REQUIRE(parse_address("10.1.2.3:9001", a, error));
  CHECK(a.family() == AF_INET);
  CHECK(a.len == sizeof(sockaddr_in));
  CHECK(a.to_string() == "10.1.2.3:9001");
}

TEST_CASE("address: a default SockAddr formats as an empty host and port 0") {
  SockAddr a;
  CHECK(a.family() == AF_UNSPEC);
  CHECK(a.host().empty());
  CHECK(a.port() == 0);
}

TEST_CASE("address: kernel-filled addresses format like parsed ones") {
  epoxy::Fd l = epoxy::testing::listen_loopback();
  REQUIRE(l);
  SockAddr a;
  a.len = sizeof a.storage;
  REQUIRE(getsockname(l.get(), a.get(), &a.len) == 0);
  CHECK(a.host() == "127.0.0.1");
  CHECK(a.port() == epoxy::testing::local_port(l.get()));
  CHECK(a.to_string() == "127.0.0.1:" + std::to_string(a.port()));
}

TEST_CASE("address: missing or malformed ports are rejected with a reason") {
  CHECK(rejection("127.0.0.1") == "expected host:port");
  CHECK(rejection("") == "expected host:port");
  CHECK(rejection("127.0.0.1:") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:0") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:65536") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:99999999999") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:-1") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:+80") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:80x") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1: 80") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:80 ") == "port must be 1-65535");
  CHECK(rejection("127.0.0.1:0x50") == "port must be 1-65535");
  CHECK(rejection("[::1]:0") == "port must be 1-65535");
  CHECK(rejection("[::1]:") == "port must be 1-65535");
}

TEST_CASE("address: malformed brackets are rejected with a reason") {
  CHECK(rejection("[::1]") == "expected [ipv6]:port");
  CHECK(rejection("[::1") == "expected [ipv6]:port");
  CHECK(rejection("[::1]80") == "expected [ipv6]:port");
  CHECK(rejection("[::1]-80") == "expected [ipv6]:port");
  CHECK(rejection("[") == "expected [ipv6]:port");
  CHECK(rejection("[]:80") == "not an IP address literal");
}

TEST_CASE("address: names and sloppy literals are not IP literals") {
  // Names are resolved by the control plane before they reach the engine.
  CHECK(rejection("localhost:80") == "not an IP address literal");
  CHECK(rejection("example.com:443") == "not an IP address literal");
  CHECK(rejection(":80") == "not an IP address literal");
  // inet_pton is strict: none of inet_aton's shorthands or octal/hex forms.
  CHECK(rejection("127.1:80") == "not an IP address literal");
  CHECK(rejection("0x7f.0.0.1:80") == "not an IP address literal");
  CHECK(rejection("256.0.0.1:80") == "not an IP address literal");
  CHECK(rejection("1.2.3.4.5:80") == "not an IP address literal");
  CHECK(rejection(" 127.0.0.1:80") == "not an IP address literal");
  CHECK(rejection("[::1%lo]:80") == "not an IP address literal");
  CHECK(rejection("[fe80::1::2]:80") == "not an IP address literal");
  CHECK(rejection("[example.com]:80") == "not an IP address literal");
}
