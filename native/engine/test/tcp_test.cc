// The engine in TCP mode, driven from C++ as the addon drives it, with real loopback sockets:
// a blocking test client on one side, small blocking backends (helper threads) on the other.
#include <doctest/doctest.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/engine_harness.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

// Starts the engine with one TCP listener ("front", on a free port) over pool 0 of `spec`.
uint16_t start_tcp(EngineHarness& h, SnapshotSpec spec) {
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  spec.listeners.push_back(tcp_listener("front", 0, 0));
  spec.listeners.back().bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  return ports[0];
}

uint16_t start_tcp(EngineHarness& h, std::vector<ServerSpec> servers, uint32_t pool_uid = 10) {
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(pool_uid, "pool", std::move(servers)));
  return start_tcp(h, std::move(spec));
}

// Writes `len` pattern bytes (from `offset`) on a helper thread while reading the echo here;
// true when exactly those bytes came back.
bool echo_round(int fd, size_t len, uint64_t offset) {
  std::vector<uint8_t> out(len);
  fill_pattern(out.data(), len, offset);
  bool wrote = false;
  std::thread writer([&] { wrote = write_all(fd, out.data(), len); });
  std::vector<uint8_t> in(len);
  bool read = read_exact(fd, in.data(), len);
  writer.join();
  return wrote && read && check_pattern(in.data(), len, offset) == len;
}

const Json& pool0(const Json& stats) { return stats["pools"][0]; }

// Waits until no session is active (the engine closed its side of everything).
bool all_sessions_closed(EngineHarness& h) {
  return eventually([&] {
    Json s = h.stats_json();
    return !s.is_null() && s["totals"]["active"].u64() == 0;
  });
}

// Records what a connection received until EOF after its greeting and half-close.
struct Recorder {
  std::mutex mu;
  std::string got;
  bool ended = false;
  std::string snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return ended ? got : "<not ended>";
  }
};

}  // namespace

TEST_CASE("tcp: bytes go both ways exactly") {
  Backend a(name_echo("A"));
  REQUIRE(a.ok());
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, a.address())});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  CHECK(read_until(c.get(), "\n") == "A\n");
  uint64_t offset = 0;
  // Small writes take the buffer path, large ones the pipe (splice_threshold 16 KiB).
  for (size_t len : {size_t{1}, size_t{7}, size_t{1000}, size_t{16384}, size_t{65537}, size_t{1} << 20, size_t{3}}) {
    INFO("round of " << len << " bytes");
    CHECK(echo_round(c.get(), len, offset));
    offset += len;
  }
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  std::string rest;
  CHECK(read_to_end(c.get(), rest) == End::Eof);
  CHECK(rest == "bye from A\n");
  c.reset();

  REQUIRE(all_sessions_closed(h));
  Json s = h.stats_json();
  CHECK(s["totals"]["accepted"].u64() == 1);
  const Json& l = s["listeners"][0];
  CHECK(l["name"].str() == "front");
  CHECK(l["accepted"].u64() == 1);
  CHECK(l["bytesIn"].u64() == offset);
  CHECK(l["bytesOut"].u64() == offset + 2 + 11);  // greeting, echoes, bye
  const Json& sv = pool0(s)["servers"][0];
  CHECK(sv["sessions"].u64() == 1);
  CHECK(sv["bytesOut"].u64() == offset);
  CHECK(sv["bytesIn"].u64() == offset + 2 + 11);
  CHECK(s["totals"]["bytesSpliced"].u64() + s["totals"]["bytesCopied"].u64() == 2 * offset + 13);
}

