// Host maps (issue 16): routes by a map of hosts to subsets of one pool's servers, over real
// loopback sockets (HTTP by Host, TCP by SNI), live changes (SetHosts), reloads, two threads;
// and what 100k hosts cost one engine thread.
#include <doctest/doctest.h>
#include <malloc.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/group.h"
#include "engine/host_map.h"
#include "testing/engine_group_harness.h"
#include "testing/engine_harness.h"
#include "tls/test/hellos.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

using Hosts = std::vector<std::pair<std::string, std::vector<uint32_t>>>;

HostBatch batch(const Hosts& hosts, const std::vector<std::string>& removed = {}) {
  HostBatch b;
  for (const auto& [host, uids] : hosts) {
    b.hosts.push_back(host);
    b.counts.push_back(static_cast<uint32_t>(uids.size()));
    b.servers.insert(b.servers.end(), uids.begin(), uids.end());
  }
  for (const std::string& host : removed) {
    b.hosts.push_back(host);
    b.counts.push_back(kHostRemoved);
  }
  return b;
}

HostMapSpec host_map(uint32_t uid, std::string name, int32_t pool, const Hosts& initial,
                     lb::Algorithm balance = lb::Algorithm::RoundRobin) {
  HostMapSpec m;
  m.uid = uid;
  m.name = std::move(name);
  m.pool = pool;
  m.balance = balance;
  m.initial = batch(initial);
  return m;
}

RouteSpec map_route(int32_t map, int32_t pool) {
  RouteSpec r;
  r.pool = pool;
  r.host_map = map;
  return r;
}

RouteSpec any_route(int32_t pool) {
  RouteSpec r;
  r.pool = pool;
  return r;
}

std::string bytes(const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

// The body `host` gets on a fresh connection ("<status>" when not a 200).
std::string body_for(uint16_t port, const std::string& host) {
  Fd c = connect_loopback(port);
  if (!c || !write_all(c.get(), get_request(host))) return "<no connection>";
  HttpResponse r = read_response(c.get());
  return r.status == 200 ? r.body : "<" + std::to_string(r.status) + ">";
}

// Four backends: pool 0 "sites" has A, B, C (uids 1, 2, 3), pool 1 "fallback" has D (uid 4).
struct Backends {
  Backend a{http_named("A")};
  Backend b{http_named("B")};
  Backend c{http_named("C")};
  Backend d{http_named("D")};

  SnapshotSpec spec(std::vector<HostMapSpec> maps) const {
    SnapshotSpec s = base_spec();
    s.pools.push_back(pool_spec(10, "sites", {server_spec(1, a.address()), server_spec(2, b.address()),
                                              server_spec(3, c.address())}));
    s.pools.push_back(pool_spec(11, "fallback", {server_spec(4, d.address())}));
    s.host_maps = std::move(maps);
    s.listeners.push_back(http_listener("web", 0, {map_route(0, 0), any_route(1)}));
    s.listeners.back().bind.clear();
    return s;
  }
};

uint16_t start(EngineHarness& h, const SnapshotSpec& spec) {
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  return ports[0];
}

const Json& map_stats(const Json& thread, std::string_view name) {
  const Json& maps = thread["hostMaps"];
  for (size_t i = 0; i < maps.size(); ++i) {
    if (maps[i]["name"].str() == name) return maps[i];
  }
  return Json::null();
}

}  // namespace

TEST_CASE("host map: exact first, then wildcards up the labels; *.foo.com is not foo.com; a miss takes the next route") {
  Backends bk;
  EngineHarness h;
  uint16_t port = start(h, bk.spec({host_map(7, "sites", 0,
                                             {{"a.foo.com", {1}}, {"*.b.foo.com", {2}}, {"*.foo.com", {3}}, {"*.org", {2}},
                                              {"x.b.foo.com", {1}}})}));
  CHECK(body_for(port, "a.foo.com") == "A");      // exact beats *.foo.com
  CHECK(body_for(port, "x.b.foo.com") == "A");    // exact beats *.b.foo.com
  CHECK(body_for(port, "y.b.foo.com") == "B");    // *.b.foo.com beats *.foo.com
  CHECK(body_for(port, "z.y.b.foo.com") == "B");  // any depth below
  CHECK(body_for(port, "c.foo.com") == "C");
  CHECK(body_for(port, "B.FOO.COM") == "C");      // normalized before the lookup: b.foo.com
  CHECK(body_for(port, "x.org") == "B");
  CHECK(body_for(port, "foo.com") == "D");  // *.foo.com never matches foo.com: the next route
  CHECK(body_for(port, "org") == "D");
  CHECK(body_for(port, "other.net") == "D");
  Json st = h.stats_json();
  const Json& m = map_stats(st, "sites");
  CHECK(m["hosts"].u64() == 5);
  CHECK(m["hits"].u64() == 7);
  CHECK(m["misses"].u64() == 3);
  CHECK(m["empty"].u64() == 0);
}

