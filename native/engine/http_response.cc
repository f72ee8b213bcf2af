// HttpSession: the response half — reading and rewriting the response head, forwarding the
// body (length, chunked, close-delimited; spliced when large), ending the transaction.
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
  resp_body_ = body_kind(tx_->resp_.framing);
  if (resp_body_ == BodyKind::Chunked) tx_->resp_chunks_.reset();
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

}  // namespace epoxy
