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
    s.lb.current = 0;
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
  if (s.recent_errors.size() != p.errors) {
    s.recent_errors.assign(p.errors, 0);
    s.recent_errors_next = 0;
  }
  s.recent_errors[s.recent_errors_next] = now_;
  s.recent_errors_next = (s.recent_errors_next + 1) % s.recent_errors.size();
  int64_t oldest = s.recent_errors[s.recent_errors_next];  // the slot written `errors` errors ago
  if (oldest != 0 && now_ - oldest <= static_cast<int64_t>(p.window_ms)) eject(s, what);
}

void Engine::eject(Server& s, const char* what) {
  const PassiveSpec& p = s.pool->passive;
  std::string reason = std::to_string(p.errors) + " errors within " + std::to_string(p.window_ms) + " ms, the last: " + what;
  if (!another_available(*s.pool, s, now_, {})) {
    // Ejecting the last server would turn every request into a 503; keep trying it.
    JsonWriter w;
    w.field("msg", "not ejecting the last available server").field("pool", s.pool->name).field("server", s.address);
    w.field("reason", reason);
    log("warn", w.take());
    return;
  }
  s.ejected_until = now_ + p.eject_ms;
  ++s.ejections;
  std::fill(s.recent_errors.begin(), s.recent_errors.end(), 0);
  timers_.schedule(s.ejected_until, tag_key(s.uid, kTagControl));
  pending_.server_states.push_back({s.uid, true, std::move(reason)});
  close_idle_conns(s);
}

void Engine::on_server_timer(uint32_t uid, int64_t when) {
  auto it = servers_by_uid_.find(uid);
  if (it == servers_by_uid_.end()) return;
  Server& s = *it->second;
  if (s.ejected_until == 0 || s.ejected_until != when) return;
  s.ejected_until = 0;
  pending_.server_states.push_back({s.uid, false, "ejection of " + std::to_string(s.pool->passive.eject_ms) + " ms over"});
  server_changed(s);
}

// ---- maxconn queues ----

void Engine::push_queue(Pool& pool, uint64_t session_key) {
  // Entries of sessions that left stay until met; compact when they dominate.
  if (pool.queue.size() > 2 * pool.queued + 1024) {
    auto stale = [&](uint64_t key) {
      Session* s = find_session(key);
      return !s || s->queued_in() != &pool;
    };
    pool.queue.erase(std::remove_if(pool.queue.begin(), pool.queue.end(), stale), pool.queue.end());
  }
  pool.queue.push_back(session_key);
}

void Engine::request_queue_service(const std::shared_ptr<Pool>& pool) {
  if (!pool || pool->queued == 0) return;
  if (std::find(queue_service_.begin(), queue_service_.end(), pool) == queue_service_.end()) {
    queue_service_.push_back(pool);
  }
}

void Engine::service_queues() {
  std::vector<std::shared_ptr<Pool>> pools;
  pools.swap(queue_service_);
  for (auto& pool : pools) service_queue(*pool);
}

// Offers the waiting sessions, oldest first, a new try. Those still waiting re-enter in the
// same order. Without hashing nearly every waiter wants the same servers, so a few left waiting
// in a row mean the rest would wait too (only one forced to a full server by the hook could
// get through); with hashing each waits for its own server, so all are tried.
void Engine::service_queue(Pool& pool) {
  constexpr int kStillWaitingLimit = 8;
  std::deque<uint64_t> waiting;
  waiting.swap(pool.queue);
  int still_waiting = 0;
  for (uint64_t key : waiting) {
    Session* s = find_session(key);
    if (!s || s->queued_in() != &pool) continue;
    if (still_waiting >= kStillWaitingLimit) {
      pool.queue.push_back(key);
      continue;
    }
    s->leave_queue();
    with_session(key, [](Session& ses) { ses.on_dequeue(); });
    Session* after = find_session(key);
    bool waits = after && after->queued_in() == &pool;
    if (pool.balance != lb::Algorithm::Hash) still_waiting = waits ? still_waiting + 1 : 0;
  }
}

}  // namespace epoxy
