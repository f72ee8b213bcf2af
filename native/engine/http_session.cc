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

namespace epoxy {

namespace {
constexpr size_t kReadBudget = 1u << 20;
constexpr int64_t kLingerMs = 2000;
constexpr int kMaxStepsPerRun = 64;

std::string_view view(const Buffer& b, size_t len) { return {reinterpret_cast<const char*>(b.get()), len}; }

// Termination codes in the spirit of haproxy's: who ended it (C client, S server, P proxy,
// c/s a client/server timeout, - nobody) and in which state (R request, C connect, H response
// head, D data, - complete).
constexpr const char* kTermNormal = "--";

// The path of a request target: absolute-form targets ("http://host/p") route and hash on
// their path.
std::string_view path_of(std::string_view target) {
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && !target.empty() && target.front() != '/') {
    size_t slash = target.find('/', scheme + 3);
    return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target;
}

// A length-bounded channel that read its whole limit and wrote it all out.
bool drained(const Channel& ch) { return ch.limit() == 0 && !ch.held(); }
}  // namespace

HttpSession::HttpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot,
                         uint32_t listener_index, Fd client, const SockAddr& peer)
    : Session(engine, key, std::move(snapshot), listener_index, std::move(client), peer) {
  conn_start_ = req_start_ = last_activity_ = engine_.now();
}

// Keeps a head's header vector (its capacity) while resetting everything else.
template <typename Head>
void reset_head(Head& head) {
  auto headers = std::move(head.headers);
  head = Head{};
  headers.clear();
  head.headers = std::move(headers);
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
  req_channel_.reset();
  req_chunk_splice_ = 0;
  pool_.reset();
  server_.reset();
  forced_.reset();
  hash_key_.clear();
  tried_.clear();
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

  switch (tx_->req_.framing) {
    case http::Framing::ContentLength:
      req_body_ = BodyKind::Length;
      break;
    case http::Framing::Chunked:
      req_body_ = BodyKind::Chunked;
      tx_->req_chunks_.reset();
      break;
    default:
      req_body_ = BodyKind::None;
      break;
  }
  if (snapshot_->select_hook) {
    // The hook decides first; the head stays in in_ (untouched) until it answers.
    std::array<std::string_view, 4> info{tx_->req_.method, tx_->req_.target, tx_->host_, view(in_, tx_->req_.head_len)};
    select_token_ = engine_.park_for_select(*this, &info);
    req_state_ = Req::Select;
    phase_deadline_ = engine_.now() + snapshot_->timeouts.select_ms + 250;
    return;
  }
  route_and_connect(nullptr, nullptr);
}

void HttpSession::on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) {
  if (req_state_ != Req::Select) return;
  select_token_ = 0;
  route_and_connect(std::move(pool), std::move(server));
  run();
}

