#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "../core/clock.h"
#include "http_session.h"
#include "tcp_session.h"

namespace epoxy {

namespace {
constexpr int kMaxEvents = 256;
// A turn that served at least this many events needs no pause: its wake-up was shared already.
constexpr int kCoalescedBatch = 32;
// Pauses gathering fewer events than this on average are not worth their latency; coalescing
// then rests this long.
constexpr double kMinGathered = 12;
constexpr int64_t kCoalesceRestMs = 16;
// A turn that spliced this much is moving bulk data: there a pause gathers bytes, not events —
// each wake-up then moves more per splice (1 MiB responses: 0.28 → 0.17 CPU s/GB).
constexpr uint64_t kBulkTurnBytes = 65536;
// ... but not for a lone client: one download at a time waits out every pause (1 MiB at c=1:
// 1,310 → 1,050 req/s), while two or more keep the pipes busy during it (c=2: 1,440 → 1,830).
// Counted over the process: with threads, an engine may hold one download of several.
constexpr int32_t kBulkMinSessions = 2;
}  // namespace

Engine::Engine(std::function<void()> wake) : wake_(std::move(wake)) {
  // Alone until a group links it: a group of one.
  links_.shared = std::make_shared<SharedState>();
  links_.peers = {this};
}

Engine::~Engine() {
  if (thread_.joinable()) {
    stop(0);
    join();
  }
}

bool Engine::start(std::string& error) {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_ || !commands_.ok()) {
    error = std::string("epoll/eventfd: ") + strerror(errno);
    return false;
  }
  register_fd(commands_.fd(), kTagControl);
  now_ = monotonic_ms();
  thread_ = std::thread([this] { run(); });
  // Named and pinned from here, before start() returns, so whoever looks next sees it:
  // epoxy-engine-<i> for top -H, perf and tests.
  std::string name = "epoxy-engine-" + std::to_string(links_.index);
  pthread_setname_np(thread_.native_handle(), name.c_str());
  if (links_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(links_.cpu, &set);
    pthread_setaffinity_np(thread_.native_handle(), sizeof set, &set);  // checked by the control plane
  }
  started_ = true;
  return true;
}

