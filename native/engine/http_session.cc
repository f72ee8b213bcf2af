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


HttpSession::BodyKind HttpSession::body_kind(http::Framing framing) {
  switch (framing) {
    case http::Framing::ContentLength:
      return BodyKind::Length;
    case http::Framing::Chunked:
      return BodyKind::Chunked;
    case http::Framing::UntilClose:  // responses only (the parser never frames a request so)
      return BodyKind::UntilClose;
    case http::Framing::None:
      break;
  }
  return BodyKind::None;
}

HttpSession::HttpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot,
                         uint32_t listener_index, Fd client, const SockAddr& peer)
    : Session(engine, key, std::move(snapshot), listener_index, std::move(client), peer) {
  conn_start_ = req_start_ = last_activity_ = engine_.now();
}

void HttpTx::reset() {
  if (pool_) --pool_->active;  // the transaction's request no longer counts on its pool
  reset_head(req_);
  method_.clear();
  path_.clear();
  host_.clear();
  req_chunks_.reset();
  to_server_.clear();
  to_server_off_ = 0;
  to_server_header_ = 0;
  req_channel_.reset();
  req_chunk_splice_ = 0;
  pool_.reset();
  server_.reset();
  forced_.reset();
  hash_key_.clear();
  tried_.clear();
  host_target_ = {};
  rlen_ = rscan_ = 0;
  reset_head(resp_);
  resp_chunks_.reset();
  to_client_.clear();
  to_client_off_ = 0;
  resp_channel_.reset();
  resp_chunk_splice_ = 0;
  up_.reset();
  down_.reset();
}

HttpTx& HttpSession::tx() {
  if (!tx_) tx_ = engine_.acquire_tx();
  return *tx_;
}

void HttpSession::release_tx() {
  if (!tx_) return;
  if (tx_->rbuf_) engine_.buffers().release(std::move(tx_->rbuf_));
  tx_->rbuf_.reset();
  engine_.release_tx(std::move(tx_));
  tx_.reset();
}

HttpSession::~HttpSession() { close(); }

void HttpSession::start() { arm_timer(); }

void HttpSession::on_client_event(uint32_t events) {
  client_.note(events);
  if (client_.hangup && mode_ == Mode::Http && req_state_ != Req::Head) {
    // Reset or gone both ways while its request is in flight: nobody will read the answer.
    abort(queued_in() ? "CQ" : req_state_ == Req::Body ? "CD" : resp_state_ == Resp::Body ? "CD" : "CH");
    return;
  }
  run();
}

void HttpSession::on_conn_event(ServerConn& conn, uint32_t events) {
  if (conn.key != conn_key_) return;
  if (req_state_ == Req::Connect && !conn.connected) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = connect_result(conn.ep.fd.get(), events);
    if (err != 0) {
      conn_failed(err);
    } else {
      conn.connected = true;
      on_connected();
    }
    if (!closed()) run();
    return;
  }
  run();
}

// ---- the loop ----

void HttpSession::run() {
  for (int i = 0; !closed(); ++i) {
    if (i == kMaxStepsPerRun) {
      // Out of turn budget with work left: readiness is edge-triggered, so no new event may
      // come for bytes already waiting. Come back on the loop's next turn.
      engine_.mark_ready(*this);
      break;
    }
    bool progress;
    switch (mode_) {
      case Mode::Tunnel:
        progress = run_tunnel();
        break;
      case Mode::Generated:
      case Mode::Linger:
        progress = run_linger();
        break;
      case Mode::Http:
        progress = step_request();
        if (!closed() && mode_ == Mode::Http) progress = step_response() || progress;
        break;
    }
    if (!progress) break;
  }
  if (!closed()) arm_timer();
}

// ---- request half ----

bool HttpSession::step_request() {
  switch (req_state_) {
    case Req::Head:
      return resp_state_ == Resp::Idle && read_head();
    case Req::Select:
    case Req::Connect:
      return false;
    case Req::Body:
      return forward_request_body();
    case Req::Done:
      return false;
  }
  return false;
}

