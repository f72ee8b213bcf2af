#include "session.h"

#include <sys/epoll.h>

#include <algorithm>

#include "engine.h"

namespace epoxy {

void Endpoint::note(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
  if (events & (EPOLLHUP | EPOLLERR)) hangup = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) fin = true;
}

Session::Session(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot, uint32_t listener_index,
                 Fd client, const SockAddr& peer)
    : engine_(engine),
      key_(key),
      snapshot_(std::move(snapshot)),
      listener_index_(listener_index),
      listener_counters_(snapshot_->listeners[listener_index].counters),
      listener_shared_(snapshot_->listeners[listener_index].shared),
      peer_(peer) {
  client_.fd = std::move(client);
  accepted_at_ = engine_.now();
  awaiting_proxy_ = listener().accept_proxy.enabled;
  ++listener_counters_->accepted;
  ++listener_counters_->active;
  ++engine_.totals().accepted;
  ++engine_.totals().active;
}

Session::~Session() { mark_closed(); }

void Session::mark_closed() {
  if (closed_) return;
  closed_ = true;
  if (select_token_ != 0) engine_.parked_.erase(select_token_);
  select_token_ = 0;
  leave_queue();
  --listener_counters_->active;
  if (listener_shared_) {
    listener_shared_->active.fetch_sub(1, std::memory_order_seq_cst);  // see ListenerShared::starved
    engine_.listener_slot_freed(*listener_shared_);
  }
  --engine_.totals().active;
}

bool Session::enqueue(const std::shared_ptr<Pool>& pool, uint32_t server) {
  PoolShared& q = *pool->shared;
  if (queued_pool_) {
    // Back from a turn it could not use: the same place in the line.
    if (!in_line_) {
      wait_for_ = server;
      q.insert({queue_seq_, engine_.index(), key_, wait_for_});
      in_line_ = true;
      // A slot freed on another thread while this session held its turn was offered to a line
      // without it: look again (see below).
      engine_.request_queue_service(pool);
    }
    return true;
  }
  if (q.waiting.load(std::memory_order_relaxed) >= pool->queue_limit) {
    ++pool->queue_full;
    return false;
  }
  if (queued_since_ == 0) {
    queued_since_ = engine_.now();
    queue_seq_ = q.next_seq.fetch_add(1, std::memory_order_relaxed);
    ++pool->queued_total;
  }
  queued_pool_ = pool.get();
  ++pool->queued;
  q.waiting.fetch_add(1, std::memory_order_seq_cst);  // see Server::release
  wait_for_ = server;
  q.insert({queue_seq_, engine_.index(), key_, wait_for_});
  in_line_ = true;
  arm_timer();
  // The pick that found the servers full ran before `waiting` counted this session: a slot
  // freed on another thread in between saw no one waiting and serviced nothing. Service the
  // line once now that the session is in it (free_slots reads the counts afresh).
  engine_.request_queue_service(pool);
  return true;
}

void Session::leave_queue() {
  if (!queued_pool_) return;
  PoolShared& q = *queued_pool_->shared;
  if (in_line_) q.erase(engine_.index(), key_);
  in_line_ = false;
  q.waiting.fetch_sub(1, std::memory_order_relaxed);
  --queued_pool_->queued;
  queued_pool_ = nullptr;
}

int64_t Session::queue_deadline() const {
  return queued_pool_ ? queued_since_ + queued_pool_->queue_timeout_ms : 0;
}

bool Session::queue_expired() const { return queued_pool_ && engine_.now() >= queue_deadline(); }

void Session::arm_timer() {
  int64_t d = deadline();
  if (d == 0) return;
  if (timer_at == 0 || d < timer_at) {
    timer_at = d;
    engine_.schedule_session_timer(*this, d);
  }
}

namespace {
// May take this session now (maxconn aside): available and not tried already.
bool untried_available(const Server& s, int64_t now, const std::vector<uint32_t>& tried) {
  return s.available(now) && std::find(tried.begin(), tried.end(), s.uid) == tried.end();
}
}  // namespace

