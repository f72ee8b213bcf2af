// The thread seam under load: clients on helper threads move bytes through the engine while
// the control thread reloads, changes servers and asks for stats. Mostly here for TSan: every
// cross-thread hand-off (command queue, eventfd, outbox, wake-up) runs many times at once.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testing/engine_harness.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

struct Failures {
  std::mutex mu;
  std::vector<std::string> what;
  void add(std::string w) {
    std::lock_guard<std::mutex> lock(mu);
    what.push_back(std::move(w));
  }
  std::string all() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (auto& w : what) out += w + "\n";
    return out;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return what.size();
  }
};

// One TCP session: greeting, an echoed 64 KiB pattern (written by a helper thread), half-close,
// the server's goodbye. Returns "" or what went wrong.
std::string tcp_session(uint16_t port, uint64_t seed) {
  Fd c = connect_loopback(port);
  if (!c) return "connect failed";
  std::string hello = read_until(c.get(), "\n");
  if (hello != "A\n" && hello != "B\n") return "bad greeting '" + hello + "'";
  constexpr size_t kLen = 65536;
  std::vector<uint8_t> out(kLen), in(kLen);
  fill_pattern(out.data(), kLen, seed);
  bool wrote = false;
  std::thread writer([&] { wrote = write_all(c.get(), out.data(), kLen); });
  bool read = read_exact(c.get(), in.data(), kLen);
  writer.join();
  if (!wrote || !read) return "echo interrupted";
  if (check_pattern(in.data(), kLen, seed) != kLen) return "echo corrupted";
  ::shutdown(c.get(), SHUT_WR);
  std::string rest;
  End end = read_to_end(c.get(), rest);
  if (end != End::Eof || rest != "bye from " + hello.substr(0, 1) + "\n") {
    return std::string("bad end: ") + end_name(end) + " '" + rest + "'";
  }
  return "";
}

}  // namespace

TEST_CASE("concurrency: traffic flows while the control thread reloads and changes servers") {
  Backend a(name_echo("A"));
  Backend b(name_echo("B"));
  Backend web(http_named("W"));
  EngineHarness h;
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);

  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(10, "tcp", {server_spec(1, a.address()), server_spec(2, b.address())}));
  spec.pools.push_back(pool_spec(20, "web", {server_spec(3, web.address())}));
  spec.listeners.push_back(tcp_listener("tcp", 0, 0));
  RouteSpec all;
  all.pool = 1;
  spec.listeners.push_back(http_listener("http", 0, {all}));
  for (auto& l : spec.listeners) l.bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 2, error);
  for (size_t i = 0; i < ports.size(); ++i) spec.listeners[i].bind = "127.0.0.1:" + std::to_string(ports[i]);

  Failures failures;
  std::atomic<int> running{0};
  std::vector<std::thread> clients;
  constexpr int kTcpClients = 3;
  constexpr int kTcpRounds = 12;
  constexpr int kHttpClients = 2;
  constexpr int kHttpRequests = 40;
  for (int t = 0; t < kTcpClients; ++t) {
    ++running;
    clients.emplace_back([&, t] {
      for (int i = 0; i < kTcpRounds; ++i) {
        std::string err = tcp_session(ports[0], static_cast<uint64_t>(t) * 1000003 + static_cast<uint64_t>(i) * 7919);
        if (!err.empty()) failures.add("tcp client " + std::to_string(t) + " round " + std::to_string(i) + ": " + err);
      }
      --running;
    });
  }
  for (int t = 0; t < kHttpClients; ++t) {
    ++running;
    clients.emplace_back([&, t] {
      Fd c = connect_loopback(ports[1]);
      for (int i = 0; c && i < kHttpRequests; ++i) {
        if (!write_all(c.get(), get_request("w.test", "/" + std::to_string(i)))) {
          failures.add("http client " + std::to_string(t) + ": write failed");
          break;
        }
        HttpResponse r = read_response(c.get());
        if (r.status != 200 || r.body != "W") {
          failures.add("http client " + std::to_string(t) + " request " + std::to_string(i) + ": status " +
                       std::to_string(r.status));
          break;
        }
      }
      if (!c) failures.add("http client: connect failed");
      --running;
    });
  }

  // The control thread keeps changing things until the clients are done (bounded by their
  // own timeouts).
  uint32_t token = 1000;
  int changes = 0;
  while (running.load() > 0) {
    switch (changes % 5) {
      case 0: {
        SnapshotSpec next = spec;
        next.pools[0].servers[1].weight = 1 + static_cast<uint32_t>(changes % 3);
        if (!h.engine().apply(next, error)) failures.add("reload failed: " + error);
        break;
      }
      case 1: {
        ServerUpdate u;
        u.uid = 1;
        u.weight = 1 + changes % 4;
        h.engine().update_server(u);
        break;
      }
      case 2:
        h.engine().remove_server(2);
        break;
      case 3:
        if (!h.engine().add_server(10, server_spec(2, b.address()), error)) failures.add("add failed: " + error);
        break;
      case 4:
        h.engine().request_stats(token++);
        break;
    }
    ++changes;
    h.wait_events([](EventBatch&) { return false; }, 0);  // takes whatever batches came, no wait
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  for (auto& c : clients) c.join();
  CHECK_MESSAGE(failures.count() == 0, failures.all());
  MESSAGE(changes << " control changes during the traffic");

  REQUIRE(h.sync());
  CHECK(eventually([&] { return h.stats_json()["totals"]["active"].u64() == 0; }));
  Json s = h.stats_json();
  CHECK(s["listeners"][0]["accepted"].u64() == kTcpClients * kTcpRounds);
  CHECK(s["listeners"][1]["requests"].u64() == kHttpClients * kHttpRequests);
  REQUIRE(h.stop_and_join(0));
}