bool HttpSession::fill_client_buffer() {
  if (!in_) {
    in_ = engine_.buffers().acquire();
    in_len_ = 0;
  }
  size_t cap = engine_.buffers().buffer_size();
  if (!client_.readable || client_eof_ || in_len_ >= cap) return false;
  IoResult r = receive(client_.fd.get(), in_.get() + in_len_, cap - in_len_, client_.readable, client_.fin);
  switch (r.kind) {
    case IoResult::Kind::Again:
      return false;
    case IoResult::Kind::End:
      client_eof_ = true;
      return true;
    case IoResult::Kind::Error:
      abort(req_state_ == Req::Head ? "CR" : "CD");
      return true;
    case IoResult::Kind::Moved:
      break;
  }
  if (in_len_ == 0 && req_state_ == Req::Head) req_start_ = engine_.now();
  in_len_ += r.bytes;
  bytes_from_client_ += r.bytes;
  listener_counters_->traffic.bytes_in += r.bytes;
  last_activity_ = engine_.now();
  return true;
}

void HttpSession::consume_input(size_t n) {
  if (n >= in_len_) {
    in_len_ = 0;
  } else {
    memmove(in_.get(), in_.get() + n, in_len_ - n);
    in_len_ -= n;
  }
  scan_ = 0;
}

bool HttpSession::read_head() {
  bool progress = fill_client_buffer();
  if (closed()) return true;
  if (awaiting_proxy() && !read_proxy_header()) return progress || closed();
  if (in_len_ == 0) {
    if (client_eof_) close();  // the client ended between requests: a clean end
    else if (in_ && !client_.readable) {
      engine_.buffers().release(std::move(in_));  // idle keep-alive: no buffer held
      in_.reset();
    }
    return progress || closed();
  }
  std::string_view data = view(in_, in_len_);
  size_t end = http::find_head_end(data, scan_);
  if (end == 0) {
    size_t limit = std::min<size_t>(snapshot_->tuning.max_head, engine_.buffers().buffer_size());
    if (in_len_ >= limit) {
      respond_error(431, "request head too large", "PR");
    } else if (client_eof_) {
      termination_ = "CR";
      close();
    }
    return true;
  }
  http::Limits limits;
  limits.max_head = snapshot_->tuning.max_head;
  http::ParseError err{};
  HttpTx& t = tx();
  if (http::parse_request(data.substr(0, end), limits, t.req_, err) != http::ParseStatus::Done) {
    tx_->method_.assign(tx_->req_.method);  // whatever of the request line was read, for the access log
    tx_->path_.assign(tx_->req_.target);
    respond_error(err.status ? err.status : 400, err.reason ? err.reason : "malformed request", "PR");
    return true;
  }
  begin_request();
  return true;
}

// acceptProxy: the PROXY header comes before the first request; nothing is parsed, routed or
// sent before it is whole and valid. False while it is incomplete, or when the connection closed.
bool HttpSession::read_proxy_header() {
  size_t used = 0;
  ProxyStep step = advance_proxy_header(in_len_ == 0 ? std::string_view{} : view(in_, in_len_), client_eof_, used);
  if (step == ProxyStep::Done) {
    consume_input(used);
    req_start_ = engine_.now();  // the request clock starts after the header
    return true;
  }
  if (step == ProxyStep::Wait) return false;
  termination_ = "PR";
  close();
  return false;
}

void HttpSession::begin_request() {
  ++requests_;
  ++listener_counters_->requests;
  tx_->method_.assign(tx_->req_.method);
  tx_->path_.assign(tx_->req_.target);
  tx_->host_ = http::normalize_host(tx_->req_.host);
  client_http10_ = tx_->req_.minor == 0;
  client_keep_alive_ = tx_->req_.keep_alive;
  status_ = 0;
  connect_done_ = resp_start_ = dequeued_at_ = 0;
  queued_since_ = 0;
  termination_ = kTermNormal;
  request_sent_any_ = false;
  head_built_ = replay_ok_ = retried_ = false;
  tx_->tried_.clear();
  attempts_ = 0;

  req_body_ = body_kind(tx_->req_.framing);
  if (req_body_ == BodyKind::Chunked) tx_->req_chunks_.reset();
  if (snapshot_->select_hook) {
    // The hook decides first; the head stays in in_ (untouched) until it answers.
    std::array<std::string_view, 4> info{tx_->req_.method, tx_->req_.target, tx_->host_, view(in_, tx_->req_.head_len)};
    select_token_ = engine_.park_for_select(*this, info.data(), info.size());
    req_state_ = Req::Select;
    phase_deadline_ = engine_.now() + snapshot_->timeouts.select_ms + 250;
    return;
  }
  route_and_connect(nullptr, nullptr);
}

