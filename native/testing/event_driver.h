// Test-only: drives an engine core from C++ the way native/addon does from JS — specs in, event
// batches out through the wake callback, select requests answered, stats asked for, stop. `Core`
// is epoxy::Engine (one engine thread) or epoxy::EngineGroup (N engine threads, one config): both
// are made with a wake callback and offer apply, take_events, select_replies, request_stats, stop
// and join. EngineHarness (engine_harness.h) and GroupHarness (engine_group_harness.h) are built on
// it and add what differs: how the core starts, its name (engine() / group()), and stats_json()
// (the JSON reader is engine_harness.h's).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/events.h"
#include "engine/model.h"
#include "testing/net_sockets.h"

namespace epoxy::testing {

template <typename Core>
class EventDriver {
 public:
  EventDriver(const EventDriver&) = delete;
  EventDriver& operator=(const EventDriver&) = delete;

  // How many wake-ups the core has sent.
  int wakes() {
    std::lock_guard<std::mutex> lock(mu_);
    return wakes_;
  }

  bool apply(const SnapshotSpec& spec, std::string& error) { return core_->apply(spec, error); }

  // Applies `spec` with every listener whose bind is empty put on a free 127.0.0.1 port;
  // retries on other ports when one was taken meanwhile. The ports chosen, in listener order.
  // `applied`, when given, gets the spec as applied (with the binds chosen) on success.
  std::vector<uint16_t> apply_on_free_ports(const SnapshotSpec& spec, std::string& error,
                                            SnapshotSpec* applied = nullptr) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      SnapshotSpec s = spec;
      std::vector<uint16_t> ports;
      for (ListenerSpec& l : s.listeners) {
        if (l.bind.empty() || l.bind == "127.0.0.1:0") l.bind = "127.0.0.1:" + std::to_string(free_port());
        ports.push_back(static_cast<uint16_t>(atoi(l.bind.c_str() + l.bind.rfind(':') + 1)));
      }
      SnapshotSpec keep;
      if (applied) keep = s;
      error.clear();
      if (core_->apply(std::move(s), error)) {
        if (applied) *applied = std::move(keep);
        return ports;
      }
      if (error.find("Address already in use") == std::string::npos) return {};
    }
    return {};
  }

  // Takes the batches announced so far into seen(); waits until `pred(seen())` holds.
  template <typename Pred>
  bool wait_events(Pred pred, int timeout_ms = kIoTimeoutMs) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      EventBatch b = core_->take_events();
      int seen_wakes;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!b.empty()) seen_.append(std::move(b));
        if (pred(seen_)) return true;
        if (Clock::now() >= deadline) return false;
        seen_wakes = wakes_;
        // The batch may be announced while we were checking: wait for a newer wake-up, and
        // poll anyway now and then (a wake-up is sent only when no batch was waiting).
        cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return wakes_ != seen_wakes; });
      }
    }
  }
  // Takes whatever batches are waiting, without waiting.
  void poll_events() {
    wait_events([](EventBatch&) { return false; }, 0);
  }

  // All events taken so far: read under the harness lock by a wait_events predicate, or after
  // wait_events returns, on the thread that calls it.
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
    if (!pairs.empty()) core_->select_replies(pairs);
    return pairs.size() / 2;
  }

  // Asks for stats and waits for the answer; "" on timeout. Commands are handled in order (by
  // every engine of a group), so an answer also means every command queued before it took
  // effect.
  std::string stats() {
    uint32_t token = next_token_++;
    core_->request_stats(token);
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
  // A barrier: every command queued so far has been handled by the engine thread(s).
  bool sync() { return !stats().empty(); }

  // stop(grace), waits for `stopped` (from every engine of a group), joins. False when
  // `stopped` never came.
  bool stop_and_join(uint32_t grace_ms = 0, int timeout_ms = kIoTimeoutMs) {
    core_->stop(grace_ms);
    bool stopped = wait_events([](EventBatch& b) { return b.stopped; }, timeout_ms);
    core_->join();
    return stopped;
  }

  // Stops (if needed), joins, and destroys the core: every fd it owned is closed after this.
  void shutdown() {
    if (!core_) return;
    core_->stop(0);
    core_->join();
    core_.reset();
  }

 protected:
  EventDriver() : core_(std::make_unique<Core>([this] { on_wake(); })) {}
  ~EventDriver() { shutdown(); }

  Core& core() { return *core_; }

 private:
  void on_wake() {  // an engine thread
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
  std::unique_ptr<Core> core_;  // last: destroyed first, while mu_ and cv_ still exist
};

}  // namespace epoxy::testing