TEST_CASE("host map: an entry with no server gets 503, never another route") {
  Backends bk;
  EngineHarness h;
  uint16_t port = start(h, bk.spec({host_map(7, "sites", 0, {{"empty.test", {}}, {"gone.test", {99}}})}));
  CHECK(body_for(port, "empty.test") == "<503>");
  CHECK(body_for(port, "gone.test") == "<503>");  // its only uid is no server of the pool: skipped
  CHECK(bk.d.accepted() == 0);
  Json st = h.stats_json();
  CHECK(map_stats(st, "sites")["empty"].u64() == 2);
  CHECK(st["pools"][0]["noServer"].u64() == 2);
}

TEST_CASE("host map: each balancer spreads over exactly the entry's servers") {
  for (lb::Algorithm balance : {lb::Algorithm::RoundRobin, lb::Algorithm::LeastConn, lb::Algorithm::P2C}) {
    INFO("balance " << static_cast<int>(balance));
    Backends bk;
    EngineHarness h;
    uint16_t port = start(h, bk.spec({host_map(7, "sites", 0, {{"two.test", {1, 3}}}, balance)}));
    std::map<std::string, int> seen;
    Fd c = connect_loopback(port);
    REQUIRE(c);
    for (int i = 0; i < 40; ++i) {
      REQUIRE(write_all(c.get(), get_request("two.test")));
      seen[read_response(c.get()).body]++;
    }
    CHECK(seen.size() == 2);
    CHECK(seen.count("B") == 0);
    CHECK(seen["A"] + seen["C"] == 40);
    if (balance == lb::Algorithm::RoundRobin) {
      CHECK(seen["A"] == 20);  // one keep-alive connection, one thread: strict alternation
    }
  }
}

TEST_CASE("host map: SetHosts adds, replaces and removes hosts while running; unknown uids and maps are skipped") {
  Backends bk;
  EngineHarness h;
  uint16_t port = start(h, bk.spec({host_map(7, "sites", 0, {{"keep.test", {1}}})}));
  CHECK(body_for(port, "new.test") == "D");
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"new.test", {2}}, {"u.test", {99, 3}}})));
  REQUIRE(h.sync());
  CHECK(body_for(port, "new.test") == "B");
  CHECK(body_for(port, "u.test") == "C");
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"new.test", {3}}})));
  h.engine().set_hosts(12345, std::make_shared<const HostBatch>(batch({{"keep.test", {2}}})));  // no such map
  REQUIRE(h.sync());
  CHECK(body_for(port, "new.test") == "C");
  CHECK(body_for(port, "keep.test") == "A");
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({}, {"new.test", "never.test"})));
  REQUIRE(h.sync());
  CHECK(body_for(port, "new.test") == "D");
  CHECK(map_stats(h.stats_json(), "sites")["hosts"].u64() == 2);
}

TEST_CASE("host map: a queued request keeps its entry's subset across a SetHosts and picks within it when woken") {
  // A answers slowly and takes one request at a time: the second request for q.test waits in
  // the pool's queue while the map moves q.test to B.
  Backend slow([](int fd) {
    for (;;) {
      std::string head = read_until(fd, "\r\n\r\n");
      if (head.empty()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (!write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA")) return;
    }
  });
  Backend b(http_named("B"));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  ServerSpec a_spec = server_spec(1, slow.address());
  a_spec.maxconn = 1;
  spec.pools.push_back(pool_spec(10, "sites", {a_spec, server_spec(2, b.address())}));
  spec.host_maps.push_back(host_map(7, "sites", 0, {{"q.test", {1}}}));
  spec.listeners.push_back(http_listener("web", 0, {map_route(0, 0)}));
  spec.listeners.back().bind.clear();
  uint16_t port = start(h, spec);

  Fd first = connect_loopback(port);
  Fd second = connect_loopback(port);
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(write_all(first.get(), get_request("q.test")));
  REQUIRE(eventually([&] { return h.stats_json()["pools"][0]["servers"][0]["active"].u64() == 1; }));
  REQUIRE(write_all(second.get(), get_request("q.test")));
  REQUIRE(eventually([&] { return h.stats_json()["pools"][0]["queued"].u64() == 1; }));
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"q.test", {2}}})));
  REQUIRE(h.sync());
  CHECK(read_response(first.get()).body == "A");
  CHECK(read_response(second.get()).body == "A");  // its subset, not B, though B was free
  CHECK(body_for(port, "q.test") == "B");          // a new request sees the change
}

