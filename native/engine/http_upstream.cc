// HttpSession: routing a request, choosing its server (balancer, hook, maxconn queue), taking or
// opening a server connection, and resending a request the server dropped.
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

void HttpSession::on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) {
  if (req_state_ != Req::Select) return;
  select_token_ = 0;
  route_and_connect(std::move(pool), std::move(server));
  run();
}

// The hook's pool (or the pool of its server) wins; otherwise the listener's routes decide.
void HttpSession::route_and_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced) {
  std::string_view path = path_of(tx_->path_);
  if (!pool) {
    RouteMatch m = snapshot_->listeners[listener_index_].match(tx_->host_, path);
    if (!m) {
      respond_error(404, "no route for this host and path", "PR");
      return;
    }
    pool = m.route->pool;
    tx_->host_target_ = std::move(m.host);  // held for the whole transaction: a setHosts meanwhile does not change it
  }
  tx_->pool_ = std::move(pool);
  ++tx_->pool_->active;
  tx_->forced_ = std::move(forced);
  // A host map entry picks by the map's balancer, never by the pool's hash.
  if (!tx_->host_target_) tx_->hash_key_ = hash_key_for(*tx_->pool_, path);
  ++tx_->pool_->sessions;
  req_state_ = Req::Connect;
  connect_next();
}

// What a hash pool hashes for this request; '' (round robin) when the request lacks it. The
// views into the head die when the head is consumed, so the key is copied.
std::string HttpSession::hash_key_for(const Pool& pool, std::string_view path) const {
  if (pool.balance != lb::Algorithm::Hash) return {};
  switch (pool.hash_key) {
    case HashKey::Host:
      return tx_->host_;
    case HashKey::Path:
      return std::string(path.substr(0, path.find('?')));
    case HashKey::Client:
      return peer_.host();
    case HashKey::Header:
      for (const http::Header& h : tx_->req_.headers) {
        if (http::field_is(h.name, pool.hash_header)) return std::string(h.value);
      }
      return {};
  }
  return {};
}

// Chooses a server, writes the request head for it, and takes an idle connection or opens one.
void HttpSession::connect_next() {
  if (queued_since_ == 0 && tx_->pool_->shared->waiting.load(std::memory_order_relaxed) > 0) {
    // Others are waiting for a slot (on any thread): take a place behind them rather than jump
    // the queue.
    if (wait_for_server(0)) engine_.request_queue_service(tx_->pool_);
    return;
  }
  for (;;) {
    if (tx_->to_server_header_ > 0 && tx_->to_server_off_ == 0) {
      // The header was for the connection that failed; the next one gets its own, if any.
      tx_->to_server_.erase(0, tx_->to_server_header_);
      tx_->to_server_header_ = 0;
    }
    std::shared_ptr<Server> forced_before = tx_->forced_;
    Pick pick = pick_server(*tx_->pool_, engine_.now(), tx_->tried_, tx_->forced_, tx_->hash_key_, &tx_->host_target_);
    tx_->server_ = std::move(pick.server);
    if (tx_->server_ && !tx_->server_->acquire()) {
      // Another thread took the last slot since the pick looked: wait like a full pick would.
      bool forced = tx_->server_ == forced_before;
      if (forced) tx_->forced_ = tx_->server_;
      pick = {nullptr, true, forced || !tx_->hash_key_.empty() || tx_->host_target_ ? tx_->server_->uid : 0};
      tx_->server_.reset();
    }
    if (!tx_->server_) {
      if (pick.full) {
        wait_for_server(pick.wait_for);
        return;
      }
      if (retried_) {
        respond_error(502, "server closed the connection without a response", "SH");
        return;
      }
      ++tx_->pool_->no_server;
      respond_error(503, "no server available", "SC");
      return;
    }
    if (queued_since_ != 0 && dequeued_at_ == 0) dequeued_at_ = engine_.now();
    if (!head_built_) {
      // Built once: the views in tx_->req_ point into in_, which is consumed right after.
      head_built_ = true;
      http::RequestRewrite rw;
      if (client_ip_.empty()) client_ip_ = peer_.host();  // once per connection, not per request
      rw.client_ip = client_ip_;
      rw.fallback_host = tx_->server_->address;
      http::write_request_head(tx_->req_, rw, tx_->to_server_);
      size_t consumed = tx_->req_.head_len;
      if (req_body_ == BodyKind::Length) {
        uint64_t avail = in_len_ - tx_->req_.head_len;
        uint64_t prefix = std::min<uint64_t>(tx_->req_.content_length, avail);
        tx_->to_server_.append(reinterpret_cast<const char*>(in_.get()) + tx_->req_.head_len, prefix);
        consumed += prefix;
        tx_->req_channel_.set_limit(tx_->req_.content_length - prefix);
      }
      consume_input(consumed);
    }
    counted_on_server_ = true;
    leave_queue();  // a slot is taken: the wait, if any, is over
    if (ServerConn* c = retried_ ? nullptr : take_reusable_conn()) {
      conn_key_ = c->key;
      conn_reused_ = true;
      on_connected();
      return;
    }
    int err = 0;
    ServerConn* c = engine_.open_conn(tx_->server_, key_, err);
    if (!c && local_connect_error(err)) {
      engine_.log_session("warn", "cannot open a server connection (this host is out of resources)", *this, err);
      close_server(false);
      ++tx_->pool_->no_server;
      respond_error(503, "no server connection could be opened", "PC");
      return;
    }
    if (!c) {
      conn_failed(err);
      return;
    }
    conn_key_ = c->key;
    conn_reused_ = false;
    frame_for_fresh_conn();
    phase_deadline_ = engine_.now() + snapshot_->timeouts.connect_ms;
    if (c->connected) on_connected();
    return;
  }
}

