// What a connection begins with, in the engine: PROXY headers accepted (trusted sources only)
// and sent onward, and TCP routes chosen by the ClientHello — with real loopback sockets.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxyproto/proxy_protocol.h"
#include "testing/engine_harness.h"
#include "tls/test/hellos.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

// Keeps what each connection sent until it ended (or `limit` bytes), one string per connection.
struct Capture {
  std::mutex mu;
  std::vector<std::string> conns;
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock(mu);
    return conns;
  }
};

Backend::Handler capturing(std::shared_ptr<Capture> cap, size_t limit) {
  return [cap, limit](int fd) {
    std::string got;
    char buf[4096];
    while (got.size() < limit) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    std::lock_guard<std::mutex> lock(cap->mu);
    cap->conns.push_back(got);
  };
}

uint16_t start_with(EngineHarness& h, SnapshotSpec spec) {
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  for (auto& l : spec.listeners) l.bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  return ports[0];
}

// The setup most cases share: pool 10 of one server (uid 1, `server`) behind the TCP listener
// "front"; `adjust` changes the server's and the listener's spec before the snapshot is applied.
uint16_t start_one_server(EngineHarness& h, const Backend& server,
                          const std::function<void(ServerSpec&, ListenerSpec&)>& adjust) {
  SnapshotSpec spec = base_spec();
  ServerSpec s = server_spec(1, server.address());
  ListenerSpec l = tcp_listener("front", 0, 0);
  adjust(s, l);
  spec.pools.push_back(pool_spec(10, "pool", {s}));
  spec.listeners.push_back(l);
  return start_with(h, spec);
}

Cidr range(const std::string& text) {
  Cidr c;
  std::string error;
  REQUIRE(parse_cidr(text, c, error));
  return c;
}

template <size_t N>
std::string bytes(const uint8_t (&a)[N]) {
  return std::string(reinterpret_cast<const char*>(a), N);
}

bool send_all(int fd, const std::string& s) { return write_all(fd, s.data(), s.size()); }

}  // namespace

TEST_CASE("preface: an accepted PROXY v1 header's client goes on in the server's v2 header, in one write with the data") {
  auto cap = std::make_shared<Capture>();
  const std::string tail = "hello after the header";
  Backend server(capturing(cap, 28 + tail.size()));  // a v2 TCP4 header is 28 bytes
  REQUIRE(server.ok());
  EngineHarness h;
  uint16_t port = start_one_server(h, server, [](ServerSpec& s, ListenerSpec& l) {
    s.proxy_protocol = 2;
    l.accept_proxy.enabled = true;
  });

  Fd c = connect_loopback(port);
  REQUIRE(c);
  REQUIRE(send_all(c.get(), "PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n" + tail));
  REQUIRE(eventually([&] { return cap->all().size() == 1; }));
  std::string got = cap->all()[0];
  proxyproto::Header hdr;
  REQUIRE(proxyproto::parse(got, hdr) == proxyproto::ParseStatus::Done);
  CHECK(hdr.version == 2);
  CHECK_FALSE(hdr.local);
  CHECK(hdr.src.to_string() == "203.0.113.7:40000");
  CHECK(hdr.dst.to_string() == "10.0.0.1:443");
  CHECK(got.substr(hdr.length) == tail);
  Json st = h.stats_json();
  CHECK(st["listeners"][0]["proxy"]["accepted"].u64() == 1);
}

TEST_CASE("preface: a source outside trusted is closed and no server is contacted") {
  auto cap = std::make_shared<Capture>();
  Backend server(capturing(cap, 1));
  REQUIRE(server.ok());
  EngineHarness h;
  uint16_t port = start_one_server(h, server, [](ServerSpec&, ListenerSpec& l) {
    l.accept_proxy.enabled = true;
    l.accept_proxy.trusted = {range("10.0.0.0/8"), range("::1")};
  });

  Fd c = connect_loopback(port);
  REQUIRE(c);
  send_all(c.get(), "PROXY TCP4 10.1.1.1 10.0.0.1 1 2\r\nx");
  std::string rest;
  CHECK(read_to_end(c.get(), rest) != End::Timeout);
  CHECK(rest.empty());
  REQUIRE(eventually([&] { return h.stats_json()["listeners"][0]["proxy"]["untrusted"].u64() == 1; }));
  CHECK(server.accepted() == 0);
}

