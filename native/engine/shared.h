// Process-wide state: what every engine thread must see the same way so that limits and
// balancers stay exact across threads (design.md, "Threads"). Everything else an engine owns
// alone. Each field says who writes it and how; none is reached by a lookup on the request
// path — an engine's Server, Pool and Listener objects hold shared_ptrs to theirs, handed out
// by SharedState when the engine builds them (apply, add server: the control path).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace epoxy {

// One per server uid. alignas: servers written by different threads stay on their own lines.
struct alignas(64) ServerShared {
  // Sessions using the server (TCP connections, HTTP requests in flight) over all threads.
  // Every engine thread: fetch_add, or a compare-and-swap below maxconn (Server::acquire);
  // fetch_sub on release. Relaxed: it counts, it publishes no data.
  std::atomic<uint32_t> active{0};
  // Passive health: no new sessions before this monotonic time (ms; 0: not ejected). Written by
  // the thread whose traffic ejects the server (compare-and-swap, so one thread reports it) and
  // cleared by that thread's timer; read by every thread when it picks.
  std::atomic<int64_t> ejected_until{0};
  // HTTP: idle connections to it kept for reuse, over all threads (engine.serverIdleMax bounds
  // them). Every engine thread: a compare-and-swap below the bound to keep one, fetch_sub when
  // one leaves its idle list.
  std::atomic<uint32_t> idle{0};
  // Smooth weighted round robin's running score over all threads, so N threads pick in one
  // smooth sequence as one thread would. Guarded by its pool's PoolShared::rr_mu.
  int64_t rr_current = 0;
  // Passive health: the times of the last `errors` errors seen in traffic on any thread (a
  // ring), so N threads eject after as many errors as one would. Errors are the rare path.
  std::mutex errors_mu;
  std::vector<int64_t> recent_errors;  // guarded by errors_mu
  size_t recent_errors_next = 0;       // guarded by errors_mu

  bool try_keep_idle(uint32_t max) {
    uint32_t n = idle.load(std::memory_order_relaxed);
    while (n < max) {
      if (idle.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  void idle_left(uint32_t n = 1) { idle.fetch_sub(n, std::memory_order_relaxed); }

  // Records an error at `now`; true when it is the `errors`-th within `window_ms`.
  bool note_error(int64_t now, uint32_t errors, uint32_t window_ms) {
    std::lock_guard<std::mutex> lock(errors_mu);
    if (recent_errors.size() != errors) {
      recent_errors.assign(errors, 0);
      recent_errors_next = 0;
    }
    recent_errors[recent_errors_next] = now;
    recent_errors_next = (recent_errors_next + 1) % recent_errors.size();
    int64_t oldest = recent_errors[recent_errors_next];  // the slot written `errors` errors ago
    return oldest != 0 && now - oldest <= static_cast<int64_t>(window_ms);
  }
  void forget_errors() {
    std::lock_guard<std::mutex> lock(errors_mu);
    std::fill(recent_errors.begin(), recent_errors.end(), 0);
  }
};

// One per listener bind.
struct alignas(64) ListenerShared {
  // Client connections open on this listener over all threads. A slot is reserved before
  // accept4() (try_reserve) and freed when the session closes, so maxconn is never exceeded.
  std::atomic<uint32_t> active{0};
  // Some thread stopped accepting because the listener was at its maxconn; the thread that
  // frees a slot tells them all (EngineCommand ListenerSlot). Set by the starved thread, cleared
  // by the one that wakes them (exchange). seq_cst, as the freeing fetch_sub of `active`, the
  // load of `starved` after it and try_reserve's reads: a slot freed and a thread starving at
  // once never both miss each other (a store-buffer pattern; free on x86).
  std::atomic<bool> starved{false};

  bool try_reserve(uint32_t maxconn) {
    uint32_t a = active.load(std::memory_order_seq_cst);
    while (maxconn == 0 || a < maxconn) {
      if (active.compare_exchange_weak(a, a + 1, std::memory_order_seq_cst)) return true;
    }
    return false;
  }
};

// A session waiting for a server under its maxconn, somewhere in the process.
struct Waiter {
  uint64_t seq = 0;     // arrival order over all threads
  uint32_t engine = 0;  // the engine thread that owns the session
  uint64_t key = 0;     // the session's key there
  uint32_t server = 0;  // uid of the one server it waits for (forced or hashed); 0: any
};

// One per pool uid: its queue, one FIFO for the whole process, so a slot freed on one thread
// goes to the oldest waiter wherever it is.
struct PoolShared {
  // Sessions queued, or handed their turn and not yet done with it, over all threads. A new
  // session that finds it non-zero queues behind them instead of taking a free slot.
  // Written under `mu` (with the entries) or by the owning thread when its session leaves.
  std::atomic<uint32_t> waiting{0};
  std::atomic<uint64_t> next_seq{1};
  // Turns handed out whose holders have not yet taken a slot or given up: a slot promised to
  // one of them is not free for the next waiter, or a later waiter on a quicker thread would
  // take it first. Incremented under `mu` by the thread that hands the turn, decremented by the
  // holder's thread once its try is over.
  std::atomic<uint32_t> turns{0};
  // Round robin picks: held for one pick (a pass over the pool's servers). Not taken by the
  // other balancers, which read the atomics above.
  std::mutex rr_mu;

  std::mutex mu;               // guards `waiters`; taken only while a queue exists
  std::deque<Waiter> waiters;  // oldest first

  // Puts `w` at its place by seq: at the back when new, near the front when it comes back
  // from a turn it could not use.
  void insert(const Waiter& w) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = waiters.end();
    while (it != waiters.begin() && std::prev(it)->seq > w.seq) --it;
    waiters.insert(it, w);
  }
  // Takes the entry of a session that leaves the queue (timed out, closed); false when it was
  // not there (handed a turn meanwhile).
  bool erase(uint32_t engine, uint64_t key) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = waiters.begin(); it != waiters.end(); ++it) {
      if (it->engine == engine && it->key == key) {
        waiters.erase(it);
        return true;
      }
    }
    return false;
  }
};