TEST_CASE("tcp: the client's half-close reaches the server and the reply still comes back") {
  Backend a(name_echo("A"));
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, a.address())});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  REQUIRE(write_all(c.get(), "abc"));
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  // The server sends "bye" only after it read EOF: the FIN went through, and the other
  // direction stayed open after it.
  std::string got;
  End end = read_to_end(c.get(), got);
  CHECK_MESSAGE(end == End::Eof, end_name(end));
  CHECK(got == "A\nabcbye from A\n");
  c.reset();
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: the server's half-close reaches the client and the client can still send") {
  auto rec = std::make_shared<Recorder>();
  Backend a([rec](int fd) {
    write_all(fd, "hi\n");
    ::shutdown(fd, SHUT_WR);
    std::string got;
    End end = read_to_end(fd, got);
    std::lock_guard<std::mutex> lock(rec->mu);
    rec->got = got;
    rec->ended = end == End::Eof;
  });
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, a.address())});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  std::string got;
  End end = read_to_end(c.get(), got);
  CHECK_MESSAGE(end == End::Eof, end_name(end));
  CHECK(got == "hi\n");
  // Our direction is still open through the proxy.
  REQUIRE(write_all(c.get(), "late data"));
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  CHECK(eventually([&] { return rec->snapshot() == "late data"; }));
  CHECK(rec->snapshot() == "late data");
  c.reset();
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: a 32 MiB download arrives intact and is spliced") {
  constexpr size_t kBytes = size_t{32} << 20;
  Backend src(bulk_source(kBytes));
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, src.address())});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  std::vector<uint8_t> buf(256 * 1024);
  uint64_t total = 0;
  int64_t bad = -1;
  for (;;) {
    ssize_t n = ::recv(c.get(), buf.data(), buf.size(), 0);
    if (n <= 0) {
      CHECK_MESSAGE(n == 0, "recv failed: " << strerror(errno));
      break;
    }
    size_t at = check_pattern(buf.data(), static_cast<size_t>(n), total);
    if (bad < 0 && at != static_cast<size_t>(n)) bad = static_cast<int64_t>(total + at);
    total += static_cast<uint64_t>(n);
  }
  CHECK(total == kBytes);
  CHECK(bad == -1);
  c.reset();

  REQUIRE(all_sessions_closed(h));
  Json s = h.stats_json();
  uint64_t spliced = s["totals"]["bytesSpliced"].u64();
  uint64_t copied = s["totals"]["bytesCopied"].u64();
  CHECK(spliced + copied == kBytes);
  CHECK(spliced >= kBytes - (size_t{1} << 20));  // only the first reads take the buffer path
  CHECK(s["listeners"][0]["bytesSpliced"].u64() == spliced);
  CHECK(s["listeners"][0]["bytesOut"].u64() == kBytes);
  CHECK(s["pipes"]["inUse"].u64() == 0);  // the session gave its pipe back
}

TEST_CASE("tcp: a 32 MiB upload arrives intact and is spliced") {
  constexpr size_t kBytes = size_t{32} << 20;
  Backend sink(bulk_sink());
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, sink.address())});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  std::vector<uint8_t> chunk(256 * 1024);
  bool wrote = true;
  for (size_t off = 0; off < kBytes && wrote; off += chunk.size()) {
    fill_pattern(chunk.data(), chunk.size(), off);
    wrote = write_all(c.get(), chunk.data(), chunk.size());
  }
  REQUIRE(wrote);
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  std::string answer;
  CHECK(read_to_end(c.get(), answer) == End::Eof);
  CHECK(answer == std::to_string(kBytes) + " -1\n");
  c.reset();

  REQUIRE(all_sessions_closed(h));
  Json s = h.stats_json();
  uint64_t spliced = s["totals"]["bytesSpliced"].u64();
  CHECK(spliced + s["totals"]["bytesCopied"].u64() == kBytes + answer.size());
  CHECK(spliced >= kBytes - (size_t{1} << 20));
  CHECK(pool0(s)["servers"][0]["bytesOut"].u64() == kBytes);
}