TEST_CASE("preface: a malformed PROXY header closes the connection before any server is chosen") {
  auto cap = std::make_shared<Capture>();
  Backend server(capturing(cap, 1));
  REQUIRE(server.ok());
  EngineHarness h;
  uint16_t port = start_one_server(h, server, [](ServerSpec&, ListenerSpec& l) { l.accept_proxy.enabled = true; });
  for (const char* bad : {"GET / HTTP/1.1\r\n\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"}) {
    INFO(bad);
    Fd c = connect_loopback(port);
    REQUIRE(c);
    send_all(c.get(), bad);
    std::string rest;
    CHECK(read_to_end(c.get(), rest) != End::Timeout);
    CHECK(rest.empty());
  }
  REQUIRE(eventually([&] { return h.stats_json()["listeners"][0]["proxy"]["invalid"].u64() == 2; }));
  CHECK(server.accepted() == 0);
}

TEST_CASE("preface: TCP routes by SNI, and the hello reaches the chosen server byte for byte") {
  auto api = std::make_shared<Capture>();
  auto other = std::make_shared<Capture>();
  const std::string hello = bytes(tls::testing::kOpensslTls13Hello);  // SNI Api.Example.COM.
  Backend a(capturing(api, hello.size()));
  Backend b(capturing(other, hello.size()));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(10, "api", {server_spec(1, a.address())}));
  spec.pools.push_back(pool_spec(11, "other", {server_spec(2, b.address())}));
  ListenerSpec l = tcp_listener("front", 0, -1);
  l.routes = {RouteSpec{"api.example.com", "", "", 0}, RouteSpec{"", "", "", 1}};
  spec.listeners.push_back(l);
  uint16_t port = start_with(h, spec);

  // The hello in three writes, the middle one a single byte.
  Fd c = connect_loopback(port);
  REQUIRE(c);
  REQUIRE(send_all(c.get(), hello.substr(0, 3)));
  REQUIRE(eventually([&] { return h.stats_json()["totals"]["active"].u64() == 1; }));
  REQUIRE(send_all(c.get(), hello.substr(3, 1)));
  REQUIRE(send_all(c.get(), hello.substr(4)));
  REQUIRE(eventually([&] { return api->all().size() == 1; }));
  CHECK(api->all()[0] == hello);

  // Plain text takes the catch-all.
  Fd p = connect_loopback(port);
  REQUIRE(p);
  const std::string text = "SSH-2.0-OpenSSH_9.2\r\n";
  REQUIRE(send_all(p.get(), text));
  ::shutdown(p.get(), SHUT_WR);
  REQUIRE(eventually([&] { return other->all().size() == 1; }));
  CHECK(other->all()[0] == text);
  Json st = h.stats_json();
  CHECK(st["listeners"][0]["tls"]["sni"].u64() == 1);
  CHECK(st["listeners"][0]["tls"]["notTls"].u64() == 1);
}

TEST_CASE("preface: a v1 header to the server names the client and the listener's own address") {
  auto cap = std::make_shared<Capture>();
  Backend server(capturing(cap, 256));
  REQUIRE(server.ok());
  EngineHarness h;
  uint16_t port = start_one_server(h, server, [](ServerSpec& s, ListenerSpec&) { s.proxy_protocol = 1; });

  Fd c = connect_loopback(port);
  REQUIRE(c);
  sockaddr_in me{};
  socklen_t len = sizeof me;
  REQUIRE(getsockname(c.get(), reinterpret_cast<sockaddr*>(&me), &len) == 0);
  REQUIRE(send_all(c.get(), "ping"));
  ::shutdown(c.get(), SHUT_WR);
  REQUIRE(eventually([&] { return cap->all().size() == 1; }));
  CHECK(cap->all()[0] == "PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(ntohs(me.sin_port)) + " " + std::to_string(port) +
                             "\r\nping");
}
