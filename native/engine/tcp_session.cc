#include "tcp_session.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include <algorithm>

#include "../io/socket_io.h"
#include "../net/socket.h"
#include "engine.h"

namespace epoxy {

namespace {
// Bytes one channel may read per turn before the loop serves other sessions.
constexpr size_t kReadBudget = 1u << 20;
// Most client bytes read before routing: a PROXY header and a ClientHello at their bounds.
constexpr size_t kMaxPreface = proxyproto::kMaxV2Bytes + tls::kMaxInputBytes;
constexpr size_t kPrefaceRead = 4096;  // per recv: a typical hello (0.5–2 KiB) in one call

uint64_t written(const ChannelTraffic& t) { return t.bytes_spliced + t.bytes_copied; }

bool is_reset(int err) { return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == ECONNABORTED; }
}  // namespace

TcpSession::TcpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot,
                       uint32_t listener_index, Fd client, const SockAddr& peer)
    : Session(engine, key, std::move(snapshot), listener_index, std::move(client), peer),
      up_(engine.buffers(), engine.pipes(), snapshot_->tuning.splice_threshold),
      down_(engine.buffers(), engine.pipes(), snapshot_->tuning.splice_threshold) {
  last_activity_ = engine_.now();
}

TcpSession::~TcpSession() { close(); }

void TcpSession::start() {
  if (!awaiting_proxy_ && !listener().inspect) {
    route();
    return;
  }
  // Nothing is read speculatively: the epoll registration reports bytes already queued, and
  // a read now would cost an EAGAIN for clients that have not sent yet.
  state_ = State::Inspecting;
  if (listener().inspect) hello_ = std::make_unique<tls::ClientHelloReader>();
  phase_deadline_ = awaiting_proxy_ ? proxy_deadline() : engine_.now() + snapshot_->timeouts.inspect_ms;
  arm_timer();
}

void TcpSession::read_preface() {
  while (state_ == State::Inspecting && client_.readable && head_.size() < kMaxPreface) {
    size_t want = std::min(kPrefaceRead, kMaxPreface - head_.size());
    size_t had = head_.size();
    head_.resize(had + want);
    IoResult r = receive(client_.fd.get(), &head_[had], want, client_.readable, client_.fin);
    head_.resize(had + r.bytes);
    if (r.kind == IoResult::Kind::Error) {
      abort(r.error);
      return;
    }
    if (r.kind == IoResult::Kind::Again) break;
    if (r.kind == IoResult::Kind::End) {
      client_eof_ = true;
      client_.readable = false;
    }
    head_client_bytes_ = head_.size();
    advance_preface();
  }
  if (state_ == State::Inspecting && client_eof_) advance_preface();
}

void TcpSession::advance_preface() {
  if (awaiting_proxy_) {
    size_t used = 0;
    ProxyStep step = advance_proxy_header(head_, client_eof_, used);
    if (step == ProxyStep::Wait) return;
    if (step == ProxyStep::Refused) {
      close();
      return;
    }
    head_.erase(0, used);
    head_client_bytes_ = head_.size();
    if (!hello_) {
      route();
      return;
    }
    phase_deadline_ = engine_.now() + snapshot_->timeouts.inspect_ms;
    arm_timer();
  }
  if (!hello_) return;
  if (hello_fed_ < head_.size()) {
    hello_->feed(reinterpret_cast<const uint8_t*>(head_.data()) + hello_fed_, head_.size() - hello_fed_);
    hello_fed_ = head_.size();
  }
  if (hello_->status() == tls::HelloStatus::NeedMore && !client_eof_) return;
  hello_verdict(hello_->status());
}

void TcpSession::hello_verdict(tls::HelloStatus status) {
  PrefaceCounters& c = listener_counters_->preface;
  switch (status) {
    case tls::HelloStatus::Done:
      tls_ = hello_->hello();
      tls_seen_ = true;
      ++(tls_.has_sni ? c.tls_sni : c.tls_no_sni);
      break;
    case tls::HelloStatus::NotTls:
      ++c.not_tls;
      break;
    case tls::HelloStatus::TooLarge:
      ++c.tls_too_large;
      break;
    case tls::HelloStatus::Malformed:
    case tls::HelloStatus::NeedMore:  // the client ended its stream inside the hello
      ++c.tls_malformed;
      break;
  }
  hello_.reset();
  route();
}

void TcpSession::preface_timed_out() {
  if (awaiting_proxy_) {
    note_refused_preface("no PROXY header within the timeout; closing", listener_counters_->preface.proxy_timeouts);
    close();
    return;
  }
  ++listener_counters_->preface.inspect_timeouts;
  hello_.reset();
  route();  // what was read goes to the route for connections without a hello
}