void Engine::register_fd(int fd, uint64_t key) {
  // Registered once for everything, edge-triggered: no epoll_ctl churn as interest changes.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = key;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

// ---- control thread ----

void Engine::remove_server(uint32_t uid) {
  Command c;
  c.kind = Command::Kind::RemoveServer;
  c.number = uid;
  commands_.push(std::move(c));
}

void Engine::set_hosts(uint32_t map_uid, std::shared_ptr<const HostBatch> batch) {
  Command c;
  c.kind = Command::Kind::SetHosts;
  c.number = map_uid;
  c.hosts = std::move(batch);
  commands_.push(std::move(c));
}

void Engine::select_replies(std::vector<uint32_t> pairs) {
  Command c;
  c.kind = Command::Kind::SelectReplies;
  c.replies = std::move(pairs);
  commands_.push(std::move(c));
}

void Engine::request_stats(uint32_t token) {
  Command c;
  c.kind = Command::Kind::Stats;
  c.number = token;
  commands_.push(std::move(c));
}

void Engine::stop(uint32_t grace_ms) {
  Command c;
  c.kind = Command::Kind::Stop;
  c.number = grace_ms;
  commands_.push(std::move(c));
}

void Engine::join() {
  if (thread_.joinable()) thread_.join();
}

EventBatch Engine::take_events() {
  std::lock_guard<std::mutex> lock(out_mu_);
  EventBatch out = std::move(outbox_);
  outbox_ = EventBatch{};
  scheduled_ = false;
  return out;
}

// ---- engine thread ----

void Engine::run() {
  epoll_event events[kMaxEvents];
  int n = 0;
  while (!exit_) {
    bool more = !ready_sessions_.empty() || listeners_ready_ || !queue_service_.empty();
    if (!more && should_coalesce(n)) pause_to_coalesce();
    int timeout = more ? 0 : timers_.timeout_from(now_);
    if (stopping_ && !more) {
      int64_t left = stop_deadline_ - now_;
      if (timeout < 0 || left < timeout) timeout = left > 0 ? static_cast<int>(left) : 0;
    }
    n = epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
    now_ = monotonic_ms();
    if (paused_) after_coalesce_pause(n);
    ++totals_.loop_iterations;
    for (int i = 0; i < n; ++i) dispatch(events[i]);
    run_ready_lists();
    note_bulk_turn();
    run_timers();
    if (should_exit()) exit_ = true;
    flush_events();
  }
  // Whatever remains is cut: grace is over.
  sessions_.clear();
  conns_.clear();
  listeners_.clear();
  pending_.stopped = true;
  flush_events();
}

// Under load every epoll_wait would otherwise return after a handful of events, and each return
// is a sleep and a wake-up paid by us and by the peer that woke us (measured: 0.29 voluntary
// context switches per request against haproxy's 0.13). Sleeping briefly after a small batch
// lets the next one gather — interrupt moderation, as NICs do it. Only while many sessions are
// busy at once, where a request already waits behind others for longer than the pause, or
// while bulk data is moving, where a wake-up per socket-buffer's worth is the cost to cut.
bool Engine::should_coalesce(int last_events) {
  if (!snapshot_ || stopping_ || last_events <= 0 || last_events >= kCoalescedBatch) return false;
  const Tuning& t = snapshot_->tuning;
  if (t.coalesce_us == 0) return false;
  uint32_t busy = activity_.active(now_);
  if (bulk_turn_ && bulk_sessions(busy) >= kBulkMinSessions) return true;
  return now_ >= coalesce_rest_until_ && busy >= t.coalesce_sessions;
}

// Alone: its own count; in a group: the process's (see SharedState::bulk_sessions).
int32_t Engine::bulk_sessions(uint32_t busy) const {
  if (links_.peers.size() <= 1 || static_cast<int32_t>(busy) >= kBulkMinSessions) return static_cast<int32_t>(busy);
  return links_.shared->bulk_sessions.load(std::memory_order_relaxed);
}

void Engine::note_bulk_turn() {
  uint64_t out = pipes_.bytes_out();
  bulk_turn_ = out - spliced_mark_ >= kBulkTurnBytes;
  spliced_mark_ = out;
  if (links_.peers.size() <= 1) return;
  int32_t mine = bulk_turn_ ? static_cast<int32_t>(activity_.active(now_)) : 0;
  if (mine == bulk_published_) return;
  links_.shared->bulk_sessions.fetch_add(mine - bulk_published_, std::memory_order_relaxed);
  bulk_published_ = mine;
}

void Engine::pause_to_coalesce() {
  uint32_t us = snapshot_->tuning.coalesce_us;
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
  paused_ = true;
  ++totals_.coalesce_pauses;
}

// Pauses that gather few events (on average; one thin turn says little) mean the load is spread
// thin — many clients, few requests each — where pausing would only add latency: coalescing
// rests for a while, then tries one pause again.
void Engine::after_coalesce_pause(int gathered) {
  paused_ = false;
  if (gathered > 0) totals_.coalesced_events += static_cast<uint64_t>(gathered);
  // bulk_turn_ still describes the turn before the pause (note_bulk_turn runs after dispatch).
  if (bulk_turn_) return;  // judged by bytes, not events
  gathered_avg_ += (gathered - gathered_avg_) / 8.0;
  if (gathered_avg_ < kMinGathered) coalesce_rest_until_ = now_ + kCoalesceRestMs;
}

void Engine::dispatch(const epoll_event& ev) {
  uint64_t data = ev.data.u64;
  auto tag = static_cast<KeyTag>(data & 3);
  uint64_t key = data >> 2;
  switch (tag) {
    case kTagControl:
      handle_commands();
      return;
    case kTagListener:
      for (auto& l : listeners_) {
        if (l->id == key) {
          l->readable = true;
          if (!l->paused) accept_ready(*l);
        }
      }
      return;
    case kTagClient:
      // An unknown key is a session closed earlier in this batch: the event is stale.
      with_session(key, [&](Session& s) {
        activity_.note(s.activity_mark, now_);
        s.on_client_event(ev.events);
      });
      return;
    case kTagServer:
      if (key & kConnKeyBit) {
        on_conn_event(key, ev.events);
      } else {
        with_session(key, [&](Session& s) { s.on_server_event(ev.events); });
      }
      return;
  }
}

void Engine::handle_commands() {
  for (Command& c : commands_.take()) handle_command(c);
}

void Engine::handle_command(Command& c) {
  switch (c.kind) {
    case Command::Kind::Apply:
      apply_snapshot(c);
      return;
    case Command::Kind::AddServer:
      apply_add_server(c);
      return;
    case Command::Kind::RemoveServer:
      apply_remove_server(c.number);
      return;
    case Command::Kind::UpdateServer:
      apply_update_server(c.update);
      return;
    case Command::Kind::SetHosts:
      apply_set_hosts(c);
      return;
    case Command::Kind::SelectReplies:
      handle_select_replies(c.replies);
      return;
    case Command::Kind::Stats:
      pending_.stats.emplace_back(c.number, stats_json());
      return;
    case Command::Kind::Stop:
      stop_now(c.number);
      return;
    case Command::Kind::Dequeue:
      apply_dequeue(c);
      return;
    case Command::Kind::ListenerSlot:
      listeners_ready_ = true;
      return;
  }
}

void Engine::stop_now(uint32_t grace_ms) {
  listeners_.clear();  // closing a listening socket also takes it out of epoll
  listeners_ready_ = false;
  if (!stopping_ || now_ + grace_ms < stop_deadline_) stop_deadline_ = now_ + grace_ms;
  stopping_ = true;
  for (uint64_t key : sessions_.keys()) with_session(key, [](Session& s) { s.on_stop(); });
}

bool Engine::should_exit() { return stopping_ && (sessions_.size() == 0 || now_ >= stop_deadline_); }

void Engine::run_ready_lists() {
  if (!queue_service_.empty()) service_queues();
  if (listeners_ready_) {
    listeners_ready_ = false;
    listeners_full_ = false;
    for (auto& l : listeners_) {
      if (l->readable && !l->paused) accept_ready(*l);
    }
  }
  if (ready_sessions_.empty()) return;
  std::vector<uint64_t> batch;
  batch.swap(ready_sessions_);
  for (uint64_t key : batch) {
    with_session(key, [](Session& s) {
      s.in_ready_list = false;
      s.run();
    });
  }
}

void Engine::mark_ready(Session& s) {
  if (s.in_ready_list) return;
  s.in_ready_list = true;
  ready_sessions_.push_back(s.key());
}

void Engine::schedule_session_timer(Session& s, int64_t when) { timers_.schedule(when, tag_key(s.key(), kTagClient)); }

void Engine::run_timers() {
  TimerEntry e;
  while (timers_.pop_due(now_, e)) {
    auto tag = static_cast<KeyTag>(e.key & 3);
    uint64_t key = e.key >> 2;
    if (tag == kTagServer) {
      on_conn_timer(key, e.when);
      continue;
    }
    if (tag == kTagControl) {
      on_server_timer(static_cast<uint32_t>(key), e.when);
      continue;
    }
    if (tag == kTagListener) {
      for (auto& l : listeners_) {
        if (l->id == key && l->paused) {
          l->paused = false;
          accept_ready(*l);
        }
      }
      continue;
    }
    with_session(key, [&](Session& s) {
      if (s.timer_at != e.when) return;  // stale entry (lazy cancellation)
      s.timer_at = 0;
      s.on_timer();
    });
  }
}

std::unique_ptr<HttpTx> Engine::acquire_tx() {
  if (free_txs_.empty()) {
    return std::make_unique<HttpTx>(buffers_, pipes_, snapshot_ ? snapshot_->tuning.splice_threshold : 16384);
  }
  std::unique_ptr<HttpTx> tx = std::move(free_txs_.back());
  free_txs_.pop_back();
  return tx;
}

void Engine::release_tx(std::unique_ptr<HttpTx> tx) {
  constexpr size_t kMaxFreeTx = 1024;
  tx->reset();
  if (free_txs_.size() < kMaxFreeTx) free_txs_.push_back(std::move(tx));
}

uint32_t Engine::park_for_select(Session& s, const std::string_view* parts, size_t count) {
  uint32_t token = (links_.index << kTokenEngineShift) | next_token_;
  next_token_ = (next_token_ + 1) & kTokenLocalMask;
  if (next_token_ == 0) next_token_ = 1;
  parked_[token] = s.key();
  const SockAddr& peer = s.peer();
  auto [it, inserted] = pending_addresses_.try_emplace(peer.host(), static_cast<uint32_t>(pending_.addresses.size()));
  if (inserted) pending_.addresses.push_back(it->first);
  uint32_t req = EventBatch::kNoRequest;
  if (count > 0) {
    req = static_cast<uint32_t>(pending_.requests.size());
    for (size_t i = 0; i < count; ++i) pending_.requests.emplace_back(parts[i]);
  }
  pending_.selects.insert(pending_.selects.end(), {token, s.listener_index(), it->second, peer.port(), req});
  return token;
}

Session* Engine::find_session(uint64_t key) { return sessions_.find(key); }

void Engine::free_session(Session& s) { sessions_.erase(s.key()); }

void Engine::handle_select_replies(const std::vector<uint32_t>& pairs) {
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    auto it = parked_.find(pairs[i]);
    if (it == parked_.end()) continue;  // timed out or closed meanwhile
    uint64_t key = it->second;
    parked_.erase(it);
    if (!find_session(key)) continue;
    uint32_t target = pairs[i + 1];
    uint32_t uid = target & kTargetUidMask;
    std::shared_ptr<Pool> pool;
    std::shared_ptr<Server> server;
    if (target & kTargetServerFlag) {
      auto sv = servers_by_uid_.find(uid);
      if (sv != servers_by_uid_.end() && !sv->second->removed) {
        server = sv->second;
        pool = pools_by_uid_[server->pool->uid];
      }
    } else if (target & kTargetPoolFlag) {
      auto pv = pools_by_uid_.find(uid);
      if (pv != pools_by_uid_.end()) pool = pv->second;
    }
    with_session(key, [&](Session& s) { s.on_select(std::move(pool), std::move(server)); });
  }
}