bool HttpSession::forward_request_body() {
  bool progress = flush_to_server();
  if (closed() || server_output_pending()) return progress;
  switch (req_body_) {
    case BodyKind::None:
    case BodyKind::UntilClose:
      req_state_ = Req::Done;
      return true;
    case BodyKind::Length:
      if (!drained(tx_->req_channel_) && !pump_request_channel(progress)) return true;
      if (drained(tx_->req_channel_)) {
        req_state_ = Req::Done;
        progress = true;
      }
      return progress;
    case BodyKind::Chunked: {
      // Inside a large chunk with nothing buffered: splice its data, then let the decoder skip it.
      if (tx_->req_chunk_splice_ > 0 || (in_len_ == 0 && tx_->req_chunks_.data_left() >= snapshot_->tuning.splice_threshold)) {
        if (tx_->req_chunk_splice_ == 0) {
          tx_->req_chunk_splice_ = tx_->req_chunks_.data_left();
          tx_->req_channel_.set_limit(tx_->req_chunk_splice_);
        }
        if (!pump_request_channel(progress)) return true;
        if (!drained(tx_->req_channel_)) return progress;
        tx_->req_chunks_.skip_data(tx_->req_chunk_splice_);
        tx_->req_chunk_splice_ = 0;
        progress = true;
      }
      // Read whenever there is room: a framing line cut at the end of the buffer needs the
      // next bytes before the decoder can move on.
      progress = fill_client_buffer() || progress;
      if (closed()) return true;
      bool done = false;
      long used = forward_chunks(tx_->req_chunks_, view(in_, in_len_), tx_->to_server_, false, done);
      if (used < 0) {
        respond_error(400, "invalid chunked body", "PR");
        return true;
      }
      if (used == 0 && !done && client_eof_) {
        abort("CD");  // the client ended inside its body
        return true;
      }
      consume_input(static_cast<size_t>(used));
      if (done) req_state_ = Req::Done;
      flush_to_server();
      return progress || used > 0 || done;
    }
  }
  return progress;
}

// Moves request body bytes client -> server through tx_->req_channel_, up to its limit (spliced
// when large). False when that aborted the session.
bool HttpSession::pump_request_channel(bool& progress) {
  ServerConn* c = engine_.find_conn(conn_key_);
  if (!c) return true;
  ChannelTraffic t;
  PumpResult r = tx_->req_channel_.pump(client_.fd.get(), client_.readable, client_.fin, c->ep.fd.get(), c->ep.writable, kReadBudget, t);
  uint64_t out = t.bytes_spliced + t.bytes_copied;
  bytes_from_client_ += t.bytes_in;
  listener_counters_->traffic.bytes_in += t.bytes_in;
  tx_->server_->traffic.bytes_out += out;
  tx_->server_->traffic.bytes_spliced += t.bytes_spliced;
  tx_->server_->traffic.bytes_copied += t.bytes_copied;
  engine_.totals().bytes_spliced += t.bytes_spliced;
  engine_.totals().bytes_copied += t.bytes_copied;
  if (t.bytes_in || out) {
    last_activity_ = engine_.now();
    request_sent_any_ = true;
    progress = true;
  }
  if (r == PumpResult::Error || (tx_->req_channel_.source_ended() && tx_->req_channel_.limit() > 0)) {
    abort("CD");  // a socket error, or the client ended before its body did
    return false;
  }
  if (r == PumpResult::MoreWork) engine_.mark_ready(*this);
  return true;
}

// The response-side twin: server -> client through tx_->resp_channel_. With `bounded`, the server
// ending before the limit is an error (a body shorter than announced).
}  // namespace epoxy