void TcpSession::route() {
  const ListenerRoute& l = listener();
  if (!l.routes.empty()) {
    RouteMatch m = l.match_tls(tls_seen_ ? &tls_ : nullptr);
    if (!m) {
      note_refused_preface("no route matches the connection; closing", listener_counters_->preface.no_route,
                           tls_seen_ && tls_.has_sni ? "sni " + tls_.sni : std::string("no sni"));
      close();
      return;
    }
    route_pool_ = m.route->pool;
    route_alpn_ = m.route->alpn;
    route_host_ = std::move(m.host);
  }
  if (!snapshot_->select_hook) {
    begin_connect(nullptr, nullptr);
    return;
  }
  park_for_hook();
}

void TcpSession::park_for_hook() {
  state_ = State::Selecting;
  if (tls_seen_) {
    std::string alpn;
    for (const std::string& a : tls_.alpn) alpn.append(a).push_back('\0');
    std::string_view parts[2] = {tls_.sni, alpn};
    select_token_ = engine_.park_for_select(*this, parts, 2);
  } else {
    select_token_ = engine_.park_for_select(*this);
  }
  // The JS side applies the hook timeout itself and answers with a fallback; this later
  // deadline only matters when the JS thread is too busy to answer at all.
  phase_deadline_ = engine_.now() + snapshot_->timeouts.select_ms + 250;
  arm_timer();
}

void TcpSession::on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) {
  if (state_ != State::Selecting) return;
  select_token_ = 0;
  begin_connect(std::move(pool), std::move(server));
}

void TcpSession::begin_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced) {
  // A hook that names another pool replaces the host map entry's subset: that pool as usual.
  if (pool && pool != route_pool_) route_host_ = {};
  pool_ = pool ? std::move(pool) : route_pool_ ? route_pool_ : listener().pool;
  forced_ = std::move(forced);
  ++pool_->sessions;
  ++pool_->active;
  try_connect();
}

