// A TCP-mode session: one client connection spliced to one server connection.
//
//   Selecting ──reply/timeout──▶ Connecting ──SO_ERROR=0──▶ Established ──both ways done──▶ closed
//                                  │  ▲ refused / timed out: next server (retries)
//                                  └──┘ none left: client closed
//
// Readiness is recorded once per edge (Sōzu's habit): epoll sets `readable`/`writable`, the
// channels clear them when a call shows the socket has nothing more, and the session acts on
// readiness whenever its state lets it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../core/fd.h"
#include "../io/channel.h"
#include "model.h"

namespace epoxy {

class Engine;

struct Endpoint {
  Fd fd;
  bool readable = false;
  bool writable = false;
  bool hangup = false;  // EPOLLHUP or EPOLLERR seen
};

class TcpSession {
 public:
  enum class State { Selecting, Connecting, Established, Closed };

  TcpSession(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot, uint32_t listener_index,
             Fd client, const SockAddr& peer);
  ~TcpSession();

  uint64_t key() const { return key_; }
  State state() const { return state_; }
  const SockAddr& peer() const { return peer_; }
  const Snapshot& snapshot() const { return *snapshot_; }
  uint32_t listener_index() const { return listener_index_; }
  const Pool* pool() const { return pool_.get(); }
  const Server* server() const { return server_.get(); }
  int client_fd() const { return client_.fd.get(); }

  // Entry points from the engine.
  void begin_select(uint32_t token);
  // A null pool means the listener's pool; a forced server is tried first if still eligible.
  void begin_connect(std::shared_ptr<Pool> pool, std::shared_ptr<Server> forced);
  void on_event(bool server_side, uint32_t events);
  void on_timer();
  void run();  // moves bytes as readiness allows; may close the session

  uint32_t select_token() const { return token_; }
  int64_t timer_at = 0;       // deadline of this session's entry in the timer heap (0: none)
  bool in_ready_list = false;

 private:
  int64_t deadline() const;
  void arm_timer();
  void try_connect();
  bool choose_server();
  void note_connect_failure(int err);
  bool may_retry() const;
  void connect_failed(int err);
  void fail_no_server();
  void finish_connect();
  void account(const ChannelTraffic& up, const ChannelTraffic& down);
  void abort(int err, const char* why);
  void close();
  void release_server();

  Engine& engine_;
  uint64_t key_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint32_t listener_index_;
  std::shared_ptr<ListenerCounters> listener_counters_;
  SockAddr peer_;
  State state_ = State::Selecting;

  Endpoint client_;
  Endpoint server_conn_;
  Channel up_;    // client -> server
  Channel down_;  // server -> client

  std::shared_ptr<Pool> pool_;
  std::shared_ptr<Server> server_;
  std::shared_ptr<Server> forced_;
  bool counted_on_server_ = false;
  std::vector<uint32_t> tried_;
  uint32_t attempts_ = 0;
  uint32_t token_ = 0;
  int64_t phase_deadline_ = 0;  // select or connect deadline
  int64_t last_activity_ = 0;
};

}  // namespace epoxy
