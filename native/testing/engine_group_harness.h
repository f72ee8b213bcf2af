// Test-only: drives an epoxy::EngineGroup (N engine threads, one config) the way native/addon
// does from JS, beside EngineHarness (engine_harness.h) for one Engine. Its stats come back as
// one record per request, {"threads":[<one engine's stats>, ...]} in the order the engines
// answered; the helpers below read it by thread id. Plus a greeter: a backend on one thread
// that writes its name to each connection and closes it (no thread per connection, for tests
// that open hundreds).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/group.h"
#include "engine/model.h"
#include "testing/engine_harness.h"
#include "testing/event_driver.h"
#include "testing/net_sockets.h"

namespace epoxy::testing {

// The plumbing is EventDriver's (event_driver.h); here only what a group does otherwise: it starts
// with a thread count, and apply_on_free_ports writes the binds it chose back into the spec.
class GroupHarness : public EventDriver<EngineGroup> {
 public:
  EngineGroup& group() { return core(); }

  bool start(uint32_t threads, std::string& error) {
    GroupOptions o;
    o.threads = threads;
    return core().start(o, error);
  }

  // As EngineHarness::apply_on_free_ports: empty binds go on free 127.0.0.1 ports (retried when
  // one was taken meanwhile); the ports chosen, in listener order. The spec keeps the binds.
  std::vector<uint16_t> apply_on_free_ports(SnapshotSpec& spec, std::string& error) {
    return EventDriver::apply_on_free_ports(spec, error, &spec);
  }

  Json stats_json() { return parse_json(stats()); }
};

// ---- reading the group's stats ----

// The part of engine thread `id`; null when that thread did not answer.
inline const Json& thread_part(const Json& stats, uint64_t id) {
  const Json& threads = stats["threads"];
  for (size_t i = 0; i < threads.size(); ++i) {
    if (threads[i]["thread"]["id"].u64() == id && !threads[i]["thread"]["id"].is_null()) return threads[i];
  }
  return Json::null();
}

// The sum over every thread of `get(part)`.
inline uint64_t sum_threads(const Json& stats, const std::function<uint64_t(const Json&)>& get) {
  uint64_t n = 0;
  const Json& threads = stats["threads"];
  for (size_t i = 0; i < threads.size(); ++i) n += get(threads[i]);
  return n;
}

// Server `uid` of pool `pool` (index) in one thread's part; null if it is not listed.
inline const Json& server_in(const Json& part, size_t pool, uint64_t uid) {
  const Json& servers = part["pools"][pool]["servers"];
  for (size_t i = 0; i < servers.size(); ++i) {
    if (servers[i]["uid"].u64() == uid) return servers[i];
  }
  return Json::null();
}

// Names of this process's threads whose name starts with `prefix` (/proc/self/task/*/comm).
inline std::multiset<std::string> thread_names(std::string_view prefix) {
  std::multiset<std::string> names;
  each_thread_name([&](std::string_view name) {
    if (name.substr(0, prefix.size()) == prefix) names.emplace(name);
  });
  return names;
}

// ---- a backend on one thread: "<name>\n" to each connection, then close ----

class Greeter : public LoopbackServer {
 public:
  explicit Greeter(std::string name) : LoopbackServer(listen_loopback(0, 1024)), name_(std::move(name) + "\n") {
    if (listener_) thread_ = std::thread([this] { loop(); });
  }
  ~Greeter() { stop(); }

  void stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
    listener_.reset();
  }

 private:
  void loop() {
    while (!stopping_.load()) {
      Fd c = accept_one();
      if (c) write_all(c.get(), name_);
    }
  }

  std::string name_;
  std::thread thread_;
};

// One line ("" when none came) from a fresh connection to `port`, which then closes.
inline std::string greeting(uint16_t port) {
  Fd c = connect_loopback(port);
  if (!c) return "<refused>";
  std::string line = read_until(c.get(), "\n");
  return line.empty() ? "<none>" : line.substr(0, line.size() - 1);
}

// Failures gathered from helper threads (doctest's assertions belong to the test's thread).
struct Failures {
  std::mutex mu;
  std::vector<std::string> what;
  void add(std::string w) {
    std::lock_guard<std::mutex> lock(mu);
    what.push_back(std::move(w));
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return what.size();
  }
  std::string all() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (size_t i = 0; i < what.size() && i < 20; ++i) out += what[i] + "\n";
    if (what.size() > 20) out += "... " + std::to_string(what.size() - 20) + " more\n";
    return out;
  }
};

}  // namespace epoxy::testing