void TcpSession::try_connect() {
  if (queued_since_ == 0 && pool_->shared->waiting.load(std::memory_order_relaxed) > 0) {
    // Others are waiting for a slot (on any thread): take a place behind them rather than jump
    // the queue.
    if (wait_for_server(0)) engine_.request_queue_service(pool_);
    else fail_no_server();
    return;
  }
  for (;;) {
    std::shared_ptr<Server> forced_before = forced_;
    std::string key = hash_key();
    Pick pick = pick_server(*pool_, engine_.now(), tried_, forced_, key, &route_host_);
    server_ = std::move(pick.server);
    if (server_ && !server_->acquire()) {
      // Another thread took the last slot since the pick looked: wait like a full pick would.
      bool forced = server_ == forced_before;
      if (forced) forced_ = server_;
      pick = {nullptr, true, forced || !key.empty() || route_host_ ? server_->uid : 0};
      server_.reset();
    }
    if (!server_) {
      if (!pick.full || !wait_for_server(pick.wait_for)) fail_no_server();
      return;
    }
    counted_on_server_ = true;
    leave_queue();  // a slot is taken: the wait, if any, is over
    Fd fd;
    int err = 0;
    ConnectStart r = start_connect(server_->addr, congestion_of(*server_), fd, err);
    if (r == ConnectStart::Failed && local_connect_error(err)) {
      engine_.log_session("warn", "cannot open a server connection (this host is out of resources); closing client", *this, err);
      release_server();
      fail_no_server();
      return;
    }
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

bool TcpSession::wait_for_server(uint32_t server) {
  if (!enqueue(pool_, server)) return false;
  state_ = State::Queued;
  return true;
}

void TcpSession::on_dequeue() {
  if (state_ == State::Queued) try_connect();
}

// TCP mode knows the client address and, from a ClientHello, the SNI (hashed as the host);
// other hash keys fall back to round robin.
std::string TcpSession::hash_key() const {
  if (pool_->balance != lb::Algorithm::Hash || route_host_) return {};  // an entry: the map's balancer
  if (pool_->hash_key == HashKey::Client) return peer_.host();
  if (pool_->hash_key == HashKey::Host && tls_seen_ && tls_.has_sni) return tls_.sni;
  return {};
}

void TcpSession::note_connect_failure(int err) {
  ++server_->connect_failures;
  engine_.note_server_error(*server_, strerror(err));
  engine_.log_session("warn", "connect to server failed", *this, err);
  tried_.push_back(server_->uid);
  ++attempts_;
  server_conn_ = Endpoint{};  // closing the fd also removes it from epoll
  release_server();
}

bool TcpSession::may_retry() {
  if (attempts_ > pool_->retries) return false;
  ++pool_->retried;
  return true;
}

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
  prepare_head();
  run();
}

// The PROXY header this server wants goes in front of the bytes already read; when none were
// read but the client has sent some, one read now lets them leave in the same write.
void TcpSession::prepare_head() {
  std::string header;
  append_proxy_header(header, *server_, tls_seen_ ? &tls_ : nullptr,
                      !route_alpn_.empty() ? std::string_view(route_alpn_)
                      : tls_seen_ && !tls_.alpn.empty() ? std::string_view(tls_.alpn.front())
                                                        : std::string_view());
  if (header.empty()) return;
  if (head_.empty() && client_.readable && !client_eof_) {
    char buf[kPrefaceRead];
    bool readable = client_.readable;
    IoResult r = receive(client_.fd.get(), buf, sizeof buf, readable, client_.fin);
    // The end of stream or an error: left for the channel, which reads it again and handles it.
    if (r.kind == IoResult::Kind::Moved || r.kind == IoResult::Kind::Again) client_.readable = readable;
    head_.assign(buf, r.bytes);
    head_client_bytes_ = head_.size();
  }
  head_.insert(0, header);
}

bool TcpSession::flush_head() {
  while (head_off_ < head_.size() && server_conn_.writable) {
    IoResult r = transmit(server_conn_.fd.get(), head_.data() + head_off_, head_.size() - head_off_, server_conn_.writable);
    if (r.kind == IoResult::Kind::Error) {
      abort(r.error);
      return false;
    }
    head_off_ += r.bytes;
  }
  if (head_off_ < head_.size()) return true;
  ChannelTraffic up;
  up.bytes_in = head_client_bytes_;
  up.bytes_copied = head_.size();
  account(up, ChannelTraffic{});
  std::string().swap(head_);
  head_off_ = 0;
  head_client_bytes_ = 0;
  // A client that ended its stream while inspected: the channel reads the end again.
  if (client_eof_) client_.readable = true;
  return true;
}

void TcpSession::on_client_event(uint32_t events) {
  client_.note(events);
  if (state_ == State::Established) {
    run();
  } else if (state_ == State::Inspecting && !client_.hangup) {
    read_preface();
  } else if (client_.hangup && state_ != State::Closed) {
    abort(ECONNRESET);  // reset before a server was even chosen or reached
  }
}

void TcpSession::on_server_event(uint32_t events) {
  server_conn_.note(events);
  if (state_ == State::Established) {
    run();
    return;
  }
  if (state_ != State::Connecting || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
  int err = connect_result(server_conn_.fd.get(), events);
  if (err == 0) {
    finish_connect();
  } else {
    connect_failed(err);
  }
}

void TcpSession::run() {
  if (state_ != State::Established) return;
  if (!head_.empty() && !flush_head()) return;
  bool head_pending = !head_.empty();
  ChannelTraffic tu;
  ChannelTraffic td;
  // When one direction is already finished, the other's end closes the session: close() sends
  // the FIN itself and a shutdown(SHUT_WR) first would be a wasted syscall.
  up_.set_shutdown_at_end(!down_.finished());
  down_.set_shutdown_at_end(!up_.finished());
  PumpResult ru = head_pending ? PumpResult::Idle
                               : up_.pump(client_.fd.get(), client_.readable, client_.fin, server_conn_.fd.get(),
                                          server_conn_.writable, kReadBudget, tu);
  PumpResult rd = PumpResult::Idle;
  if (ru != PumpResult::Error) {
    rd = down_.pump(server_conn_.fd.get(), server_conn_.readable, server_conn_.fin, client_.fd.get(), client_.writable, kReadBudget,
                    td);
  }
  account(tu, td);
  if (ru == PumpResult::Error) {
    abort(up_.error());
    return;
  }
  if (rd == PumpResult::Error) {
    if (down_.error_on_read() && is_reset(down_.error())) {
      ++server_->resets;
      engine_.note_server_error(*server_, "connection reset by server");
    }
    abort(down_.error());
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
    case State::Queued:
      return queue_deadline();
    case State::Inspecting:
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

void TcpSession::on_timer() {
  int64_t d = deadline();
  if (d == 0) return;
  if (d > engine_.now()) {
    arm_timer();
    return;
  }
  switch (state_) {
    case State::Inspecting:
      preface_timed_out();
      return;
    case State::Selecting:
      ++engine_.totals().select_timeouts;
      engine_.parked_.erase(select_token_);
      select_token_ = 0;
      engine_.log_session("warn", "select hook did not answer in time; using the balancer", *this, 0);
      begin_connect(nullptr, nullptr);
      return;
    case State::Queued:
      leave_queue();
      ++pool_->queue_timeouts;
      engine_.log_session("warn", "no server slot within the queue timeout; closing client", *this, 0);
      close();
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

void TcpSession::abort(int err) {
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
    server_->release();
    counted_on_server_ = false;
    engine_.request_queue_service(pool_);
  }
}

void TcpSession::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  up_.release();
  down_.release();
  release_server();
  if (pool_) --pool_->active;
  client_ = Endpoint{};
  server_conn_ = Endpoint{};
  mark_closed();
}

}  // namespace epoxy