TEST_CASE("host map: a reload keeping the uid keeps every host; a new uid loads its initial hosts") {
  Backends bk;
  EngineHarness h;
  SnapshotSpec spec = bk.spec({host_map(7, "sites", 0, {{"k.test", {1}}})});
  uint16_t port = start(h, spec);
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"s.test", {2}}})));
  REQUIRE(h.sync());

  spec.listeners[0].bind = "127.0.0.1:" + std::to_string(port);
  SnapshotSpec kept = spec;
  kept.host_maps = {host_map(7, "sites", 0, {{"k.test", {3}}})};  // initial ignored: the uid is known
  std::string error;
  REQUIRE_MESSAGE(h.engine().apply(kept, error), error);
  REQUIRE(h.sync());
  CHECK(body_for(port, "k.test") == "A");
  CHECK(body_for(port, "s.test") == "B");

  SnapshotSpec fresh = spec;
  fresh.host_maps = {host_map(8, "sites2", 0, {{"k.test", {3}}})};
  REQUIRE_MESSAGE(h.engine().apply(fresh, error), error);
  REQUIRE(h.sync());
  CHECK(body_for(port, "k.test") == "C");
  CHECK(body_for(port, "s.test") == "D");
  Json st = h.stats_json();
  CHECK(map_stats(st, "sites").is_null());  // dropped with the snapshot that used it
  CHECK(map_stats(st, "sites2")["hosts"].u64() == 1);
}

TEST_CASE("host map: the spec is checked (hash balance, pool, route)") {
  Backends bk;
  EngineHarness h;
  std::string error;
  REQUIRE(h.start(error));
  SnapshotSpec s = bk.spec({host_map(7, "sites", 0, {}, lb::Algorithm::Hash)});
  s.listeners[0].bind = "127.0.0.1:" + std::to_string(free_port());
  CHECK_FALSE(h.engine().apply(s, error));
  CHECK(error.find("host map \"sites\"") != std::string::npos);
  s.host_maps[0].balance = lb::Algorithm::RoundRobin;
  s.listeners[0].routes[0].pool = 1;  // not the map's pool
  CHECK_FALSE(h.engine().apply(s, error));
  s.listeners[0].routes[0].pool = 0;
  s.host_maps[0].initial.counts.push_back(1);  // counts for more hosts than there are
  CHECK_FALSE(h.engine().apply(s, error));
  CHECK(error.find("initial") != std::string::npos);
}

TEST_CASE("host map: TCP routes by SNI through a map; no SNI or no entry takes the next route; an empty entry closes") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  Backend d(name_echo("D"));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(10, "sites", {server_spec(1, a.address()), server_spec(2, b.address())}));
  spec.pools.push_back(pool_spec(11, "fallback", {server_spec(4, d.address())}));
  spec.host_maps.push_back(host_map(7, "sni", 0, {{"*.example.com", {2}}}));
  ListenerSpec l = tcp_listener("front", 0, -1);
  l.routes = {map_route(0, 0), any_route(1)};
  l.bind.clear();
  spec.listeners.push_back(l);
  uint16_t port = start(h, spec);

  auto greeting = [&](const std::string& hello) {
    Fd c = connect_loopback(port);
    if (!c || !write_all(c.get(), hello)) return std::string("<no connection>");
    std::string line = read_until(c.get(), "\n");
    return line.empty() ? std::string("<closed>") : line.substr(0, line.size() - 1);
  };
  const std::string api = bytes(tls::testing::kOpensslTls13Hello, sizeof tls::testing::kOpensslTls13Hello);  // SNI Api.Example.COM.
  const std::string no_sni = bytes(tls::testing::kOpensslNoSniHello, sizeof tls::testing::kOpensslNoSniHello);
  CHECK(greeting(api) == "B");  // *.example.com
  CHECK(greeting(no_sni) == "D");
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"api.example.com", {1}}})));
  REQUIRE(h.sync());
  CHECK(greeting(api) == "A");  // exact beats the wildcard
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({{"api.example.com", {}}})));
  REQUIRE(h.sync());
  CHECK(greeting(api) == "<closed>");
  h.engine().set_hosts(7, std::make_shared<const HostBatch>(batch({}, {"api.example.com", "*.example.com"})));
  REQUIRE(h.sync());
  CHECK(greeting(api) == "D");
  Json st = h.stats_json();
  CHECK(st["pools"][0]["noServer"].u64() == 1);
  CHECK(map_stats(st, "sni")["empty"].u64() == 1);
  CHECK(map_stats(st, "sni")["misses"].u64() == 1);  // no SNI is no lookup at all
}

