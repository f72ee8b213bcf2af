// An HTTP/1.1 session: one client connection carrying a sequence of requests (keep-alive,
// pipelined), each routed on its own to a pool and sent over a pooled server connection.
//
// A transaction has two halves that progress independently, so a server that answers before
// reading the whole request body is served correctly:
//   request:  Head ─parse/route─▶ Connect ─▶ Body ─▶ Done
//   response:               Idle ─────────▶ Head ─▶ Body ─▶ Done
// When both are Done the server connection goes back to its idle list (only after a cleanly
// framed response) and the next request is parsed from bytes already buffered, if any: responses
// leave strictly in request order because the next request is not read before the response ends.
//
// Generated responses (400, 404, 408, 413, 431, 502, 503, 504) end the connection with a
// lingering close: shutdown(SHUT_WR), then reads are drained and dropped for a bounded time, so
// the client reads the response instead of an RST (Apache's lesson).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../http/chunked.h"
#include "../http/parser.h"
#include "../io/buffer_pool.h"
#include "../io/channel.h"
#include "session.h"

namespace epoxy {

// The request-side half of an HTTP session (haproxy's h1s next to the h1c): everything one
// transaction needs — heads, decoders, staging strings, body channels, the server chosen.
// Taken from the engine's pool when a request head is complete and given back when the
// transaction ends, so an idle keep-alive connection holds none of it.
struct HttpTx {
  HttpTx(BufferPool& buffers, PipePool& pipes, size_t splice_threshold)
      : req_channel_(buffers, pipes, splice_threshold),
        resp_channel_(buffers, pipes, splice_threshold),
        up_(buffers, pipes, splice_threshold),
        down_(buffers, pipes, splice_threshold) {
    req_channel_.set_shutdown_at_end(false);
    resp_channel_.set_shutdown_at_end(false);
  }
  // Ready for another transaction; keeps capacities (header vectors, strings) for speed.
  void reset();

  http::RequestHead req_;
  std::string method_;
  std::string path_;
  std::string host_;
  http::ChunkedDecoder req_chunks_;
  std::string to_server_;
  size_t to_server_off_ = 0;
  size_t to_server_header_ = 0;  // a PROXY header at the front of to_server_, for this connection only
  Channel req_channel_;  // request body bytes beyond the buffer (length or large chunks), spliced when large
  uint64_t req_chunk_splice_ = 0;  // chunk data bytes being moved by req_channel_

  std::shared_ptr<Pool> pool_;
  std::shared_ptr<Server> server_;
  std::shared_ptr<Server> forced_;
  std::string hash_key_;  // what the pool's hash balancer hashes for this request ('' for none)
  std::vector<uint32_t> tried_;
  HostTarget host_target_;  // a host map route: the entry this request matched (its servers only)

  Buffer rbuf_;  // response head and small bodies
  size_t rlen_ = 0;
  size_t rscan_ = 0;
  http::ResponseHead resp_;
  http::ChunkedDecoder resp_chunks_;
  std::string to_client_;
  size_t to_client_off_ = 0;
  Channel resp_channel_;  // response body bytes (length, close-delimited, large chunks)
  uint64_t resp_chunk_splice_ = 0;

  Channel up_;  // tunnel after 101 Switching Protocols
  Channel down_;
};

class HttpSession final : public Session {
 public:
  HttpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot, uint32_t listener_index,
              Fd client, const SockAddr& peer);
  ~HttpSession() override;

  const Pool* pool() const override { return tx_ ? tx_->pool_.get() : nullptr; }
  const Server* server() const override { return tx_ ? tx_->server_.get() : nullptr; }

