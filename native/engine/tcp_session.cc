#include "tcp_session.h"

#include <errno.h>
#include <sys/epoll.h>

#include <algorithm>

#include "../net/socket.h"
#include "engine.h"

namespace epoxy {

namespace {
// Bytes one channel may read per turn before the loop serves other sessions.
constexpr size_t kReadBudget = 1u << 20;

uint64_t written(const ChannelTraffic& t) { return t.bytes_spliced + t.bytes_copied; }

bool is_reset(int err) { return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == ECONNABORTED; }
}  // namespace

TcpSession::TcpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot,
                       uint32_t listener_index, Fd client, const SockAddr& peer)
    : engine_(engine),
      key_(key),
      snapshot_(std::move(snapshot)),
      listener_index_(listener_index),
      listener_counters_(snapshot_->listeners[listener_index].counters),
      peer_(peer),
      up_(engine.buffers(), engine.pipes(), snapshot_->tuning.splice_threshold),
      down_(engine.buffers(), engine.pipes(), snapshot_->tuning.splice_threshold) {
  client_.fd = std::move(client);
  ++listener_counters_->accepted;
  ++listener_counters_->active;
  ++engine_.totals().accepted;
  ++engine_.totals().active;
  last_activity_ = engine_.now();
}

TcpSession::~TcpSession() { close(); }

void TcpSession::begin_select(uint32_t token) {
  state_ = State::Selecting;
  token_ = token;
  // The JS side applies the hook timeout itself and answers with a fallback; this later
  // deadline only matters when the JS thread is too busy to answer at all.
  phase_deadline_ = engine_.now() + snapshot_->timeouts.select_ms + 250;
  arm_timer();
}

void TcpSession::begin_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced) {
  token_ = 0;
  pool_ = pool ? std::move(pool) : snapshot_->listeners[listener_index_].pool;
  forced_ = std::move(forced);
  ++pool_->sessions;
  ++pool_->active;
  try_connect();
}

bool TcpSession::choose_server() {
  auto untried = [this](const Server& s) {
    return !s.removed && std::find(tried_.begin(), tried_.end(), s.uid) == tried_.end();
  };
  if (forced_) {
    std::shared_ptr<Server> f = std::move(forced_);
    if (untried(*f)) {
      server_ = std::move(f);
      return true;
    }
  }
  auto& list = pool_->servers;
  auto state_at = [&list](size_t i) -> lb::State& { return list[i]->lb; };
  auto eligible = [&list, &untried](size_t i) { return untried(*list[i]); };
  int pick = pool_->balance == lb::Algorithm::LeastConn
                 ? lb::pick_leastconn(list.size(), state_at, eligible, pool_->leastconn_cursor)
                 : lb::pick_roundrobin(list.size(), state_at, eligible);
  if (pick == lb::kNone) return false;
  server_ = list[static_cast<size_t>(pick)];
  return true;
}

void TcpSession::try_connect() {
  for (;;) {
    if (!choose_server()) {
      fail_no_server();
      return;
    }
    ++server_->lb.active;
    counted_on_server_ = true;
    Fd fd;
    int err = 0;
    ConnectStart r = start_connect(server_->addr, fd, err);
    if (r == ConnectStart::Failed) {
      note_connect_failure(err);
      if (!may_retry()) {
        fail_no_server();
        return;
      }
      continue;
    }
    server_conn_ = Endpoint{};
    server_conn_.fd = std::move(fd);
    engine_.register_fd(server_conn_.fd.get(), tag_key(key_, kTagServer));
    state_ = State::Connecting;
    phase_deadline_ = engine_.now() + snapshot_->timeouts.connect_ms;
    arm_timer();
    if (r == ConnectStart::Connected) finish_connect();
    return;
  }
}

void TcpSession::note_connect_failure(int err) {
  ++server_->connect_failures;
  engine_.log_session("warn", "connect to server failed", *this, err);
  tried_.push_back(server_->uid);
  ++attempts_;
  server_conn_ = Endpoint{};  // closing the fd also removes it from epoll
  release_server();
}

bool TcpSession::may_retry() const { return attempts_ <= pool_->retries; }

void TcpSession::connect_failed(int err) {
  note_connect_failure(err);
  if (may_retry()) {
    try_connect();
  } else {
    fail_no_server();
  }
}

void TcpSession::fail_no_server() {
  ++pool_->no_server;
  engine_.log_session("error", "no server could take the connection; closing client", *this, 0);
  close();
}

void TcpSession::finish_connect() {
  state_ = State::Established;
  phase_deadline_ = 0;
  ++server_->sessions;
  last_activity_ = engine_.now();
  arm_timer();  // the idle deadline may be sooner than the connect deadline still scheduled
  run();
}