namespace {
// A host map entry applies to picks in its map's pool only (a hook may send the request to
// another pool).
bool subset_of(const HostTarget* host, const Pool& pool) {
  return host && host->entry && host->map && host->map->pool.get() == &pool;
}

// The pick among a host map entry's servers. Nothing eligible but some usable server full:
// wait for that one (wait_for), so the line wakes this session only when a server it may use
// frees a slot — waiting for "any" would hand it turns for servers outside its subset, which
// it would give back at once, over and over.
Pick pick_in_entry(Pool& pool, const HostTarget& host, int64_t now, const std::vector<uint32_t>& tried) {
  HostMap& map = *host.map;
  HostEntry& e = *host.entry;
  size_t n = e.size();
  auto at = [&](size_t i) -> Server& { return *map.server(e.slot(i)); };
  auto usable = [&](size_t i) {
    Server& s = at(i);
    return map.in_pool(s) && untried_available(s, now, tried);
  };
  auto eligible = [&](size_t i) { return usable(i) && !at(i).full(); };
  auto state_at = [&](size_t i) -> lb::State& {
    lb::State& st = at(i).lb;
    st.active = at(i).active();
    return st;
  };
  int pick = lb::kNone;
  switch (map.balance) {
    case lb::Algorithm::LeastConn: {
      size_t cursor = e.cursor;
      pick = lb::pick_leastconn(n, state_at, eligible, cursor);
      e.cursor = static_cast<uint32_t>(cursor);
      break;
    }
    case lb::Algorithm::P2C:
      pick = lb::pick_p2c(n, state_at, eligible, pool.rng);
      break;
    default:
      pick = lb::pick_next(n, eligible, e.cursor);
  }
  if (pick != lb::kNone) return {map.server(e.slot(static_cast<size_t>(pick))), false};
  for (size_t k = 0; k < n; ++k) {
    size_t i = (e.cursor + k) % n;
    if (usable(i)) return {nullptr, true, at(i).uid};
  }
  return {};
}
}  // namespace

bool another_available(const Pool& pool, const Server& except, int64_t now, const std::vector<uint32_t>& tried,
                       const HostTarget* host) {
  if (subset_of(host, pool)) {
    const HostEntry& e = *host->entry;
    for (size_t i = 0; i < e.size(); ++i) {
      const Server& s = *host->map->server(e.slot(i));
      if (&s != &except && host->map->in_pool(s) && untried_available(s, now, tried)) return true;
    }
    return false;
  }
  return std::any_of(pool.servers.begin(), pool.servers.end(),
                     [&](const auto& s) { return s.get() != &except && untried_available(*s, now, tried); });
}

Pick pick_server(Pool& pool, int64_t now, const std::vector<uint32_t>& tried, std::shared_ptr<Server>& forced,
                 std::string_view hash_key, const HostTarget* host) {
  auto usable = [&tried, now](const Server& s) { return untried_available(s, now, tried); };
  if (forced) {
    if (usable(*forced)) {
      if (forced->full()) return {nullptr, true, forced->uid};
      Pick p{std::move(forced), false};
      forced.reset();
      return p;
    }
    forced.reset();  // down, drained or tried: the balancer decides
  }
  if (subset_of(host, pool)) return pick_in_entry(pool, *host, now, tried);
  auto& list = pool.servers;
  if (pool.balance == lb::Algorithm::Hash && !hash_key.empty()) {
    int at = pool.ring.pick(lb::hash_bytes(hash_key), [&](uint32_t i) { return i < list.size() && usable(*list[i]); });
    if (at == lb::kNone) return {};
    const auto& s = list[static_cast<size_t>(at)];
    if (s->full()) return {nullptr, true, s->uid};
    return {s, false};
  }
  // The balancers weigh the sessions of every thread: the shared count, as of now.
  auto state_at = [&list](size_t i) -> lb::State& {
    lb::State& st = list[i]->lb;
    st.active = list[i]->active();
    return st;
  };
  auto eligible = [&](size_t i) { return usable(*list[i]) && !list[i]->full(); };
  int pick = lb::kNone;
  switch (pool.balance) {
    case lb::Algorithm::LeastConn:
      pick = lb::pick_leastconn(list.size(), state_at, eligible, pool.leastconn_cursor);
      break;
    case lb::Algorithm::P2C:
      pick = lb::pick_p2c(list.size(), state_at, eligible, pool.rng);
      break;
    default: {
      // One sequence for the process: the scores live in the servers' shared state.
      std::lock_guard<std::mutex> lock(pool.shared->rr_mu);
      for (const auto& s : list) s->lb.current = s->shared->rr_current;
      pick = lb::pick_roundrobin(list.size(), state_at, eligible);
      for (const auto& s : list) s->shared->rr_current = s->lb.current;
    }
  }
  if (pick != lb::kNone) return {list[static_cast<size_t>(pick)], false};
  bool waitable = std::any_of(list.begin(), list.end(), [&](const auto& s) { return usable(*s); });
  return {nullptr, waitable};
}

}  // namespace epoxy
