// A TCP-mode session: one client connection spliced to one server connection.
//
//   Selecting ──reply/timeout──▶ Connecting ──SO_ERROR=0──▶ Established ──both ways done──▶ closed
//                     │            │  ▲ refused / timed out: next server (retries)
//                     │            └──┘ none left: client closed
//                     └─every server at maxconn─▶ Queued ─slot free─▶ Connecting (timeout: closed)
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
#include "session.h"

namespace epoxy {

class TcpSession final : public Session {
 public:
  enum class State { Selecting, Queued, Connecting, Established, Closed };

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