void TcpSession::on_event(bool server_side, uint32_t events) {
  Endpoint& ep = server_side ? server_conn_ : client_;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ep.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ep.writable = true;
  if (events & (EPOLLHUP | EPOLLERR)) ep.hangup = true;

  switch (state_) {
    case State::Selecting:
      if (client_.hangup) abort(ECONNRESET, "client reset while the select hook decided");
      return;
    case State::Connecting:
      if (server_side) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = take_socket_error(server_conn_.fd.get());
        if (err == 0) {
          finish_connect();
        } else {
          connect_failed(err);
        }
      } else if (client_.hangup) {
        abort(ECONNRESET, "client reset while connecting to the server");
      }
      return;
    case State::Established:
      run();
      return;
    case State::Closed:
      return;
  }
}

void TcpSession::run() {
  if (state_ != State::Established) return;
  ChannelTraffic tu;
  ChannelTraffic td;
  PumpResult ru = up_.pump(client_.fd.get(), client_.readable, server_conn_.fd.get(), server_conn_.writable,
                           kReadBudget, tu);
  PumpResult rd = PumpResult::Idle;
  if (ru != PumpResult::Error) {
    rd = down_.pump(server_conn_.fd.get(), server_conn_.readable, client_.fd.get(), client_.writable, kReadBudget,
                    td);
  }
  account(tu, td);
  if (ru == PumpResult::Error) {
    abort(up_.error(), "client to server");
    return;
  }
  if (rd == PumpResult::Error) {
    abort(down_.error(), "server to client");
    return;
  }
  if (up_.finished() && down_.finished()) {
    close();
    return;
  }
  if (ru == PumpResult::MoreWork || rd == PumpResult::MoreWork) engine_.mark_ready(*this);
}

void TcpSession::account(const ChannelTraffic& up, const ChannelTraffic& down) {
  uint64_t moved = up.bytes_in + down.bytes_in + written(up) + written(down);
  if (moved == 0) return;
  last_activity_ = engine_.now();
  uint64_t spliced = up.bytes_spliced + down.bytes_spliced;
  uint64_t copied = up.bytes_copied + down.bytes_copied;

  TrafficCounters& l = listener_counters_->traffic;
  l.bytes_in += up.bytes_in;
  l.bytes_out += written(down);
  l.bytes_spliced += spliced;
  l.bytes_copied += copied;

  TrafficCounters& s = server_->traffic;
  s.bytes_in += down.bytes_in;
  s.bytes_out += written(up);
  s.bytes_spliced += spliced;
  s.bytes_copied += copied;

  engine_.totals().bytes_spliced += spliced;
  engine_.totals().bytes_copied += copied;
}

int64_t TcpSession::deadline() const {
  switch (state_) {
    case State::Selecting:
    case State::Connecting:
      return phase_deadline_;
    case State::Established:
      return last_activity_ + snapshot_->timeouts.tunnel_ms;
    case State::Closed:
      return 0;
  }
  return 0;
}

void TcpSession::arm_timer() {
  int64_t d = deadline();
  if (d == 0) return;
  if (timer_at == 0 || d < timer_at) {
    timer_at = d;
    engine_.schedule_session_timer(*this, d);
  }
}

void TcpSession::on_timer() {
  int64_t d = deadline();
  if (d == 0) return;
  if (d > engine_.now()) {
    arm_timer();
    return;
  }
  switch (state_) {
    case State::Selecting:
      ++engine_.totals().select_timeouts;
      engine_.parked_.erase(token_);
      engine_.log_session("warn", "select hook did not answer in time; using the balancer", *this, 0);
      begin_connect(nullptr, nullptr);
      return;
    case State::Connecting:
      connect_failed(ETIMEDOUT);
      return;
    case State::Established:
      engine_.log_session("info", "session idle timeout", *this, 0);
      close();
      return;
    case State::Closed:
      return;
  }
}

void TcpSession::abort(int err, const char* why) {
  (void)why;
  ++engine_.totals().aborts;
  if (is_reset(err)) {
    // Pass the abort on: the other peer must not take a cut-off stream for a complete one.
    if (client_.fd) set_abortive_close(client_.fd.get());
    if (server_conn_.fd) set_abortive_close(server_conn_.fd.get());
  }
  close();
}

void TcpSession::release_server() {
  if (counted_on_server_ && server_) {
    --server_->lb.active;
    counted_on_server_ = false;
  }
}

void TcpSession::close() {
  if (state_ == State::Closed) return;
  if (token_ != 0 && state_ == State::Selecting) engine_.parked_.erase(token_);
  state_ = State::Closed;
  up_.release();
  down_.release();
  release_server();
  if (pool_) --pool_->active;
  --listener_counters_->active;
  --engine_.totals().active;
  client_ = Endpoint{};
  server_conn_ = Endpoint{};
}

}  // namespace epoxy
