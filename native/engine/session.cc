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
      peer_(peer) {
  client_.fd = std::move(client);
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
  --listener_counters_->active;
  --engine_.totals().active;
}

void Session::arm_timer() {
  int64_t d = deadline();
  if (d == 0) return;
  if (timer_at == 0 || d < timer_at) {
    timer_at = d;
    engine_.schedule_session_timer(*this, d);
  }
}

std::shared_ptr<Server> pick_server(Pool& pool, const std::vector<uint32_t>& tried, std::shared_ptr<Server>& forced) {
  auto untried = [&tried](const Server& s) {
    return !s.removed && std::find(tried.begin(), tried.end(), s.uid) == tried.end();
  };
  if (forced) {
    std::shared_ptr<Server> f = std::move(forced);
    forced.reset();
    if (untried(*f)) return f;
  }
  auto& list = pool.servers;
  auto state_at = [&list](size_t i) -> lb::State& { return list[i]->lb; };
  auto eligible = [&list, &untried](size_t i) { return untried(*list[i]); };
  int pick = pool.balance == lb::Algorithm::LeastConn
                 ? lb::pick_leastconn(list.size(), state_at, eligible, pool.leastconn_cursor)
                 : lb::pick_roundrobin(list.size(), state_at, eligible);
  if (pick == lb::kNone) return nullptr;
  return list[static_cast<size_t>(pick)];
}

}  // namespace epoxy
