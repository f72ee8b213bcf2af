// A TCP-mode session: one client connection spliced to one server connection.
//
//   Inspecting ──header, hello or timeout: routed──▶ Selecting (hook) or Connecting
//   Selecting ──reply/timeout──▶ Connecting ──SO_ERROR=0──▶ Established ──both ways done──▶ closed
//                     │            │  ▲ refused / timed out: next server (retries)
//                     │            └──┘ none left: client closed
//                     └─every server at maxconn─▶ Queued ─slot free─▶ Connecting (timeout: closed)
//
// Inspecting reads the connection's first bytes when the listener asks for them: the PROXY
// header (acceptProxy; a bad or late one closes the connection before any server is chosen)
// and the TLS ClientHello (routes by SNI or ALPN; what the hello says, or that it is not one,
// picks the route). Every byte read is kept and written to the server first — after the PROXY
// header the server wants, in the same write — and then the channels take over.
//
// Readiness is recorded once per edge (Sōzu's habit): epoll sets `readable`/`writable`, the
// channels clear them when a call shows the socket has nothing more, and the session acts on
// readiness whenever its state lets it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../io/channel.h"
#include "../tls/client_hello.h"
#include "session.h"

namespace epoxy {

class TcpSession final : public Session {
 public:
  enum class State { Inspecting, Selecting, Queued, Connecting, Established, Closed };

  TcpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot, uint32_t listener_index,
             Fd client, const SockAddr& peer);
  ~TcpSession() override;

  const Pool* pool() const override { return pool_.get(); }
  const Server* server() const override { return server_.get(); }

  void start() override;
  void on_client_event(uint32_t events) override;
  void on_server_event(uint32_t events) override;
  void on_timer() override;
  void run() override;
  void on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) override;
  void on_dequeue() override;

 private:
  int64_t deadline() const override;
  // The preface, before a route is chosen.
  void read_preface();
  void advance_preface();
  void hello_verdict(tls::HelloStatus status);
  void preface_timed_out();
  // Chooses the route (TCP routes by what the hello said) and goes on to the hook or a server.
  void route();
  void park_for_hook();
  // Writes head_ (PROXY header and the bytes read before the server was reached); false when
  // that failed and the session is closed.
  bool flush_head();
  void prepare_head();
  // A null pool means the listener's pool; a forced server is tried first if still eligible.
  void begin_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced);
  void try_connect();
  bool wait_for_server(uint32_t server);
  std::string hash_key() const;
  void note_connect_failure(int err);
  bool may_retry();  // counts the retry it allows
  void connect_failed(int err);
  void fail_no_server();
  void finish_connect();
  void account(const ChannelTraffic& up, const ChannelTraffic& down);
  void abort(int err);
  void close();
  void release_server();

  State state_ = State::Selecting;
  // Client bytes read before the server connection existed, then (at connect) the PROXY header
  // in front of them: written before the channels run. Emptied once written.
  std::string head_;
  size_t head_off_ = 0;
  size_t head_client_bytes_ = 0;  // of head_, the bytes that came from the client
  size_t hello_fed_ = 0;          // of head_, the bytes given to hello_
  bool client_eof_ = false;       // the client ended its stream while inspected
  std::unique_ptr<tls::ClientHelloReader> hello_;  // while a ClientHello is awaited
  TlsInfo tls_;
  bool tls_seen_ = false;         // a whole ClientHello was read: tls_ is valid
  std::shared_ptr<Pool> route_pool_;  // the route's pool (TCP routes); null: the listener's
  std::string route_alpn_;        // the ALPN the route matched on, for the PROXY v2 TLV
  HostTarget route_host_;         // a host map route: the entry the SNI matched (its servers only)
  Endpoint server_conn_;
  Channel up_;    // client -> server
  Channel down_;  // server -> client

  std::shared_ptr<Pool> pool_;
  std::shared_ptr<Server> server_;
  std::shared_ptr<Server> forced_;
  bool counted_on_server_ = false;
  std::vector<uint32_t> tried_;
  uint32_t attempts_ = 0;
  int64_t phase_deadline_ = 0;  // select or connect deadline
  int64_t last_activity_ = 0;
};

}  // namespace epoxy