TEST_CASE("host map: two engine threads each apply SetHosts to their own map") {
  Backends bk;
  GroupHarness g;
  std::string error;
  REQUIRE_MESSAGE(g.start(2, error), error);
  SnapshotSpec spec = bk.spec({host_map(7, "sites", 0, {{"one.test", {1}}})});
  std::vector<uint16_t> ports = g.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  uint16_t port = ports[0];
  g.group().set_hosts(7, std::make_shared<const HostBatch>(batch({{"two.test", {2, 3}}, {"one.test", {3}}})));
  REQUIRE(g.sync());
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) {
    CHECK(body_for(port, "one.test") == "C");
    seen[body_for(port, "two.test")]++;
  }
  CHECK(seen["B"] + seen["C"] == 20);
  Json st = g.stats_json();
  REQUIRE(st["threads"].size() == 2);
  uint64_t hits = 0;
  for (size_t t = 0; t < 2; ++t) {
    const Json& m = map_stats(st["threads"][t], "sites");
    CHECK(m["hosts"].u64() == 2);
    hits += m["hits"].u64();
  }
  CHECK(hits == 40);
}

TEST_CASE("host map: 100k hosts with 2 servers each cost one thread at most 120 bytes per host") {
  auto pool = std::make_shared<Pool>();
  for (uint32_t uid : {1u, 2u}) {
    auto s = std::make_shared<Server>();
    s->uid = uid;
    s->pool = pool.get();
    pool->servers.push_back(s);
  }
  constexpr size_t kHosts = 100000;
  HostBatch b;
  for (size_t i = 0; i < kHosts; ++i) {
    b.hosts.push_back("site" + std::to_string(i) + ".example.com");  // 20–21 bytes, like real names
    b.counts.push_back(2);
    b.servers.insert(b.servers.end(), {1, 2});
  }
  size_t before = mallinfo2().uordblks;
  auto map = std::make_shared<HostMap>();
  map->pool = pool;
  map->apply(b);
  size_t after = mallinfo2().uordblks;
  REQUIRE(map->hosts() == kHosts);
  CHECK(map->find("site99999.example.com"));
  double per_host = static_cast<double>(after - before) / kHosts;
  MESSAGE("host map: " << per_host << " bytes per host (100k hosts, 2 servers each, one thread)");
  if (after > before) CHECK(per_host <= 120.0);  // sanitizer allocators do not report to mallinfo2
}

TEST_CASE("host map: entries too large for the inline bytes (long host, many servers) keep their key and servers") {
  auto pool = std::make_shared<Pool>();
  for (uint32_t uid = 1; uid <= 12; ++uid) {
    auto s = std::make_shared<Server>();
    s->uid = uid;
    s->pool = pool.get();
    pool->servers.push_back(s);
  }
  HostMap map;
  map.pool = pool;
  const std::string long_host = std::string(60, 'x') + ".example.com";
  map.apply(batch({{long_host, {3}}, {"*.many.test", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, {"s.test", {12}}}));
  std::shared_ptr<HostEntry> e = map.find(long_host);
  REQUIRE(e);
  CHECK(e->key() == long_host);
  REQUIRE(e->size() == 1);
  CHECK(map.server(e->slot(0))->uid == 3);
  e = map.find("a.many.test");
  REQUIRE(e);
  CHECK(e->key() == "*.many.test");
  REQUIRE(e->size() == 12);
  for (size_t i = 0; i < 12; ++i) CHECK(map.server(e->slot(i))->uid == i + 1);
  e = map.find("s.test");
  REQUIRE(e);
  CHECK(map.server(e->slot(0))->uid == 12);
  CHECK_FALSE(map.find(".many.test"));  // no label before the suffix: not *.many.test
  CHECK(map.hits == 3);
  CHECK(map.misses == 1);
}