// The registry the engines of one group (one process's proxy) share: the objects above by
// identity. Engines call it while building their runtime objects from a spec — rarely, under
// a lock. Entries live as long as some engine holds them.
class SharedState {
 public:
  std::shared_ptr<ServerShared> server(uint32_t uid) { return servers_.get(mu_, uid); }
  std::shared_ptr<PoolShared> pool(uint32_t uid) { return pools_.get(mu_, uid); }
  std::shared_ptr<ListenerShared> listener(const std::string& bind) { return listeners_.get(mu_, bind); }

 private:
  template <typename Key, typename T>
  struct Registry {
    std::unordered_map<Key, std::weak_ptr<T>> map;
    size_t prune_at = 64;  // entries of objects every engine dropped go when the map doubles

    std::shared_ptr<T> get(std::mutex& mu, const Key& key) {
      std::lock_guard<std::mutex> lock(mu);
      if (map.size() >= prune_at) {
        for (auto it = map.begin(); it != map.end();) it = it->second.expired() ? map.erase(it) : std::next(it);
        prune_at = 2 * map.size() + 64;
      }
      std::shared_ptr<T> p = map[key].lock();
      if (!p) {
        p = std::make_shared<T>();
        map[key] = p;
      }
      return p;
    }
  };

  std::mutex mu_;
 public:
  // Log lines the engines dropped because JS fell behind, over all threads: each engine's
  // warning reports this total. Written under the dropping engine's outbox lock (fetch_add).
  std::atomic<uint64_t> logs_dropped{0};
  // Drops not yet reported: set by a dropping engine, taken (exchange) by the first engine that
  // flushes to an empty outbox, which warns with the total.
  std::atomic<bool> unreported_drops{false};
  // Sessions moving bulk data, over all threads: each engine adds the change of its own count
  // (busy sessions while its turns splice in bulk, else 0) when that count changes — a few
  // times per activity window, not per event — so an engine left with one bulk session of a
  // process-wide load still coalesces its wake-ups (should_coalesce). Read relaxed.
  alignas(64) std::atomic<int32_t> bulk_sessions{0};

 private:
  Registry<uint32_t, ServerShared> servers_;
  Registry<uint32_t, PoolShared> pools_;
  Registry<std::string, ListenerShared> listeners_;
};

}  // namespace epoxy
