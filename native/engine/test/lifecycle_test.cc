// The engine's life: start, apply (and its synchronous errors), stop with and without grace,
// join, destruction; every fd it opened is closed at the end, whatever was in flight.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "testing/engine_harness.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

RouteSpec route_all(int32_t pool) {
  RouteSpec r;
  r.pool = pool;
  return r;
}

// A connect to `port` is refused (nobody listens there any more).
bool refused(uint16_t port) {
  Fd c = connect_loopback(port);
  return !c && errno == ECONNREFUSED;
}

bool echo_ok(int fd, const std::string& msg) { return write_all(fd, msg) && read_n(fd, msg.size()) == msg; }

}  // namespace

TEST_CASE("lifecycle: stop joins the engine thread and closes every fd") {
  int before = fd_count();
  std::string fds_before = fd_listing();
  REQUIRE(engine_threads() == 0);
  {
    Backend echo(name_echo("A"));
    Backend web(http_named("W"));
    Backend bulk(bulk_source(size_t{4} << 20));
    auto h = std::make_unique<EngineHarness>();
    std::string error;
    REQUIRE_MESSAGE(h->start(error), error);
    CHECK(eventually([] { return engine_threads() == 1; }));  // the thread names itself once running
    SnapshotSpec spec = base_spec();
    spec.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
    spec.pools.push_back(pool_spec(2, "web", {server_spec(2, web.address())}));
    spec.pools.push_back(pool_spec(3, "bulk", {server_spec(3, bulk.address())}));
    spec.listeners.push_back(tcp_listener("tcp", 0, 0));
    spec.listeners.push_back(http_listener("http", 0, {route_all(1)}));
    spec.listeners.push_back(tcp_listener("bulk", 0, 2));
    for (auto& l : spec.listeners) l.bind.clear();
    std::vector<uint16_t> ports = h->apply_on_free_ports(spec, error);
    REQUIRE_MESSAGE(ports.size() == 3, error);

    // Leave something of every kind behind: an open TCP session, an open HTTP keep-alive
    // client with a pooled idle server connection, pipes back in their pool.
    Fd tcp = connect_loopback(ports[0]);
    REQUIRE(tcp);
    CHECK(read_until(tcp.get(), "\n") == "A\n");
    CHECK(echo_ok(tcp.get(), "before stop"));
    Fd http = connect_loopback(ports[1]);
    REQUIRE(http);
    REQUIRE(write_all(http.get(), get_request("x.test")));
    CHECK(read_response(http.get()).body == "W");
    {
      Fd b = connect_loopback(ports[2]);
      REQUIRE(b);
      std::string all;
      CHECK(read_to_end(b.get(), all, size_t{8} << 20) == End::Eof);
      CHECK(all.size() == size_t{4} << 20);
    }
    CHECK(eventually([&] {
      Json s = h->stats_json();
      return s["pools"][1]["servers"][0]["idleConnections"].u64() == 1 && s["pipes"]["free"].u64() >= 1 &&
             s["totals"]["active"].u64() == 2;
    }));

    REQUIRE(h->stop_and_join(0));
    CHECK(eventually([] { return engine_threads() == 0; }));  // /proc may list a joined thread a moment longer
    // Everything the engine held was cut: the clients see the end, the ports are free.
    std::string rest;
    End e1 = read_to_end(tcp.get(), rest);
    CHECK_MESSAGE((e1 == End::Eof || e1 == End::Reset), end_name(e1));
    End e2 = read_to_end(http.get(), rest);
    CHECK_MESSAGE((e2 == End::Eof || e2 == End::Reset), end_name(e2));
    for (uint16_t p : ports) CHECK(refused(p));

    int joined = fd_count();
    h.reset();
    int destroyed = fd_count();
    // Kept by the Engine object until its destruction: the epoll fd, the command eventfd, and
    // the pipes of its pool.
    MESSAGE("fds the joined engine still held until destroyed: " << joined - destroyed);
    CHECK(joined - destroyed >= 2);
  }
  int after = fd_count();
  CHECK_MESSAGE(after == before, "before:\n" << fds_before << "after:\n" << fd_listing());
}

