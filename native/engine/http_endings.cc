// HttpSession: tunnels after 101, generated responses with lingering close, timers, closing,
// passive-health blame and the access log.
#include "http_session.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "../core/json.h"
#include "../http/rewrite.h"
#include "../io/socket_io.h"
#include "../net/socket.h"
#include "engine.h"
#include "http_chunks.h"
#include "http_internal.h"

namespace epoxy {

using namespace http_internal;  // NOLINT: the shared helpers of HttpSession's files

// ---- tunnel and endings ----

bool HttpSession::run_tunnel() {
  bool progress = flush_to_client();
  progress = flush_to_server() || progress;
  if (closed()) return true;
  if (!tx_->to_client_.empty() || server_output_pending()) return progress;
  ServerConn* c = engine_.find_conn(conn_key_);
  if (!c) {
    close();
    return true;
  }
  ChannelTraffic tu;
  ChannelTraffic td;
  PumpResult ru = tx_->up_.pump(client_.fd.get(), client_.readable, client_.fin, c->ep.fd.get(), c->ep.writable, kReadBudget, tu);
  PumpResult rd = tx_->down_.pump(c->ep.fd.get(), c->ep.readable, c->ep.fin, client_.fd.get(), client_.writable, kReadBudget, td);
  uint64_t moved = tu.bytes_in + td.bytes_in;
  if (moved) last_activity_ = engine_.now();
  engine_.totals().bytes_spliced += tu.bytes_spliced + td.bytes_spliced;
  engine_.totals().bytes_copied += tu.bytes_copied + td.bytes_copied;
  bytes_to_client_ += td.bytes_spliced + td.bytes_copied;
  bytes_from_client_ += tu.bytes_in;
  if (ru == PumpResult::Error || rd == PumpResult::Error) {
    abort("SD");
    return true;
  }
  if (tx_->up_.finished() && tx_->down_.finished()) {
    log_access();
    close();
    return true;
  }
  if (ru == PumpResult::MoreWork || rd == PumpResult::MoreWork) engine_.mark_ready(*this);
  return false;  // pump already looped until no progress
}

void HttpSession::respond_error(int status, const char* detail, const char* termination) {
  note_server_failure(termination, detail);
  termination_ = termination;
  if (resp_state_ == Resp::Body) {
    abort(termination);  // part of a response already left: only a cut can signal the error
    return;
  }
  status_ = status;
  account_response(status);
  close_server(false);
  tx().to_client_ = http::generated_response(status, detail);
  tx_->to_client_off_ = 0;
  log_access();
  mode_ = Mode::Generated;
}

// Writes what is left for the client, shuts the write side, then drains and drops reads for a
// bounded time so that the client reads our response before the connection closes.
bool HttpSession::run_linger() {
  bool progress = false;
  if (mode_ == Mode::Generated) {
    progress = flush_to_client();
    if (closed() || (tx_ && !tx_->to_client_.empty())) return progress;
    ::shutdown(client_.fd.get(), SHUT_WR);
    close_server(false);
    mode_ = Mode::Linger;
    phase_deadline_ = engine_.now() + kLingerMs;
    timer_at = 0;  // the new, earlier deadline must be scheduled
    progress = true;
  }
  char sink[4096];
  for (int i = 0; i < 64 && client_.readable; ++i) {
    ssize_t n = ::recv(client_.fd.get(), sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      client_.readable = false;
      break;
    }
    close();  // the client closed (or reset): done
    return true;
  }
  return progress;
}

int64_t HttpSession::deadline() const {
  const Timeouts& t = snapshot_->timeouts;
  switch (mode_) {
    case Mode::Tunnel:
      return last_activity_ + t.tunnel_ms;
    case Mode::Generated:
      return last_activity_ + t.client_ms;
    case Mode::Linger:
      return phase_deadline_;
    case Mode::Http:
      break;
  }
  if (req_state_ == Req::Head && resp_state_ == Resp::Idle) {
    if (awaiting_proxy()) return proxy_deadline();
    if (in_len_ == 0 && requests_ > 0) return last_activity_ + t.client_ms;  // keep-alive idle
    return req_start_ + t.http_request_ms;
  }
  if (req_state_ == Req::Connect || req_state_ == Req::Select) return phase_deadline_;
  return last_activity_ + t.server_ms;
}

void HttpSession::on_timer() {
  int64_t d = deadline();
  if (d > engine_.now()) {
    arm_timer();
    return;
  }
  switch (mode_) {
    case Mode::Tunnel:
    case Mode::Generated:
    case Mode::Linger:
      close();
      return;
    case Mode::Http:
      break;
  }
  if (req_state_ == Req::Head && resp_state_ == Resp::Idle) {
    if (awaiting_proxy()) {
      note_refused_preface("no PROXY header within the timeout; closing", listener_counters_->preface.proxy_timeouts);
      termination_ = "PR";
      close();
    } else if (in_len_ == 0) {
      close();  // nothing asked: end quietly
    } else {
      respond_error(408, "request head not received in time", "cR");
      run();
    }
    return;
  }
  if (req_state_ == Req::Select) {
    ++engine_.totals().select_timeouts;
    engine_.parked_.erase(select_token_);
    select_token_ = 0;
    engine_.log_session("warn", "select hook did not answer in time; using the routes", *this, 0);
    route_and_connect(nullptr, nullptr);
    run();
    return;
  }
  if (req_state_ == Req::Connect) {
    if (queued_in()) {
      queue_timed_out();
    } else {
      conn_failed(ETIMEDOUT);
    }
    run();
    return;
  }
  if (resp_state_ == Resp::Head) {
    respond_error(504, "server did not answer in time", "sH");
    run();
    return;
  }
  abort(req_state_ == Req::Body ? "cD" : "sD");
}

void HttpSession::close_server(bool reusable) {
  if (counted_on_server_ && tx_ && tx_->server_) {
    tx_->server_->release();
    engine_.request_queue_service(tx_->pool_);
  }
  counted_on_server_ = false;
  if (conn_key_ == 0) return;
  if (ServerConn* c = engine_.find_conn(conn_key_)) {
    bool private_conn = c->private_;
    if (engine_.release_conn(*c, reusable) && private_conn) keep_private_conn(conn_key_);
  }
  conn_key_ = 0;
}

// A client connection rarely uses more than a few servers at once; beyond that the oldest
// private connection closes, so a client cannot hold a connection open to every server.
void HttpSession::keep_private_conn(uint64_t key) {
  constexpr size_t kMaxPrivateConns = 4;
  if (private_conns_.size() >= kMaxPrivateConns) {
    std::vector<uint64_t> oldest{private_conns_.front()};
    private_conns_.erase(private_conns_.begin());
    engine_.close_private_conns(oldest, key_);
  }
  private_conns_.push_back(key);
}

void HttpSession::abort(const char* termination) {
  note_server_failure(termination, "connection cut");
  termination_ = termination;
  if (status_ == 0 && resp_state_ != Resp::Idle) account_response(0);
  log_access();
  if (client_.fd) set_abortive_close(client_.fd.get());
  ++engine_.totals().aborts;
  close();
}

void HttpSession::close() {
  if (closed()) return;
  close_server(false);
  engine_.close_private_conns(private_conns_, key_);
  release_tx();
  if (in_) engine_.buffers().release(std::move(in_));
  in_.reset();
  client_ = Endpoint{};
  mark_closed();
}

// Termination codes that blame the server: it closed or cut the connection (SH, SD), timed out
// (sH, sD), or sent an invalid response (PH).
void HttpSession::note_server_failure(const char* termination, const char* detail) {
  std::string_view t = termination;
  bool blames_server = t == "SH" || t == "SD" || t == "sH" || t == "sD" || t == "PH";
  if (!blames_server || !tx_ || !tx_->server_ || termination_ != kTermNormal) return;
  ++tx_->server_->resets;
  engine_.note_server_error(*tx_->server_, detail);
}

void HttpSession::account_response(int status) {
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 0;
  ++listener_counters_->responses[static_cast<size_t>(cls)];
}

void HttpSession::log_access() {
  if (!tx_ || (tx_->method_.empty() && status_ == 0)) return;
  int64_t now = engine_.now();
  listener_counters_->total_ms.record(now - req_start_);
  if (!snapshot_->access_log || !engine_.sampled(snapshot_->access_log_sample)) return;
  JsonWriter w;
  w.begin_object().field("level", "access").field("msg", "request");
  w.field("listener", snapshot_->listeners[listener_index_].name);
  if (tx_->pool_) w.field("pool", tx_->pool_->name);
  if (tx_->server_) w.field("server", tx_->server_->address);
  w.field("client", peer_.to_string()).field("method", tx_->method_).field("path", tx_->path_);
  w.field("status", status_).field("bytesIn", bytes_from_client_).field("bytesOut", bytes_to_client_);
  // Milliseconds from the request's first byte: to a server connection, to the response head,
  // to now; -1 for a phase never reached.
  auto since_start = [this](int64_t t) { return t >= req_start_ && t != 0 ? t - req_start_ : int64_t{-1}; };
  w.field("tQueue", queued_since_ != 0 ? (dequeued_at_ ? dequeued_at_ : now) - queued_since_ : int64_t{-1});
  w.field("tConnect", since_start(connect_done_));
  w.field("tResponse", since_start(resp_start_));
  w.field("tTotal", now - req_start_);
  w.field("termination", termination_);
  w.end_object();
  engine_.push_access_log(w.take());
}

}  // namespace epoxy