// Access and engine log lines wait for JS in the outbox; a JS thread that falls behind must not
// grow it without bound, so lines beyond the cap are dropped, counted, and reported once JS
// catches up. Called with out_mu_ held.
void Engine::drop_logs_beyond_cap() {
  // The cap is the process's: each of N threads holds its share.
  const size_t kMaxQueuedLogs = 100000 / links_.peers.size();
  size_t queued = outbox_.logs.size();
  size_t room = queued >= kMaxQueuedLogs ? 0 : kMaxQueuedLogs - queued;
  if (pending_.logs.size() > room) {
    totals_.logs_dropped += pending_.logs.size() - room;
    links_.shared->logs_dropped.fetch_add(pending_.logs.size() - room, std::memory_order_relaxed);
    pending_.logs.resize(room);
    links_.shared->unreported_drops.store(true);
  } else if (queued == 0 && links_.shared->unreported_drops.load(std::memory_order_relaxed) &&
             links_.shared->unreported_drops.exchange(false)) {
    // Whichever thread finds JS caught up first reports the drops of every thread.
    pending_.logs.push_back("{\"level\":\"warn\",\"msg\":\"log lines dropped: JS fell behind\",\"droppedSoFar\":" +
                            std::to_string(links_.shared->logs_dropped.load(std::memory_order_relaxed)) + "}");
  }
}

void Engine::flush_events() {
  pending_addresses_.clear();
  if (pending_.empty()) {
    pending_.addresses.clear();
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    drop_logs_beyond_cap();
    outbox_.append(std::move(pending_));
    wake = !scheduled_;
    scheduled_ = true;
  }
  pending_ = EventBatch{};
  if (wake) {
    ++totals_.js_wakeups;
    wake_();
  }
}

}  // namespace epoxy