TEST_CASE("lifecycle: start and stop 20 times leaks no fd and no thread") {
  int before = fd_count();
  std::string fds_before = fd_listing();
  Backend echo(name_echo("A"));
  int with_backend = fd_count();
  uint16_t port = 0;
  for (int i = 0; i < 20; ++i) {
    INFO("round " << i);
    EngineHarness h;
    std::string error;
    REQUIRE_MESSAGE(h.start(error), error);
    SnapshotSpec spec = base_spec();
    spec.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
    spec.listeners.push_back(tcp_listener("tcp", port, 0));
    if (port == 0) {
      spec.listeners.back().bind.clear();
      std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
      REQUIRE_MESSAGE(ports.size() == 1, error);
      port = ports[0];
    } else {
      // The same port every round: the last round's listener must be closed by now.
      REQUIRE_MESSAGE(h.engine().apply(spec, error), error);
    }
    Fd c = connect_loopback(port);
    REQUIRE(c);
    CHECK(read_until(c.get(), "\n") == "A\n");
    CHECK(echo_ok(c.get(), "round " + std::to_string(i)));
    REQUIRE(h.stop_and_join(0));
    h.shutdown();
    std::string rest;
    End e = read_to_end(c.get(), rest);
    CHECK_MESSAGE((e == End::Eof || e == End::Reset), end_name(e));
  }
  CHECK(eventually([] { return engine_threads() == 0; }));  // /proc may list a joined thread a moment longer
  // The backend's connections close as their handlers see the engine's end.
  CHECK(eventually([&] { return echo.finished() == 20; }));
  CHECK(eventually([&] { return fd_count() == with_backend; }));
  echo.stop();
  int after = fd_count();
  CHECK_MESSAGE(after == before, "before:\n" << fds_before << "after:\n" << fd_listing());
}

TEST_CASE("lifecycle: destroying a running engine stops and joins it") {
  int before = fd_count();
  {
    Backend echo(name_echo("A"));
    Fd c;
    {
      Engine engine([] {});
      std::string error;
      REQUIRE_MESSAGE(engine.start(error), error);
      SnapshotSpec spec = base_spec();
      spec.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
      uint16_t port = free_port();
      spec.listeners.push_back(tcp_listener("tcp", port, 0));
      REQUIRE_MESSAGE(engine.apply(spec, error), error);
      c = connect_loopback(port);
      REQUIRE(c);
      CHECK(read_until(c.get(), "\n") == "A\n");
    }  // ~Engine with a session open and the batch never taken
    CHECK(eventually([] { return engine_threads() == 0; }));  // /proc may list a joined thread a moment longer
    std::string rest;
    End e = read_to_end(c.get(), rest);
    CHECK_MESSAGE((e == End::Eof || e == End::Reset), end_name(e));
  }
  CHECK(fd_count() == before);
}

TEST_CASE("lifecycle: an engine never started is destroyed cleanly") {
  int before = fd_count();
  {
    Engine engine([] {});
    std::string error;
    SnapshotSpec spec = base_spec();
    CHECK_FALSE(engine.apply(spec, error));
    CHECK(error == "engine not started");
    engine.stop(0);  // queued, never handled
    engine.join();
  }
  CHECK(fd_count() == before);
}

TEST_CASE("lifecycle: a graceful stop refuses new clients and lets a session in flight finish") {
  Backend echo(name_echo("A"));
  EngineHarness h;
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
  spec.listeners.push_back(tcp_listener("tcp", 0, 0));
  spec.listeners.back().bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);

  Fd c = connect_loopback(ports[0]);
  REQUIRE(c);
  CHECK(read_until(c.get(), "\n") == "A\n");
  // A grace far longer than any wait below: the engine must end because the session did.
  h.engine().stop(600000);
  REQUIRE(h.sync());  // the stop was handled: the listener is closed
  CHECK(refused(ports[0]));
  CHECK(echo_ok(c.get(), "still served during the grace period"));
  CHECK_FALSE(h.seen().stopped);
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  std::string rest;
  CHECK(read_to_end(c.get(), rest) == End::Eof);
  CHECK(rest == "bye from A\n");
  CHECK(h.wait_events([](EventBatch& ev) { return ev.stopped; }));
  h.engine().join();
  CHECK(eventually([] { return engine_threads() == 0; }));  // /proc may list a joined thread a moment longer
}

