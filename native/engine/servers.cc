// Server state at run time: operator updates (weight, maxconn, drain/maint, the verdict of
// active checks), passive health (errors observed in traffic eject a server for a while), and
// the per-pool queues of sessions waiting for a server under its maxconn.
#include <algorithm>
#include <string>

#include "../core/json.h"
#include "engine.h"

namespace epoxy {

// ---- control thread ----

void Engine::update_server(const ServerUpdate& update) {
  Command c;
  c.kind = Command::Kind::UpdateServer;
  c.update = update;
  commands_.push(std::move(c));
}

// ---- engine thread ----

void Engine::build_ring(Pool& pool) {
  if (pool.balance != lb::Algorithm::Hash) {
    pool.ring = lb::HashRing{};
    return;
  }
  std::vector<lb::RingMember> members;
  members.reserve(pool.servers.size());
  for (const auto& s : pool.servers) members.push_back({s->address, s->lb.weight});
  pool.ring.build(members);
}

void Engine::apply_update_server(const ServerUpdate& u) {
  auto it = servers_by_uid_.find(u.uid);
  if (it == servers_by_uid_.end()) return;
  Server& s = *it->second;
  if (u.weight > 0 && static_cast<uint32_t>(u.weight) != s.lb.weight) {
    s.lb.weight = static_cast<uint32_t>(u.weight);
    reset_rr_score(*s.pool, s);
    build_ring(*s.pool);
  }
  if (u.maxconn >= 0) s.maxconn = static_cast<uint32_t>(u.maxconn);
  if (u.admin >= 0) s.admin = static_cast<AdminState>(u.admin);
  if (u.check_up >= 0) s.check_up = u.check_up != 0;
  server_changed(s);
}

void Engine::server_changed(Server& s) {
  // Idle connections to a server that takes no new requests would only be closed later.
  if (!s.available(now_)) close_idle_conns(s);
  auto pool = pools_by_uid_.find(s.pool->uid);
  if (pool != pools_by_uid_.end()) request_queue_service(pool->second);
}

void Engine::note_server_error(Server& s, const char* what) {
  if (s.removed || !s.pool) return;
  const PassiveSpec& p = s.pool->passive;
  if (p.errors == 0 || s.ejected(now_)) return;
  if (s.shared->note_error(now_, p.errors, p.window_ms)) eject(s, what);
}

void Engine::eject(Server& s, const char* what) {
  const PassiveSpec& p = s.pool->passive;
  std::string reason = std::to_string(p.errors) + " errors within " + std::to_string(p.window_ms) + " ms, the last: " + what;
  if (!another_available(*s.pool, s, now_, {})) {
    // Ejecting the last server would turn every request into a 503; keep trying it. Said once
    // per ejection period: a dead last server would otherwise log every failed connection.
    if (s.kept_warned_at != 0 && now_ - s.kept_warned_at < static_cast<int64_t>(p.eject_ms)) return;
    s.kept_warned_at = now_;
    JsonWriter w;
    w.field("msg", "not ejecting the last available server").field("pool", s.pool->name).field("server", s.address);
    w.field("reason", reason);
    log("warn", w.take());
    return;
  }
  // Every thread sees the ejection at its next pick; the one that wins this swap reports it and
  // ends it on its timer.
  int64_t until = now_ + p.eject_ms;
  int64_t before = s.shared->ejected_until.load(std::memory_order_relaxed);
  if (before > now_ || !s.shared->ejected_until.compare_exchange_strong(before, until)) return;
  ++s.ejections;
  s.shared->forget_errors();
  timers_.schedule(until, tag_key(s.uid, kTagControl));
  pending_.server_states.push_back({s.uid, true, std::move(reason)});
  close_idle_conns(s);
}

void Engine::on_server_timer(uint32_t uid, int64_t when) {
  auto it = servers_by_uid_.find(uid);
  if (it == servers_by_uid_.end()) return;
  Server& s = *it->second;
  int64_t expected = when;
  if (when == 0 || !s.shared->ejected_until.compare_exchange_strong(expected, 0)) return;
  pending_.server_states.push_back({s.uid, false, "ejection of " + std::to_string(s.pool->passive.eject_ms) + " ms over"});
  server_changed(s);
}

// ---- maxconn queues: one line per pool for the whole process (PoolShared) ----

void Engine::request_queue_service(const std::shared_ptr<Pool>& pool) {
  if (!pool || pool->shared->waiting.load(std::memory_order_seq_cst) == 0) return;  // see Server::release
  if (std::find(queue_service_.begin(), queue_service_.end(), pool) == queue_service_.end()) {
    queue_service_.push_back(pool);
  }
}

void Engine::service_queues() {
  std::vector<std::shared_ptr<Pool>> pools;
  pools.swap(queue_service_);
  for (auto& pool : pools) service_queue(*pool);
}

// Free slots of the servers that may take sessions now: per server (uid, free; UINT32_MAX
// without a maxconn) and in all (SIZE_MAX: unbounded). Read racily — another thread may take
// or free a slot meanwhile; a session handed a turn it cannot use waits again at its place, and
// a slot freed later services the line again.
size_t Engine::free_slots(const Pool& pool, std::vector<std::pair<uint32_t, uint32_t>>& per_server) const {
  size_t total = 0;
  for (const auto& s : pool.servers) {
    if (!s->available(now_)) continue;
    uint32_t active = s->shared->active.load(std::memory_order_seq_cst);  // see Server::release
    uint32_t free = s->maxconn == 0 ? UINT32_MAX : (active < s->maxconn ? s->maxconn - active : 0);
    per_server.emplace_back(s->uid, free);
    total = (free == UINT32_MAX || total == SIZE_MAX) ? SIZE_MAX : total + free;
  }
  return total;
}

// Hands the free slots to the oldest waiters, wherever they are: this engine's take their turn
// now, other engines' get theirs in a Dequeue command. A waiter tied to one full server (forced
// by the hook, or hashed) is passed over, up to a bound, so it does not hold up the line for
// the others.
void Engine::service_queue(Pool& pool) {
  PoolShared& q = *pool.shared;
  if (q.waiting.load(std::memory_order_relaxed) == 0) return;
  std::vector<std::pair<uint32_t, uint32_t>> free;
  size_t budget = free_slots(pool, free);
  if (budget == 0) return;
  std::vector<std::vector<uint64_t>> turns(links_.peers.size());
  {
    constexpr size_t kMaxPassedOver = 64;
    size_t passed_over = 0;
    std::lock_guard<std::mutex> lock(q.mu);
    size_t promised = q.turns.load();
    if (budget != SIZE_MAX) budget = budget > promised ? budget - promised : 0;
    for (auto it = q.waiters.begin(); it != q.waiters.end() && budget > 0 && passed_over < kMaxPassedOver;) {
      if (it->server != 0) {
        auto f = std::find_if(free.begin(), free.end(), [&](const auto& e) { return e.first == it->server; });
        if (f == free.end() || f->second == 0) {
          ++passed_over;
          ++it;
          continue;
        }
        if (f->second != UINT32_MAX) --f->second;
      }
      if (budget != SIZE_MAX) --budget;
      if (it->engine < turns.size()) turns[it->engine].insert(turns[it->engine].end(), {it->key, it->seq});
      q.turns.fetch_add(1);
      it = q.waiters.erase(it);
    }
  }
  for (size_t i = 0; i < turns.size(); ++i) {
    if (turns[i].empty()) continue;
    if (i == links_.index) {
      take_turns(pool, turns[i]);
      continue;
    }
    Command c;
    c.kind = Command::Kind::Dequeue;
    c.pool_uid = pool.uid;
    c.keys = std::move(turns[i]);
    links_.peers[i]->post(std::move(c));
  }
}

// The sessions' turns, oldest first: (key, seq) pairs. One that left meanwhile (timed out,
// closed; perhaps queued again since, with another seq) leaves its slot unused: the line is
// serviced again so the next waiter gets it.
void Engine::take_turns(Pool& pool, const std::vector<uint64_t>& turns) {
  bool look_again = false;
  PoolShared& q = *pool.shared;
  for (size_t i = 0; i + 1 < turns.size(); i += 2) {
    uint64_t key = turns[i];
    Session* s = find_session(key);
    if (!s || s->queued_in() != &pool || !s->in_line() || s->queue_seq() != turns[i + 1]) {
      look_again = true;
      q.turns.fetch_sub(1);
      continue;
    }
    s->take_turn();
    with_session(key, [](Session& ses) { ses.on_dequeue(); });
    // Took a slot or gave up without leaving the queue itself (an HTTP 503 on a keep-alive
    // connection): its wait is over either way.
    Session* after = find_session(key);
    if (after && after->queued_in() == &pool && !after->in_line()) after->leave_queue();
    // Its try is over (a slot taken, back in line, or gone): the slot it was promised counts as
    // free again unless it took it, so the line is looked at once more.
    q.turns.fetch_sub(1);
    look_again = true;
  }
  if (look_again) {
    auto it = pools_by_uid_.find(pool.uid);
    if (it != pools_by_uid_.end()) request_queue_service(it->second);
  }
}

void Engine::apply_dequeue(const Command& c) {
  auto it = pools_by_uid_.find(c.pool_uid);
  if (it != pools_by_uid_.end()) {
    take_turns(*it->second, c.keys);
    return;
  }
  // The pool left this engine's config: its sessions closed with it, so did the turns. The
  // other engines' copies of the pool share `turns`; take them back through the registry.
  links_.shared->pool(c.pool_uid)->turns.fetch_sub(static_cast<uint32_t>(c.keys.size() / 2));
}

}  // namespace epoxy