ServerConn* HttpSession::take_reusable_conn() {
  Server& s = *tx_->server_;
  if (s.proxy_protocol != 0) return engine_.take_private_conn(private_conns_, s, key_);
  return engine_.take_idle_conn(s, key_);
}

// A new connection to a server that wants the PROXY protocol starts with the header, in the
// same write as the request head.
void HttpSession::frame_for_fresh_conn() {
  if (tx_->server_->proxy_protocol == 0 || tx_->to_server_off_ != 0) return;
  std::string header;
  append_proxy_header(header, *tx_->server_, nullptr, {});
  tx_->to_server_.insert(0, header);
  tx_->to_server_header_ = header.size();
}

// Every server that could take the request is at its maxconn: wait in the pool's queue (the
// request head stays in in_), or get a 503 when the queue is full.
bool HttpSession::wait_for_server(uint32_t server) {
  if (!enqueue(tx_->pool_, server)) {
    respond_error(503, "every server is busy and the queue is full", "PQ");
    return false;
  }
  phase_deadline_ = queue_deadline();
  return true;
}

// A connection idle between requests closes at once (a keep-alive client would otherwise hold
// the stop for the whole grace period); one with a request in flight finishes it and closes
// (begin_response and finish_transaction see the engine stopping).
void HttpSession::on_stop() {
  bool idle = mode_ == Mode::Http && req_state_ == Req::Head && resp_state_ == Resp::Idle && in_len_ == 0;
  if (idle) close();
}

void HttpSession::on_dequeue() {
  if (mode_ == Mode::Http && req_state_ == Req::Connect && !tx_->server_) {
    connect_next();
    run();
  }
}

void HttpSession::queue_timed_out() {
  leave_queue();
  ++tx_->pool_->queue_timeouts;
  respond_error(503, "no server slot within the queue timeout", "sQ");
}

void HttpSession::conn_failed(int err) {
  ++tx_->server_->connect_failures;
  engine_.note_server_error(*tx_->server_, strerror(err));
  engine_.log_session("warn", "connect to server failed", *this, err);
  tx_->tried_.push_back(tx_->server_->uid);
  ++attempts_;
  close_server(false);
  if (attempts_ <= tx_->pool_->retries) {
    ++tx_->pool_->retried;
    connect_next();
  } else {
    ++tx_->pool_->no_server;
    respond_error(503, "no server could be reached", "SC");
  }
}

void HttpSession::on_connected() {
  connect_done_ = engine_.now();
  last_activity_ = connect_done_;
  ++tx_->server_->requests;
  ++tx_->server_->sessions;
  req_state_ = Req::Body;
  resp_state_ = Resp::Head;
  reset_head(tx_->resp_);
  tx_->rlen_ = tx_->rscan_ = 0;
  // Replayable: an idempotent request (RFC 9110 §9.2.2: sending it twice does no harm) whose
  // whole content is in to_server_ (no body, or all of it arrived with the head).
  replay_ok_ = !retried_ && http::idempotent(tx_->method_) &&
               (req_body_ == BodyKind::None || (req_body_ == BodyKind::Length && tx_->req_channel_.limit() == 0));
}

bool HttpSession::server_output_pending() const { return tx_ && tx_->to_server_off_ < tx_->to_server_.size(); }

// The server closed the connection without a byte of response: on a reused connection, the
// keep-alive race (it closed before reading our request); on a fresh one, a server that died or
// dropped the request. An idempotent request kept whole goes again, once, on a new connection,
// to another server when one is available, else to the same one.
bool HttpSession::retry_on_fresh_connection() {
  if (!replay_ok_ || tx_->rlen_ != 0) return false;
  replay_ok_ = false;
  retried_ = true;
  ++tx_->pool_->retried;
  Server& failed = *tx_->server_;
  if (!conn_reused_) {
    ++failed.resets;
    engine_.note_server_error(failed, "closed the connection without a response");
  }
  // Another server if there is one, even after the race: a server that is shutting down closes
  // its idle connections a moment before its listener, so the same server may take the new
  // connection and then drop it too.
  if (another_available(*tx_->pool_, failed, engine_.now(), tx_->tried_, &tx_->host_target_)) {
    tx_->tried_.push_back(failed.uid);
  }
  close_server(false);
  tx_->to_server_off_ = 0;
  req_state_ = Req::Connect;
  resp_state_ = Resp::Idle;
  connect_next();
  return true;
}

bool HttpSession::flush_to_server() {
  if (!tx_ || tx_->to_server_off_ >= tx_->to_server_.size()) return false;
  ServerConn* c = engine_.find_conn(conn_key_);
  if (!c || !c->ep.writable) return false;
  IoResult r = transmit(c->ep.fd.get(), tx_->to_server_.data() + tx_->to_server_off_,
                        tx_->to_server_.size() - tx_->to_server_off_, c->ep.writable);
  if (r.kind == IoResult::Kind::Again) return false;
  if (r.kind == IoResult::Kind::Error) {
    if (retry_on_fresh_connection()) return true;
    if (resp_state_ == Resp::Head && tx_->rlen_ == 0) {
      respond_error(502, "server closed the connection", "SH");
    } else {
      abort("SD");
    }
    return true;
  }
  request_sent_any_ = true;
  tx_->server_->traffic.bytes_out += r.bytes;
  tx_->server_->traffic.bytes_copied += r.bytes;
  engine_.totals().bytes_copied += r.bytes;
  tx_->to_server_off_ += r.bytes;
  if (tx_->to_server_off_ == tx_->to_server_.size() && !replay_ok_) {
    tx_->to_server_.clear();
    tx_->to_server_off_ = 0;
    tx_->to_server_header_ = 0;
  }
  last_activity_ = engine_.now();
  return true;
}

}  // namespace epoxy