TEST_CASE("lifecycle: apply rejects a bad spec synchronously and changes nothing") {
  Backend echo(name_echo("A"));
  EngineHarness h;
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  SnapshotSpec good = base_spec();
  good.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
  good.listeners.push_back(tcp_listener("web", 0, 0));
  good.listeners.back().bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(good, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  uint16_t port = ports[0];
  good.listeners.back().bind = "127.0.0.1:" + std::to_string(port);
  REQUIRE(h.sync());
  int fds = fd_count();

  auto rejected = [&](SnapshotSpec spec) {
    std::string why;
    CHECK_FALSE(h.engine().apply(std::move(spec), why));
    return why;
  };
  SUBCASE("each mistake is named with its place") {
    SnapshotSpec s = good;
    s.listeners[0].bind = "localhost:80";
    CHECK(rejected(s) == "listener \"web\": bind \"localhost:80\": not an IP address literal");
    s = good;
    s.pools[0].servers[0].address = "nope";
    CHECK(rejected(s) == "pool \"echo\" server \"nope\": expected host:port");
    s = good;
    s.listeners[0].pool = 3;
    CHECK(rejected(s) == "listener \"web\": no such pool");
    s = good;
    s.listeners.push_back(http_listener("api", free_port(), {route_all(7)}));
    CHECK(rejected(s) == "listener \"api\": a route names no pool");
    s = good;
    s.listeners.push_back(tcp_listener("again", port, 0));
    CHECK(rejected(s) == "listener \"again\": bind 127.0.0.1:" + std::to_string(port) + " is used twice");
  }
  SUBCASE("a port taken by someone else fails the whole apply") {
    Fd squatter = listen_loopback();
    REQUIRE(squatter);
    uint16_t taken = local_port(squatter.get());
    SnapshotSpec s = good;
    // A new listener that binds fine, then one that cannot: the first must not stay bound.
    uint16_t fresh = free_port();
    s.listeners.push_back(tcp_listener("fresh", fresh, 0));
    s.listeners.push_back(tcp_listener("busy", taken, 0));
    CHECK(rejected(s) == "listener \"busy\" (127.0.0.1:" + std::to_string(taken) + "): bind: Address already in use");
    CHECK(refused(fresh));
    CHECK(fd_count() == fds + 1);  // only the squatter's socket is new
  }
  // The running snapshot still serves, and its own bind is still the engine's.
  REQUIRE(h.sync());
  std::vector<std::string> names = greetings(port, 1);
  CHECK(names == std::vector<std::string>{"A"});
  REQUIRE_MESSAGE(h.engine().apply(good, error), error);
  CHECK(greetings(port, 1) == std::vector<std::string>{"A"});
}

TEST_CASE("lifecycle: stats answer every token in order and parse as JSON") {
  EngineHarness h;
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  // Before any snapshot: empty lists, zero totals.
  Json empty = h.stats_json();
  REQUIRE_FALSE(empty.is_null());
  CHECK(empty["listeners"].size() == 0);
  CHECK(empty["pools"].size() == 0);
  CHECK(empty["totals"]["accepted"].u64() == 0);
  CHECK(empty["latencyBoundsMs"].size() == 13);

  for (uint32_t t = 100; t < 110; ++t) h.engine().request_stats(t);
  REQUIRE(h.wait_events([](EventBatch& ev) { return ev.stats.size() >= 11; }));
  const EventBatch& ev = h.seen();
  for (uint32_t i = 0; i < 10; ++i) {
    CHECK(ev.stats[1 + i].first == 100 + i);
    CHECK_FALSE(parse_json(ev.stats[1 + i].second).is_null());
  }
  CHECK(h.wakes() >= 1);
  REQUIRE(h.stop_and_join(0));
}

TEST_CASE("lifecycle: a listener removed by one apply can be added back once the engine took the change") {
  Backend echo(name_echo("A"));
  EngineHarness h;
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  SnapshotSpec with = base_spec();
  with.pools.push_back(pool_spec(1, "echo", {server_spec(1, echo.address())}));
  with.listeners.push_back(tcp_listener("tcp", 0, 0));
  with.listeners.back().bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(with, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  with.listeners.back().bind = "127.0.0.1:" + std::to_string(ports[0]);
  SnapshotSpec without = with;
  without.listeners.clear();
  for (int i = 0; i < 5; ++i) {
    REQUIRE_MESSAGE(h.engine().apply(without, error), error);
    // The old socket is closed by the engine thread when it takes the snapshot; binding the
    // port again before that fails with EADDRINUSE (apply() binds on the calling thread).
    REQUIRE(h.sync());
    CHECK(refused(ports[0]));
    REQUIRE_MESSAGE(h.engine().apply(with, error), error);
    CHECK(greetings(ports[0], 1) == std::vector<std::string>{"A"});
  }
}
