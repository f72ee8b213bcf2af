// The engines of one proxy, one per thread (engine.threads), serving one config: what the
// addon drives. Every engine has its own epoll loop, its own SO_REUSEPORT listening socket per
// listener, its sessions, timers, pools of buffers and pipes, and idle server connections; they
// share only the immutable spec of each snapshot and the process-wide state of shared.h.
//
// Accepting: one SO_REUSEPORT socket per thread per listener, chosen over one shared socket
// (EPOLLEXCLUSIVE or not) by measurement (bench/accept-balance, 2 vCPUs, 4 threads, largest
// share of one thread, median of 6 runs): 1,000 sequential short connections 26.6 % with
// reuseport vs 74.9 % EPOLLEXCLUSIVE vs 32.1 % shared; 1,000 from 50 clients 26.9 / 27.6 / 27.4 %
// (shared up to 44 %); 100 long connections 31.0 / 70.5 / 46.5 %. EPOLLEXCLUSIVE wakes the first
// idle thread in registration order, so an idle-ish proxy hands it everything; the kernel's
// hash of the client's address and port does not care which thread is idle. Its cost is at
// reload: a closed reuseport socket resets the connections queued on it, so kept listeners
// keep their sockets, and a listener a reload removes drains its queue before it closes
// (Engine::rebuild_listeners; measured: 42–50 of 200 queued clients reset without the drain,
// 0 with it); net.ipv4.tcp_migrate_req=1 moves the rest to the other sockets (docs).
//
// Commands fan out to every engine's queue at once; each applies them at its next loop turn
// (microseconds when idle; a busy turn is bounded by 256 events and 128 accepts per listener),
// so a change is in force on every thread within one turn of each.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.h"
#include "shared.h"

namespace epoxy {

struct GroupOptions {
  uint32_t threads = 1;  // 1–64
  std::vector<int> cpus;  // thread i pinned to cpus[i % size]; empty: no pinning
};

class EngineGroup {
 public:
  static constexpr uint32_t kMaxThreads = 64;

  // `wake` runs on some engine thread when events wait for JS and no wake-up is on its way.
  explicit EngineGroup(std::function<void()> wake);
  ~EngineGroup();
  EngineGroup(const EngineGroup&) = delete;
  EngineGroup& operator=(const EngineGroup&) = delete;

  // ---- control thread (the same API as one Engine) ----
  bool start(const GroupOptions& options, std::string& error);
  bool apply(SnapshotSpec spec, std::string& error);
  // Snapshots some engine has not taken yet (the most over the engines); 0: all in force.
  uint64_t pending_applies() const;
  bool add_server(uint32_t pool_uid, ServerSpec server, std::string& error);
  void remove_server(uint32_t uid);
  void update_server(const ServerUpdate& update);
  // Every engine applies the same batch to its own copy of the map (no state shared).
  void set_hosts(uint32_t map_uid, std::shared_ptr<const HostBatch> batch);
  // (token, target) pairs; each goes to the engine its token names.
  void select_replies(const std::vector<uint32_t>& pairs);
  // Every engine answers; the batch carries one stats record once all have: {"threads":[...]}.
  void request_stats(uint32_t token);
  void stop(uint32_t grace_ms);
  void join();
  // Events of every engine since the last call; `stopped` once every engine has stopped.
  EventBatch take_events();
  size_t threads() const { return engines_.size(); }

 private:
  void merge(EventBatch& out, EventBatch&& part, size_t engine);

  std::function<void()> wake_;
  std::shared_ptr<SharedState> shared_ = std::make_shared<SharedState>();
  std::vector<std::unique_ptr<Engine>> engines_;
  // A wake-up is on its way to JS. Set by the engine thread that sends it (exchange), cleared by
  // take_events before it takes the engines' events, so an event is never left without one.
  std::atomic<bool> scheduled_{false};

  // control thread only
  std::set<std::string> bound_;
  std::set<std::string> released_;  // see settle_released (engine.h)

  // the thread that calls take_events (JS) only
  std::unordered_map<uint32_t, std::vector<std::string>> stats_parts_;
  std::vector<bool> stopped_;
};

}  // namespace epoxy
