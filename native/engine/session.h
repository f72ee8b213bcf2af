// What every session shares, whatever its protocol: the client connection, the snapshot it
// started with, its place in the timer heap and ready list, and the entry points the engine
// calls. TcpSession (pass-through) and HttpSession (HTTP/1.1) implement it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "../core/fd.h"
#include "../proxyproto/proxy_protocol.h"
#include "model.h"

namespace epoxy {

class Engine;
struct ServerConn;

struct Endpoint {
  Fd fd;
  bool readable = false;
  bool writable = false;
  bool hangup = false;  // EPOLLHUP or EPOLLERR seen
  bool fin = false;     // the peer finished sending (EPOLLRDHUP, HUP or ERR): an EOF awaits reading

  // Records one edge-triggered event; the flags stay set until a call shows otherwise.
  void note(uint32_t events);
};

class Session {
 public:
  Session(Engine& engine, uint64_t key, std::shared_ptr<const Snapshot> snapshot, uint32_t listener_index,
          Fd client, const SockAddr& peer);
  virtual ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t key() const { return key_; }
  bool closed() const { return closed_; }
  // The client: the socket's peer, or the source an accepted PROXY header gave.
  const SockAddr& peer() const { return peer_; }
  const Snapshot& snapshot() const { return *snapshot_; }
  uint32_t listener_index() const { return listener_index_; }
  int client_fd() const { return client_.fd.get(); }

  // For logs: the pool and server the session is using, if any.
  virtual const Pool* pool() const = 0;
  virtual const Server* server() const = 0;

  virtual void start() = 0;                                  // right after accept
  virtual void on_client_event(uint32_t events) = 0;
  virtual void on_server_event(uint32_t events) { (void)events; }      // TCP: its own server fd
  virtual void on_conn_event(ServerConn& conn, uint32_t events) { (void)conn; (void)events; }
  virtual void on_timer() = 0;
  virtual void run() = 0;  // moves bytes as readiness allows; may close the session
  virtual void on_select(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server) = 0;
  // Waiting in a pool's queue (maxconn): it is this session's turn, a server may have a free
  // slot now; try again. The engine has taken the session's entry out of the queue but still
  // counts it as waiting, so no newcomer takes the slot first; waiting again puts the entry
  // back at its place (its arrival order), taking a slot or giving up ends the wait.
  virtual void on_dequeue() = 0;
  // The proxy is stopping: finish what is in flight, take nothing new. Default: carry on.
  virtual void on_stop() {}

  Pool* queued_in() const { return queued_pool_; }
  // Whether its entry is in the queue (false: queued and holding its turn).
  bool in_line() const { return in_line_; }
  uint64_t queue_seq() const { return queue_seq_; }
  // The engine took the entry out to give the session its turn.
  void take_turn() { in_line_ = false; }
  // Ends the session's wait, wherever it is (in line, holding its turn); idempotent.
  void leave_queue();

  int64_t timer_at = 0;  // deadline of this session's entry in the timer heap (0: none)
  int64_t activity_mark = -1;  // the last ActivityWindow window this session was counted in
  bool in_ready_list = false;

 protected:
  virtual int64_t deadline() const = 0;
  void arm_timer();
  // Counts the session out of its listener and the engine; idempotent.
  void mark_closed();
  // Waits in `pool`'s queue for a server under its maxconn; false when the queue is at its
  // limit. The wait is bounded from the first time this transaction queued (queued_since_).
  // `server`: the uid of the one server it waits for (a forced or hashed pick), 0 for any.
  bool enqueue(const std::shared_ptr<Pool>& pool, uint32_t server);
  bool queue_expired() const;
  int64_t queue_deadline() const;

  // ---- the preface: what a connection begins with before it is routed (preface.cc) ----
  const ListenerRoute& listener() const { return snapshot_->listeners[listener_index_]; }
  // Whether the listener expects a PROXY header and it has not been read yet.
  bool awaiting_proxy() const { return awaiting_proxy_; }
  int64_t proxy_deadline() const { return accepted_at_ + listener().accept_proxy.timeout_ms; }
  // Looks for the PROXY header at the start of `data` (every client byte read so far). Done:
  // the client's address is the header's from now on and `consumed` its length. NeedMore:
  // wait (the caller enforces proxy_deadline()). Invalid/TooLarge: counted and logged; the
  // caller closes the connection without sending anything anywhere.
  proxyproto::ParseStatus take_proxy_header(std::string_view data, size_t& consumed);
  // take_proxy_header for a session's reader, with the end of input decided here too. Wait:
  // the header is incomplete and more may come. Done: `consumed` bytes were the header.
  // Refused: invalid, oversized, or the client ended before the header did (counted, logged);
  // the caller closes without sending anything anywhere.
  enum class ProxyStep { Wait, Done, Refused };
  ProxyStep advance_proxy_header(std::string_view data, bool client_ended, size_t& consumed);
  // Counts and logs (one line per second per listener) a connection refused for its preface.
  void note_refused_preface(const char* msg, uint64_t& counter, const std::string& detail = {});
  // The address the client connected to: the socket's, or the one an accepted header gave.
  const SockAddr& local_address();
  // Appends the PROXY header `server` wants on a new connection (none: nothing): the client's
  // address and the one it connected to; v2 also the SNI (AUTHORITY) and ALPN TLVs.
  void append_proxy_header(std::string& out, const Server& server, const TlsInfo* tls, std::string_view alpn);

  Engine& engine_;
  uint64_t key_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint32_t listener_index_;
  std::shared_ptr<ListenerCounters> listener_counters_;
  // Counted in (by accept, before the session existed) and out (mark_closed) over all threads.
  std::shared_ptr<ListenerShared> listener_shared_;
  SockAddr peer_;
  Endpoint client_;
  uint32_t select_token_ = 0;
  int64_t queued_since_ = 0;  // 0: this transaction never waited for a server
  int64_t accepted_at_ = 0;
  bool awaiting_proxy_ = false;

 private:
  Pool* queued_pool_ = nullptr;  // counted in its PoolShared::waiting while set
  bool in_line_ = false;
  uint64_t queue_seq_ = 0;  // arrival order of this transaction's wait (PoolShared::next_seq)
  uint32_t wait_for_ = 0;   // the server it waits for, 0: any
  bool closed_ = false;
  SockAddr local_;
  bool local_known_ = false;
};

struct Pick {
  std::shared_ptr<Server> server;
  // No server now, but one that could take the session is at its maxconn: wait in the queue.
  bool full = false;
  uint32_t wait_for = 0;  // when full: the one server it must wait for (forced, hashed); 0: any
};

// Picks an available server of `pool` not in `tried`: `forced` first when it is available,
// else the pool's balancer (`hash_key` is what a hash pool hashes; empty: fall back to round
// robin). A full forced or hashed server makes the session wait for it rather than go
// elsewhere, so affinity holds under maxconn. `host` (a host map entry of this pool's map):
// only the entry's servers, by the map's balancer; none of them usable is the no-server answer.
Pick pick_server(Pool& pool, int64_t now, const std::vector<uint32_t>& tried, std::shared_ptr<Server>& forced,
                 std::string_view hash_key, const HostTarget* host = nullptr);

// Whether some server of `pool` (of `host`'s entry when given) other than `except`, not in
// `tried`, may take a session now.
bool another_available(const Pool& pool, const Server& except, int64_t now, const std::vector<uint32_t>& tried,
                       const HostTarget* host = nullptr);

}  // namespace epoxy