  void start() override;
  void on_client_event(uint32_t events) override;
  void on_conn_event(ServerConn& conn, uint32_t events) override;
  void on_timer() override;
  void run() override;
  void on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) override;
  void on_dequeue() override;
  void on_stop() override;

 private:
  enum class Req { Head, Select, Connect, Body, Done };
  enum class Resp { Idle, Head, Body, Done };
  enum class Mode { Http, Tunnel, Generated, Linger };
  enum class BodyKind { None, Length, Chunked, UntilClose };
  static BodyKind body_kind(http::Framing framing);

  int64_t deadline() const override;

  // request half
  bool step_request();
  bool read_head();
  bool read_proxy_header();
  void begin_request();
  void route_and_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced);
  void start_connect();
  void connect_next();
  bool wait_for_server(uint32_t server);
  void queue_timed_out();
  std::string hash_key_for(const Pool& pool, std::string_view path) const;
  void conn_failed(int err);
  void on_connected();
  bool forward_request_body();
  bool pump_request_channel(bool& progress);
  // response half
  bool step_response();
  bool read_response_head();
  void begin_response();
  bool forward_response_body();
  bool pump_response_channel(bool& progress, bool bounded);
  void finish_transaction();
  // both
  bool flush_to_server();
  bool server_output_pending() const;
  bool retry_on_fresh_connection();
  bool flush_to_client();
  bool fill_client_buffer();
  bool fill_response_buffer();
  void consume_input(size_t n);
  bool run_tunnel();
  bool run_linger();
  void respond_error(int status, const char* detail, const char* termination);
  void close_server(bool reusable);
  void keep_private_conn(uint64_t key);
  // The connection to take for the picked server: idle (shared, or private to this client
  // connection when the server wants PROXY headers), else null.
  ServerConn* take_reusable_conn();
  void frame_for_fresh_conn();
  void abort(const char* termination);
  void close();
  void log_access();
  void account_response(int status);
  // Passive health: the server failed this request (cut, garbled, timed out, 5xx).
  void note_server_failure(const char* termination, const char* detail);
  HttpTx& tx();  // the current transaction's state, taken from the pool on first use
  void release_tx();

  Mode mode_ = Mode::Http;
  Req req_state_ = Req::Head;
  Resp resp_state_ = Resp::Idle;

  // Client bytes not yet consumed: request heads, small bodies, pipelined requests.
  Buffer in_;
  size_t in_len_ = 0;
  size_t scan_ = 0;  // find_head_end() resumes here
  bool client_eof_ = false;
  std::string client_ip_;  // for X-Forwarded-For, formatted on the first request

  // Current request (small state; the large per-request parts live in tx_).
  bool client_keep_alive_ = true;
  bool client_http10_ = false;
  BodyKind req_body_ = BodyKind::None;
  uint32_t attempts_ = 0;
  uint64_t conn_key_ = 0;
  bool conn_reused_ = false;
  bool counted_on_server_ = false;
  bool request_sent_any_ = false;  // a byte of this request reached the server: no redispatch
  int status_ = 0;
  BodyKind resp_body_ = BodyKind::None;
  bool dechunk_ = false;
  bool close_client_after_ = false;
  bool server_reusable_ = true;
  bool head_built_ = false;
  // The request went out whole on a reused server connection and is kept until the response
  // head arrives: if the server had closed that connection meanwhile (the keep-alive race), it
  // is sent again, once, on a fresh connection.
  bool replay_ok_ = false;
  bool retried_ = false;
  std::unique_ptr<HttpTx> tx_;
  // Idle connections that carried this client's PROXY header (servers with proxyProtocol):
  // reused only by this session, closed with it.
  std::vector<uint64_t> private_conns_;

  // Timing (ms) and accounting for the access log.
  int64_t conn_start_ = 0;
  int64_t req_start_ = 0;
  int64_t connect_done_ = 0;
  int64_t dequeued_at_ = 0;  // when the request left the maxconn queue (0: it never waited)
  int64_t resp_start_ = 0;
  int64_t last_activity_ = 0;
  int64_t phase_deadline_ = 0;
  uint64_t bytes_from_client_ = 0;
  uint64_t bytes_to_client_ = 0;
  uint32_t requests_ = 0;
  const char* termination_ = "--";
};

}  // namespace epoxy