TEST_CASE("tcp: roundrobin alternates over two servers") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  EngineHarness h;

  SUBCASE("equal weights alternate strictly") {
    uint16_t port = start_tcp(h, {server_spec(1, a.address()), server_spec(2, b.address())});
    std::vector<std::string> names = greetings(port, 6);
    INFO("order: " << names[0] << names[1] << names[2] << names[3] << names[4] << names[5]);
    for (size_t i = 0; i < names.size(); ++i) {
      CHECK((names[i] == "A" || names[i] == "B"));
      if (i > 0) CHECK(names[i] != names[i - 1]);
    }
  }
  SUBCASE("weights 2:1 give A twice as many sessions, never three in a row") {
    uint16_t port = start_tcp(h, {server_spec(1, a.address(), 2), server_spec(2, b.address(), 1)});
    std::vector<std::string> names = greetings(port, 6);
    std::string order;
    for (auto& n : names) order += n;
    INFO("order: " << order);
    CHECK(std::count(names.begin(), names.end(), "A") == 4);
    CHECK(std::count(names.begin(), names.end(), "B") == 2);
    CHECK(order.find("AAA") == std::string::npos);
  }
  REQUIRE(all_sessions_closed(h));
}

TEST_CASE("tcp: add_server and remove_server take effect for new sessions only") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, a.address())}, 10);
  CHECK(greetings(port, 2) == std::vector<std::string>{"A", "A"});

  std::string error;
  CHECK_FALSE(h.engine().add_server(10, server_spec(2, "nowhere"), error));
  CHECK(error == "server \"nowhere\": expected host:port");
  REQUIRE(h.engine().add_server(10, server_spec(2, b.address()), error));
  REQUIRE(h.sync());
  Json s = h.stats_json();
  REQUIRE(pool0(s)["servers"].size() == 2);
  CHECK(pool0(s)["servers"][1]["address"].str() == b.address());
  std::vector<std::string> names = greetings(port, 4);
  CHECK(std::count(names.begin(), names.end(), "A") == 2);
  CHECK(std::count(names.begin(), names.end(), "B") == 2);

  // A session in flight keeps its server when that server is removed.
  Fd held = connect_loopback(port);
  REQUIRE(held);
  std::string first = read_until(held.get(), "\n");
  REQUIRE((first == "A\n" || first == "B\n"));
  bool held_on_a = first == "A\n";
  h.engine().remove_server(held_on_a ? 1 : 2);
  REQUIRE(h.sync());
  std::string other = held_on_a ? "B" : "A";
  CHECK(greetings(port, 3) == std::vector<std::string>{other, other, other});
  CHECK(pool0(h.stats_json())["servers"].size() == 1);
  CHECK(echo_round(held.get(), 100000, 0));

  // Unknown uids and pools change nothing.
  h.engine().remove_server(999);
  REQUIRE(h.engine().add_server(999, server_spec(3, a.address()), error));
  REQUIRE(h.sync());
  CHECK(pool0(h.stats_json())["servers"].size() == 1);
  CHECK(greetings(port, 2) == std::vector<std::string>{other, other});

  // The last server removed: new clients are closed, none is left hanging.
  h.engine().remove_server(held_on_a ? 2 : 1);
  REQUIRE(h.sync());
  Fd late = connect_loopback(port);
  REQUIRE(late);
  std::string nothing;
  End end = read_to_end(late.get(), nothing);
  CHECK_MESSAGE((end == End::Eof || end == End::Reset), end_name(end));
  CHECK(nothing.empty());
  CHECK(pool0(h.stats_json())["noServer"].u64() == 1);
  held.reset();
  late.reset();
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: update_server takes a server in and out of rotation") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  EngineHarness h;
  uint16_t port = start_tcp(h, {server_spec(1, a.address()), server_spec(2, b.address())});

  ServerUpdate down;
  down.uid = 1;
  down.check_up = 0;
  h.engine().update_server(down);
  REQUIRE(h.sync());
  CHECK(pool0(h.stats_json())["servers"][0]["state"].str() == "down");
  CHECK(greetings(port, 3) == std::vector<std::string>{"B", "B", "B"});

  ServerUpdate up_and_maint_b;
  up_and_maint_b.uid = 1;
  up_and_maint_b.check_up = 1;
  h.engine().update_server(up_and_maint_b);
  ServerUpdate maint;
  maint.uid = 2;
  maint.admin = static_cast<int>(AdminState::Maint);
  h.engine().update_server(maint);
  REQUIRE(h.sync());
  Json s = h.stats_json();
  CHECK(pool0(s)["servers"][0]["state"].str() == "up");
  CHECK(pool0(s)["servers"][1]["state"].str() == "maint");
  CHECK(greetings(port, 3) == std::vector<std::string>{"A", "A", "A"});

  ServerUpdate ready;
  ready.uid = 2;
  ready.admin = static_cast<int>(AdminState::Ready);
  ready.weight = 3;
  h.engine().update_server(ready);
  REQUIRE(h.sync());
  CHECK(pool0(h.stats_json())["servers"][1]["weight"].u64() == 3);
  std::vector<std::string> names = greetings(port, 8);
  CHECK(std::count(names.begin(), names.end(), "B") == 6);
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: a reload keeps the listening socket and sessions in flight keep their snapshot") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  EngineHarness h;
  SnapshotSpec first = base_spec();
  first.pools.push_back(pool_spec(10, "old", {server_spec(1, a.address())}));
  uint16_t port = start_tcp(h, first);

  Fd held = connect_loopback(port);
  REQUIRE(held);
  CHECK(read_until(held.get(), "\n") == "A\n");

  // Same bind, a different pool: no second bind (it would fail), new sessions go to B.
  SnapshotSpec second = base_spec();
  second.pools.push_back(pool_spec(20, "new", {server_spec(2, b.address())}));
  second.listeners.push_back(tcp_listener("front2", port, 0));
  std::string error;
  REQUIRE_MESSAGE(h.engine().apply(second, error), error);
  REQUIRE(h.sync());
  CHECK(greetings(port, 2) == std::vector<std::string>{"B", "B"});
  Json s = h.stats_json();
  CHECK(s["listeners"][0]["name"].str() == "front2");
  CHECK(s["listeners"][0]["accepted"].u64() == 3);  // the listener's counters survived the reload
  CHECK(pool0(s)["name"].str() == "new");

  CHECK(echo_round(held.get(), 50000, 7));
  REQUIRE(::shutdown(held.get(), SHUT_WR) == 0);
  std::string rest;
  CHECK(read_to_end(held.get(), rest) == End::Eof);
  CHECK(rest == "bye from A\n");
  held.reset();
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: the select hook routes each connection where the control plane says") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.select_hook = true;
  spec.pools.push_back(pool_spec(10, "pool", {server_spec(1, a.address()), server_spec(2, b.address())}));
  uint16_t port = start_tcp(h, spec);

  size_t answered = 0;  // select records handled so far
  // Connects, waits for the engine's select request, checks it, answers with `target`.
  auto connect_with = [&](uint32_t target) {
    Fd c = connect_loopback(port);
    REQUIRE(c);
    size_t want = (answered + 1) * EventBatch::kSelectRecord;
    REQUIRE(h.wait_events([&](EventBatch& ev) { return ev.selects.size() >= want; }));
    const EventBatch& ev = h.seen();
    const uint32_t* r = &ev.selects[answered * EventBatch::kSelectRecord];
    CHECK(r[1] == 0);  // listener index
    REQUIRE(r[2] < ev.addresses.size());
    CHECK(ev.addresses[r[2]] == "127.0.0.1");
    CHECK(r[3] == local_port(c.get()));
    CHECK(r[4] == EventBatch::kNoRequest);
    ++answered;
    h.engine().select_replies({r[0], target});
    return c;
  };
  auto greeting = [](Fd& c) { return read_until(c.get(), "\n"); };

  Fd c1 = connect_with(kTargetServerFlag | 2);
  CHECK(greeting(c1) == "B\n");
  Fd c2 = connect_with(kTargetServerFlag | 1);
  CHECK(greeting(c2) == "A\n");
  Fd c3 = connect_with(kTargetServerFlag | 2);
  CHECK(greeting(c3) == "B\n");
  Fd c4 = connect_with(kTargetPoolFlag | 10);
  std::string g4 = greeting(c4);
  CHECK((g4 == "A\n" || g4 == "B\n"));
  Fd c5 = connect_with(kTargetBalancer);
  std::string g5 = greeting(c5);
  CHECK((g5 == "A\n" || g5 == "B\n"));
  // Replies to unknown or spent tokens are ignored.
  h.engine().select_replies({12345, kTargetServerFlag | 1, 1, kTargetServerFlag | 1});
  REQUIRE(h.sync());
  CHECK(h.stats_json()["totals"]["selectTimeouts"].u64() == 0);
}