// The hook's pool (or the pool of its server) wins; otherwise the listener's routes decide.
void HttpSession::route_and_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced) {
  if (!pool) {
    const Route* route = snapshot_->listeners[listener_index_].match(tx_->host_, path_of(tx_->path_));
    if (!route) {
      respond_error(404, "no route for this host and path", "PR");
      return;
    }
    pool = route->pool;
  }
  tx_->pool_ = std::move(pool);
  ++tx_->pool_->active;
  tx_->forced_ = std::move(forced);
  tx_->hash_key_ = hash_key_for(*tx_->pool_, path_of(tx_->path_));
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
  if (tx_->pool_->queued > 0 && queued_since_ == 0) {
    // Others are waiting for a slot: take a place behind them rather than jump the queue.
    if (wait_for_server()) engine_.request_queue_service(tx_->pool_);
    return;
  }
  for (;;) {
    Pick pick = pick_server(*tx_->pool_, engine_.now(), tx_->tried_, tx_->forced_, tx_->hash_key_);
    tx_->server_ = std::move(pick.server);
    if (!tx_->server_) {
      if (pick.full) {
        wait_for_server();
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
    ++tx_->server_->lb.active;
    counted_on_server_ = true;
    ServerConn* idle = retried_ ? nullptr : engine_.take_idle_conn(*tx_->server_, key_);
    if (ServerConn* c = idle) {
      conn_key_ = c->key;
      conn_reused_ = true;
      on_connected();
      return;
    }
    int err = 0;
    ServerConn* c = engine_.open_conn(tx_->server_, key_, err);
    if (!c) {
      conn_failed(err);
      return;
    }
    conn_key_ = c->key;
    conn_reused_ = false;
    phase_deadline_ = engine_.now() + snapshot_->timeouts.connect_ms;
    if (c->connected) on_connected();
    return;
  }
}

// Every server that could take the request is at its maxconn: wait in the pool's queue (the
// request head stays in in_), or get a 503 when the queue is full.
bool HttpSession::wait_for_server() {
  if (!enqueue(tx_->pool_)) {
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
  if (another_available(*tx_->pool_, failed, engine_.now(), tx_->tried_)) tx_->tried_.push_back(failed.uid);
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
  }
  last_activity_ = engine_.now();
  return true;
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
bool HttpSession::pump_response_channel(bool& progress, bool bounded) {
  ServerConn* c = engine_.find_conn(conn_key_);
  if (!c) return true;
  ChannelTraffic t;
  PumpResult r = tx_->resp_channel_.pump(c->ep.fd.get(), c->ep.readable, c->ep.fin, client_.fd.get(), client_.writable, kReadBudget, t);
  uint64_t out = t.bytes_spliced + t.bytes_copied;
  tx_->server_->traffic.bytes_in += t.bytes_in;
  bytes_to_client_ += out;
  TrafficCounters& l = listener_counters_->traffic;
  l.bytes_out += out;
  l.bytes_spliced += t.bytes_spliced;
  l.bytes_copied += t.bytes_copied;
  engine_.totals().bytes_spliced += t.bytes_spliced;
  engine_.totals().bytes_copied += t.bytes_copied;
  if (t.bytes_in || out) {
    last_activity_ = engine_.now();
    progress = true;
  }
  if (r == PumpResult::Error || (bounded && tx_->resp_channel_.source_ended() && tx_->resp_channel_.limit() > 0)) {
    abort("SD");
    return false;
  }
  if (r == PumpResult::MoreWork) engine_.mark_ready(*this);
  return true;
}

// ---- response half ----

bool HttpSession::step_response() {
  switch (resp_state_) {
    case Resp::Idle:
    case Resp::Done:
      return false;
    case Resp::Head:
      return read_response_head();
    case Resp::Body:
      return forward_response_body();
  }
  return false;
}

bool HttpSession::fill_response_buffer() {
  ServerConn* c = engine_.find_conn(conn_key_);
  if (!c || !c->ep.readable) return false;
  if (!tx_->rbuf_) {
    tx_->rbuf_ = engine_.buffers().acquire();
    tx_->rlen_ = 0;
  }
  size_t room = engine_.buffers().buffer_size() - tx_->rlen_;
  if (room == 0) return false;
  IoResult r = receive(c->ep.fd.get(), tx_->rbuf_.get() + tx_->rlen_, room, c->ep.readable, c->ep.fin);
  switch (r.kind) {
    case IoResult::Kind::Again:
      return false;
    case IoResult::Kind::End:
    case IoResult::Kind::Error:
      // The server is done with this connection: what it sent so far is all there will be.
      c->ep.readable = false;
      c->ep.hangup = true;
      return true;
    case IoResult::Kind::Moved:
      break;
  }
  tx_->rlen_ += r.bytes;
  tx_->server_->traffic.bytes_in += r.bytes;
  last_activity_ = engine_.now();
  return true;
}

bool HttpSession::read_response_head() {
  bool progress = fill_response_buffer();
  if (tx_->rlen_ == 0) {
    ServerConn* c = engine_.find_conn(conn_key_);
    if (c && c->ep.hangup && !retry_on_fresh_connection()) {
      respond_error(502, "server closed the connection without a response", "SH");
    }
    return progress;
  }
  std::string_view data = view(tx_->rbuf_, tx_->rlen_);
  size_t end = http::find_head_end(data, tx_->rscan_);
  if (end == 0) {
    ServerConn* c = engine_.find_conn(conn_key_);
    if (tx_->rlen_ >= engine_.buffers().buffer_size()) {
      respond_error(502, "response head too large", "PH");
    } else if (c && c->ep.hangup) {
      respond_error(502, "server closed the connection mid-response", "SH");
    }
    return progress;
  }
  http::Limits limits;
  http::ParseError err{};
  reset_head(tx_->resp_);
  if (http::parse_response(data.substr(0, end), tx_->method_, limits, tx_->resp_, err) != http::ParseStatus::Done) {
    respond_error(502, "invalid response from server", "PH");
    return true;
  }
  if (tx_->resp_.status >= 100 && tx_->resp_.status < 200 && tx_->resp_.status != 101) {
    // Interim responses (100 Continue, 103 Early Hints) pass through as they are.
    tx_->to_client_.append(data.substr(0, tx_->resp_.head_len));
    memmove(tx_->rbuf_.get(), tx_->rbuf_.get() + tx_->resp_.head_len, tx_->rlen_ - tx_->resp_.head_len);
    tx_->rlen_ -= tx_->resp_.head_len;
    tx_->rscan_ = 0;
    flush_to_client();
    return true;
  }
  begin_response();
  return true;
}

void HttpSession::begin_response() {
  if (replay_ok_) {
    replay_ok_ = false;  // a response arrived: no replay any more
    tx_->to_server_.clear();
    tx_->to_server_off_ = 0;
  }
  status_ = tx_->resp_.status;
  resp_start_ = engine_.now();
  tx_->server_->response_ms.record(resp_start_ - req_start_);
  account_response(status_);
  if (status_ >= 500) {
    ++tx_->server_->responses_5xx;
    if (tx_->pool_->passive.count_5xx) engine_.note_server_error(*tx_->server_, "5xx response");
  }
  if (tx_->resp_.tunnel) {
    // Switching protocols: everything after the head belongs to the new protocol.
    tx_->to_client_.append(view(tx_->rbuf_, tx_->rlen_));
    tx_->rlen_ = 0;
    tx_->to_server_.append(view(in_, in_len_));
    in_len_ = 0;
    mode_ = Mode::Tunnel;
    server_reusable_ = false;
    return;
  }
  switch (tx_->resp_.framing) {
    case http::Framing::ContentLength:
      resp_body_ = BodyKind::Length;
      break;
    case http::Framing::Chunked:
      resp_body_ = BodyKind::Chunked;
      tx_->resp_chunks_.reset();
      break;
    case http::Framing::UntilClose:
      resp_body_ = BodyKind::UntilClose;
      break;
    default:
      resp_body_ = BodyKind::None;
      break;
  }
  dechunk_ = client_http10_ && resp_body_ == BodyKind::Chunked;
  // The client connection must end after this response when it asked for that, when the end of
  // the body is marked by the close, or when the request is still arriving (an early response).
  close_client_after_ = !client_keep_alive_ || resp_body_ == BodyKind::UntilClose || dechunk_ ||
                        req_state_ != Req::Done || client_eof_ || engine_.stopping();
  server_reusable_ = tx_->resp_.keep_alive && resp_body_ != BodyKind::UntilClose;

  http::ResponseRewrite rw;
  rw.close_client = close_client_after_;
  rw.client_http10 = client_http10_;
  rw.dechunk = dechunk_;
  http::write_response_head(tx_->resp_, rw, tx_->to_client_);

  std::string_view rest = view(tx_->rbuf_, tx_->rlen_).substr(tx_->resp_.head_len);
  size_t used = 0;
  switch (resp_body_) {
    case BodyKind::Length: {
      uint64_t prefix = std::min<uint64_t>(tx_->resp_.content_length, rest.size());
      tx_->to_client_.append(rest.substr(0, prefix));
      used = prefix;
      tx_->resp_channel_.set_limit(tx_->resp_.content_length - prefix);
      break;
    }
    case BodyKind::Chunked: {
      bool done = false;
      long n = forward_chunks(tx_->resp_chunks_, rest, tx_->to_client_, dechunk_, done);
      if (n < 0) {
        abort("SD");
        return;
      }
      used = static_cast<size_t>(n);
      if (done) resp_body_ = BodyKind::None;  // the whole body was in the first read
      break;
    }
    case BodyKind::UntilClose:
      tx_->to_client_.append(rest);
      used = rest.size();
      tx_->resp_channel_.set_limit(Channel::kUnlimited);
      break;
    case BodyKind::None:
      break;
  }
  if (used < rest.size()) server_reusable_ = false;  // bytes beyond the response: never reuse
  tx_->rlen_ = 0;
  tx_->rscan_ = 0;
  resp_state_ = Resp::Body;
}

bool HttpSession::flush_to_client() {
  if (!tx_ || tx_->to_client_off_ >= tx_->to_client_.size() || !client_.writable) return false;
  IoResult r = transmit(client_.fd.get(), tx_->to_client_.data() + tx_->to_client_off_,
                        tx_->to_client_.size() - tx_->to_client_off_, client_.writable);
  if (r.kind == IoResult::Kind::Again) return false;
  if (r.kind == IoResult::Kind::Error) {
    abort("CD");
    return true;
  }
  tx_->to_client_off_ += r.bytes;
  bytes_to_client_ += r.bytes;
  listener_counters_->traffic.bytes_out += r.bytes;
  listener_counters_->traffic.bytes_copied += r.bytes;
  engine_.totals().bytes_copied += r.bytes;
  if (tx_->to_client_off_ == tx_->to_client_.size()) {
    tx_->to_client_.clear();
    tx_->to_client_off_ = 0;
  }
  last_activity_ = engine_.now();
  return true;
}

bool HttpSession::forward_response_body() {
  bool progress = flush_to_client();
  if (closed() || !tx_->to_client_.empty()) return progress;
  ServerConn* c = engine_.find_conn(conn_key_);
  switch (resp_body_) {
    case BodyKind::None:
      resp_state_ = Resp::Done;
      break;
    case BodyKind::Length:
      if (!drained(tx_->resp_channel_) && !pump_response_channel(progress, true)) return true;
      if (!drained(tx_->resp_channel_)) return progress;
      resp_state_ = Resp::Done;
      break;
    case BodyKind::UntilClose:
      if (!pump_response_channel(progress, false)) return true;
      if (!tx_->resp_channel_.source_ended() || tx_->resp_channel_.held()) return progress;
      resp_state_ = Resp::Done;
      break;
    case BodyKind::Chunked: {
      if (tx_->resp_chunk_splice_ > 0 || (tx_->rlen_ == 0 && tx_->resp_chunks_.data_left() >= snapshot_->tuning.splice_threshold)) {
        if (tx_->resp_chunk_splice_ == 0) {
          tx_->resp_chunk_splice_ = tx_->resp_chunks_.data_left();
          tx_->resp_channel_.set_limit(tx_->resp_chunk_splice_);
        }
        if (!pump_response_channel(progress, true)) return true;
        if (!drained(tx_->resp_channel_)) return progress;
        tx_->resp_chunks_.skip_data(tx_->resp_chunk_splice_);
        tx_->resp_chunk_splice_ = 0;
        progress = true;
      }
      progress = fill_response_buffer() || progress;
      bool done = false;
      long used = forward_chunks(tx_->resp_chunks_, view(tx_->rbuf_, tx_->rlen_), tx_->to_client_, dechunk_, done);
      if (used < 0 || (used == 0 && !done && c && c->ep.hangup && !c->ep.readable)) {
        abort("SD");  // invalid framing, or the server ended inside the body
        return true;
      }
      memmove(tx_->rbuf_.get(), tx_->rbuf_.get() + used, tx_->rlen_ - static_cast<size_t>(used));
      tx_->rlen_ -= static_cast<size_t>(used);
      if (done) {
        if (tx_->rlen_ > 0) server_reusable_ = false;
        tx_->rlen_ = 0;
        resp_body_ = BodyKind::None;
      }
      flush_to_client();
      if (!done) return progress || used > 0;
      break;
    }
  }
  if (resp_state_ == Resp::Done) {
    if (req_state_ != Req::Done) {
      // The server answered before the request body was complete: neither connection can carry
      // another request. The client gets a lingering close, not an RST.
      server_reusable_ = false;
      close_client_after_ = true;
    }
    finish_transaction();
    return true;
  }
  return progress;
}

void HttpSession::finish_transaction() {
  log_access();
  bytes_from_client_ = bytes_to_client_ = 0;
  close_server(server_reusable_ && req_state_ == Req::Done && tx_->rlen_ == 0);
  resp_state_ = Resp::Idle;
  req_state_ = Req::Head;
  req_start_ = last_activity_ = engine_.now();
  scan_ = 0;
  if (close_client_after_ || client_eof_ || engine_.stopping()) {
    // Graceful end: the response is written; FIN, then drain whatever the client still sends.
    mode_ = Mode::Generated;
    return;
  }
  release_tx();  // idle between requests: the transaction's memory goes back to the pool
}

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
    if (in_len_ == 0) {
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
    --tx_->server_->lb.active;
    engine_.request_queue_service(tx_->pool_);
  }
  counted_on_server_ = false;
  if (conn_key_ == 0) return;
  if (ServerConn* c = engine_.find_conn(conn_key_)) engine_.release_conn(*c, reusable);
  conn_key_ = 0;
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
