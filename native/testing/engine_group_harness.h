// Test-only: drives an epoxy::EngineGroup (N engine threads, one config) the way native/addon
// does from JS, beside EngineHarness (engine_harness.h) for one Engine. Its stats come back as
// one record per request, {"threads":[<one engine's stats>, ...]} in the order the engines
// answered; the helpers below read it by thread id. Plus a greeter: a backend on one thread
// that writes its name to each connection and closes it (no thread per connection, for tests
// that open hundreds).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/events.h"
#include "engine/group.h"
#include "engine/model.h"
#include "testing/engine_harness.h"
#include "testing/net_sockets.h"

namespace epoxy::testing {

class GroupHarness {
 public:
  GroupHarness() : group_(std::make_unique<EngineGroup>([this] { on_wake(); })) {}
  ~GroupHarness() { shutdown(); }
  GroupHarness(const GroupHarness&) = delete;
  GroupHarness& operator=(const GroupHarness&) = delete;

  EngineGroup& group() { return *group_; }

  bool start(uint32_t threads, std::string& error) {
    GroupOptions o;
    o.threads = threads;
    return group_->start(o, error);
  }

  // As EngineHarness::apply_on_free_ports: empty binds go on free 127.0.0.1 ports (retried when
  // one was taken meanwhile); the ports chosen, in listener order. The spec keeps the binds.
  std::vector<uint16_t> apply_on_free_ports(SnapshotSpec& spec, std::string& error) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      SnapshotSpec s = spec;
      std::vector<uint16_t> ports;
      for (ListenerSpec& l : s.listeners) {
        if (l.bind.empty() || l.bind == "127.0.0.1:0") l.bind = "127.0.0.1:" + std::to_string(free_port());
        ports.push_back(static_cast<uint16_t>(atoi(l.bind.c_str() + l.bind.rfind(':') + 1)));
      }
      SnapshotSpec keep = s;
      error.clear();
      if (group_->apply(std::move(s), error)) {
        spec = std::move(keep);
        return ports;
      }
      if (error.find("Address already in use") == std::string::npos) return {};
    }
    return {};
  }

  bool apply(const SnapshotSpec& spec, std::string& error) { return group_->apply(spec, error); }

  // Takes the batches announced so far into seen(); waits until `pred(seen())` holds.
  template <typename Pred>
  bool wait_events(Pred pred, int timeout_ms = kIoTimeoutMs) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      EventBatch b = group_->take_events();
      int seen_wakes;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!b.empty()) seen_.append(std::move(b));
        if (pred(seen_)) return true;
        if (Clock::now() >= deadline) return false;
        seen_wakes = wakes_;
        cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return wakes_ != seen_wakes; });
      }
    }
  }
  // Takes whatever batches are waiting, without waiting.
  void poll_events() {
    wait_events([](EventBatch&) { return false; }, 0);
  }

  // All events taken so far (read after wait_events returns, on the thread that calls it).
  EventBatch& seen() { return seen_; }

  // Select requests not answered yet are answered: `answer(token)` gives the target. Waits up
  // to `wait_ms` for one to come. Returns how many were answered.
  size_t answer_selects(const std::function<uint32_t(uint32_t token)>& answer, int wait_ms) {
    wait_events([&](EventBatch& b) { return b.selects.size() > answered_ * EventBatch::kSelectRecord; }, wait_ms);
    std::vector<uint32_t> pairs;
    for (; (answered_ + 1) * EventBatch::kSelectRecord <= seen_.selects.size(); ++answered_) {
      uint32_t token = seen_.selects[answered_ * EventBatch::kSelectRecord];
      pairs.insert(pairs.end(), {token, answer(token)});
    }
    if (!pairs.empty()) group_->select_replies(pairs);
    return pairs.size() / 2;
  }

  // The group's stats record for one request; "" on timeout. Every engine has handled every
  // command queued before it once this returns.
  std::string stats() {
    uint32_t token = next_token_++;
    group_->request_stats(token);
    std::string out;
    wait_events([&](EventBatch& b) {
      for (auto& [t, json] : b.stats) {
        if (t == token) {
          out = json;
          return true;
        }
      }
      return false;
    });
    return out;
  }
  Json stats_json() { return parse_json(stats()); }
  // A barrier: every command queued so far has been handled by every engine thread.
  bool sync() { return !stats().empty(); }

  // stop(grace), waits for `stopped` (every engine stopped), joins. False when it never came.
  bool stop_and_join(uint32_t grace_ms = 0, int timeout_ms = kIoTimeoutMs) {
    group_->stop(grace_ms);
    bool stopped = wait_events([](EventBatch& b) { return b.stopped; }, timeout_ms);
    group_->join();
    return stopped;
  }

  // Stops (if needed), joins and destroys the group: every fd it owned is closed after this.
  void shutdown() {
    if (!group_) return;
    group_->stop(0);
    group_->join();
    group_.reset();
  }

 private:
  void on_wake() {  // some engine thread
    std::lock_guard<std::mutex> lock(mu_);
    ++wakes_;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int wakes_ = 0;
  EventBatch seen_;
  size_t answered_ = 0;
  uint32_t next_token_ = 1;
  std::unique_ptr<EngineGroup> group_;  // last: destroyed first, while mu_ and cv_ still exist
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
  DIR* d = opendir("/proc/self/task");
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    FILE* f = fopen(path.c_str(), "re");
    if (!f) continue;
    char name[64] = {0};
    if (fgets(name, sizeof name, f)) {
      std::string n(name);
      while (!n.empty() && n.back() == '\n') n.pop_back();
      if (n.compare(0, prefix.size(), prefix) == 0) names.insert(n);
    }
    fclose(f);
  }
  closedir(d);
  return names;
}

// ---- a backend on one thread: "<name>\n" to each connection, then close ----

class Greeter {
 public:
  explicit Greeter(std::string name) : name_(std::move(name) + "\n"), listener_(listen_loopback(0, 1024)) {
    port_ = listener_ ? local_port(listener_.get()) : 0;
    if (listener_) thread_ = std::thread([this] { loop(); });
  }
  ~Greeter() { stop(); }
  Greeter(const Greeter&) = delete;
  Greeter& operator=(const Greeter&) = delete;

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

  void stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
    listener_.reset();
  }

 private:
  void loop() {
    while (!stopping_.load()) {
      if (!wait_readable(listener_.get(), 20)) continue;
      Fd c(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      set_io_timeouts(c.get());
      ++accepted_;
      write_all(c.get(), name_);
    }
  }

  std::string name_;
  Fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
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