TEST_CASE("tcp: an unanswered select falls back to the balancer after its timeout") {
  Backend a(name_echo("A"));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.select_hook = true;
  spec.timeouts.select_ms = 50;  // the engine waits 250 ms more than this
  spec.pools.push_back(pool_spec(10, "pool", {server_spec(1, a.address())}));
  uint16_t port = start_tcp(h, spec);

  Fd c = connect_loopback(port);
  REQUIRE(c);
  REQUIRE(h.wait_events([](EventBatch& ev) { return ev.selects.size() >= EventBatch::kSelectRecord; }));
  uint32_t token = h.seen().selects[0];
  CHECK(read_until(c.get(), "\n") == "A\n");
  CHECK(h.stats_json()["totals"]["selectTimeouts"].u64() == 1);
  // A late answer finds nothing parked.
  h.engine().select_replies({token, kTargetServerFlag | 1});
  CHECK(echo_round(c.get(), 10, 0));
  c.reset();
  CHECK(all_sessions_closed(h));
  CHECK(h.wait_events([](EventBatch& ev) {
    return std::any_of(ev.logs.begin(), ev.logs.end(),
                       [](const std::string& l) { return l.find("select hook did not answer in time") != std::string::npos; });
  }));
}

TEST_CASE("tcp: a refused connect is retried on another server and ejects the failing one") {
  Backend a(name_echo("A"));
  uint16_t dead = free_port();  // nobody listens there
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  PoolSpec p = pool_spec(10, "pool", {server_spec(1, "127.0.0.1:" + std::to_string(dead)), server_spec(2, a.address())});
  p.passive.errors = 1;
  p.passive.window_ms = 60000;
  p.passive.eject_ms = 60000;
  spec.pools.push_back(p);
  uint16_t port = start_tcp(h, spec);

  CHECK(greetings(port, 4) == std::vector<std::string>{"A", "A", "A", "A"});
  REQUIRE(h.wait_events([](EventBatch& ev) { return !ev.server_states.empty(); }));
  const EventBatch::ServerState& st = h.seen().server_states[0];
  CHECK(st.uid == 1);
  CHECK(st.ejected);
  CHECK(st.reason.find("Connection refused") != std::string::npos);
  Json s = h.stats_json();
  CHECK(pool0(s)["servers"][0]["state"].str() == "ejected");
  CHECK(pool0(s)["servers"][0]["connectFailures"].u64() == 1);
  CHECK(pool0(s)["retries"].u64() == 1);
  CHECK(all_sessions_closed(h));
}

TEST_CASE("tcp: a server at its maxconn queues the next client until a slot frees") {
  Backend a(name_echo("A"));
  EngineHarness h;
  ServerSpec only = server_spec(1, a.address());
  only.maxconn = 1;
  uint16_t port = start_tcp(h, {only});

  Fd c1 = connect_loopback(port);
  REQUIRE(c1);
  CHECK(read_until(c1.get(), "\n") == "A\n");
  Fd c2 = connect_loopback(port);
  REQUIRE(c2);
  REQUIRE(eventually([&] { return pool0(h.stats_json())["queued"].u64() == 1; }));
  CHECK(a.accepted() == 1);
  c1.reset();  // frees the slot
  CHECK(read_until(c2.get(), "\n") == "A\n");
  Json s = h.stats_json();
  CHECK(pool0(s)["queued"].u64() == 0);
  CHECK(pool0(s)["queuedTotal"].u64() == 1);
  c2.reset();
  CHECK(all_sessions_closed(h));
}
