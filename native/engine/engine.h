// An engine: one thread running an edge-triggered epoll loop that owns its listening sockets,
// sessions, timers, pipes and buffers. The control plane (any other thread) talks to it only
// through the public methods below, which queue commands and wake the loop through an eventfd;
// the engine answers with event batches (events.h) and a wake-up callback. Several engines run
// as one group (group.h), one per thread; alone, an engine is a group of one. Nothing here
// knows N-API.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/activity.h"
#include "../core/fd.h"
#include "../core/slab.h"
#include "../core/timer_heap.h"
#include "../core/wakeup.h"
#include "shared.h"
#include "../io/buffer_pool.h"
#include "../io/pipe_pool.h"
#include "events.h"
#include "model.h"
#include "server_conn.h"
#include "session.h"

namespace epoxy {

struct HttpTx;

struct Command {
  // Dequeue and ListenerSlot come from other engines of the group: a slot freed there.
  enum class Kind { Apply, AddServer, RemoveServer, UpdateServer, SetHosts, SelectReplies, Stats, Stop, Dequeue, ListenerSlot };
  Kind kind = Kind::Stop;
  std::shared_ptr<const SnapshotSpec> spec;  // the same object for every engine of a group
  std::vector<std::pair<std::string, Fd>> new_listeners;  // bind -> listening socket
  uint32_t pool_uid = 0;
  ServerSpec server;
  ServerUpdate update;
  std::shared_ptr<const HostBatch> hosts;  // SetHosts: the same object for every engine of a group
  uint32_t number = 0;  // server uid, host map uid, stats token or grace period
  std::vector<uint32_t> replies;
  std::vector<uint64_t> keys;  // Dequeue: (session key, queue seq) of this engine's sessions whose turn it is, oldest first
};

class Engine;

// What an engine shares with the other engines of its group; set before start().
struct EngineLinks {
  uint32_t index = 0;  // the thread is epoxy-engine-<index>; select tokens carry it
  std::shared_ptr<SharedState> shared;
  std::vector<Engine*> peers;  // every engine of the group by index, this one included
  int cpu = -1;                // pin the thread to this CPU; -1: no pinning
};

// Select tokens: the engine's index in the top bits, so replies find their engine.
constexpr uint32_t kTokenEngineShift = 26;
constexpr uint32_t kTokenLocalMask = (1u << kTokenEngineShift) - 1;

// Checks a spec from the control plane and parses its addresses in place; on failure `error`
// says what and where. Shared by Engine::apply and EngineGroup::apply.
bool check_snapshot_spec(SnapshotSpec& spec, std::string& error);

// A bind a snapshot drops is closed by the engine when it takes that snapshot, after apply()
// has returned; binding it again before then fails with EADDRINUSE (a reload that removes a
// listener and the next that brings it back). apply() remembers such binds (note_released)
// and, when one comes back, first waits for the engines to take the earlier snapshots
// (settle_released; `wait(ms)` is true once they have).
inline void note_released(const std::set<std::string>& before, const std::set<std::string>& after,
                          std::set<std::string>& released) {
  for (const std::string& b : before) {
    if (!after.count(b)) released.insert(b);
  }
}

template <typename Wait>
void settle_released(const std::set<std::string>& wanted, std::set<std::string>& released, Wait wait) {
  if (released.empty()) return;
  bool back = false;
  for (const std::string& b : wanted) back = back || released.count(b) > 0;
  if (!back && !wait(0)) return;
  if (back) wait(2000);  // a loop turn, normally microseconds
  released.clear();
}

struct EngineTotals {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t bytes_spliced = 0;
  uint64_t bytes_copied = 0;
  uint64_t loop_iterations = 0;
  uint64_t coalesce_pauses = 0;   // loop turns that paused to gather events (Tuning::coalesce_us)
  uint64_t coalesced_events = 0;  // events those pauses gathered
  uint64_t js_wakeups = 0;
  uint64_t select_timeouts = 0;
  uint64_t aborts = 0;
  uint64_t logs_suppressed = 0;
  uint64_t logs_dropped = 0;  // log lines dropped because JS fell behind taking them
};

class Engine {
 public:
  // `wake` runs on the engine thread when a batch becomes available and none was waiting.
  explicit Engine(std::function<void()> wake);
  // Joins a group (before start): its shared state, its peers, this engine's index and CPU.
  void link(EngineLinks links) { links_ = std::move(links); }
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- control thread ----
  bool start(std::string& error);
  // Validates the spec, binds listeners that are new, and queues the snapshot. On failure
  // nothing changes and `error` says what and where (e.g. `listener "web": bind: Address in use`).
  bool apply(SnapshotSpec spec, std::string& error);
  // A checked spec (check_snapshot_spec) with this engine's sockets for the binds it has not
  // had before; the group binds them.
  void post_apply(std::shared_ptr<const SnapshotSpec> spec, std::vector<std::pair<std::string, Fd>> new_listeners);
  // Any thread: queues a command and wakes the loop.
  void post(Command c) { commands_.push(std::move(c)); }
  // Control thread: waits (at most `timeout_ms`) until the engine has taken every snapshot
  // posted so far — the listeners those dropped are closed then. False on timeout.
  bool wait_applied(int timeout_ms);
  // Control thread: snapshots posted that the engine has not taken yet (0: every change of
  // the last apply is in force, kept listeners' socket options included).
  uint64_t pending_applies() const { return applies_posted_ - applies_done_.load(std::memory_order_acquire); }
  bool add_server(uint32_t pool_uid, ServerSpec server, std::string& error);
  void remove_server(uint32_t uid);
  // Weight, maxconn, drain/maint, the verdict of active checks: fields left unset stay.
  void update_server(const ServerUpdate& update);
  // Sets or removes hosts of the host map `map_uid` (a checked batch, check_host_batch); an
  // unknown uid is ignored (a reload may have removed the map).
  void set_hosts(uint32_t map_uid, std::shared_ptr<const HostBatch> batch);
  void select_replies(std::vector<uint32_t> pairs);
  void request_stats(uint32_t token);
  // Stops accepting now; sessions get `grace_ms` to finish, then are cut. The loop then exits
  // and reports `stopped`.
  void stop(uint32_t grace_ms);
  void join();
  EventBatch take_events();

 private:
  friend class Session;
  friend class TcpSession;
  friend class HttpSession;

  // loop (engine.cc)
  void run();
  void dispatch(const epoll_event& ev);
  void handle_commands();
  void handle_command(Command& c);
  void run_ready_lists();
  void run_timers();
  void flush_events();
  void drop_logs_beyond_cap();
  bool should_exit();
  void register_fd(int fd, uint64_t tag_key);

  // configuration (apply.cc)
  void apply_snapshot(Command& c);
  std::shared_ptr<Pool> materialize_pool(const PoolSpec& spec);
  void sync_servers(Pool& pool, const std::vector<ServerSpec>& specs);
  void apply_add_server(Command& c);
  void apply_remove_server(uint32_t uid);
  std::shared_ptr<HostMap> materialize_host_map(const HostMapSpec& spec, const std::shared_ptr<Pool>& pool);
  void apply_set_hosts(const Command& c);
  void refresh_host_maps(const Pool& pool);
  void drain_removed_listeners(const SnapshotSpec& spec);
  void rebuild_listeners(const SnapshotSpec& spec, std::vector<std::pair<std::string, Fd>>& fresh);

  // server state at run time (servers.cc)
  void build_ring(Pool& pool);
  void apply_update_server(const ServerUpdate& update);
  void server_changed(Server& s);
  void eject(Server& s, const char* what);
  void on_server_timer(uint32_t uid, int64_t when);
  void service_queues();
  void service_queue(Pool& pool);
  void take_turns(Pool& pool, const std::vector<uint64_t>& turns);
  void apply_dequeue(const Command& c);
  size_t free_slots(const Pool& pool, std::vector<std::pair<uint32_t, uint32_t>>& per_server) const;

  // listeners and sessions (engine.cc)
  void accept_ready(Listener& l);
  // False when no session could take the connection (it is closed).
  bool open_session(Listener& l, size_t index, Fd fd, const SockAddr& peer);
  bool trusted_source(Listener& l, size_t index, const SockAddr& peer);
  bool reserve_listener_slot(Listener& l);
  void release_listener_slot(Listener& l);
  std::unique_ptr<Session> make_session(uint64_t key, uint32_t listener_index, Fd fd, const SockAddr& peer);
  Session* find_session(uint64_t key);
  void free_session(Session& s);
  // Runs `fn` on a live session and frees the session if that closed it.
  template <typename Fn>
  void with_session(uint64_t key, Fn fn);
  void handle_select_replies(const std::vector<uint32_t>& pairs);
  void stop_now(uint32_t grace_ms);

  // stats and logs (stats.cc)
  std::string stats_json() const;
  void log(const char* level, const std::string& json_fields_without_braces);

 public:
  // ---- used by sessions (engine thread only) ----
  int64_t now() const { return now_; }
  bool stopping() const { return stopping_; }
  BufferPool& buffers() { return buffers_; }
  PipePool& pipes() { return pipes_; }
  EngineTotals& totals() { return totals_; }
  void log_session(const char* level, const char* msg, const Session& s, int err);
  // Counts a connection refused for its preface (PROXY header, trust) and logs it, one line
  // per second per listener and thread with the number not logged since (preface.cc).
  void note_refused_preface(ListenerCounters& lc, const std::string& listener, const SockAddr& client, const char* msg,
                            uint64_t& counter, const std::string& detail = {});
  void mark_ready(Session& s);
  void schedule_session_timer(Session& s, int64_t when);
  // Queues a select request; returns the token the reply will carry. `parts` describe it: an
  // HTTP request (method, target, normalized host, raw head), or the ClientHello of a TCP
  // connection (SNI, ALPN list); none for a TCP connection without one. The JS side knows which
  // from the listener's mode.
  uint32_t park_for_select(Session& s, const std::string_view* parts = nullptr, size_t count = 0);

  // ---- server connections (conns.cc), HTTP mode ----
  // An idle connection to `server` that is still healthy, now owned by `owner`; null if none.
  ServerConn* take_idle_conn(Server& server, uint64_t owner);
  // Starts a new connection owned by `owner`; null with `err` set when connect() failed at once.
  ServerConn* open_conn(const std::shared_ptr<Server>& server, uint64_t owner, int& err);
  // Gives a connection back: idle when `reusable` (and there is room; true then), else closed.
  // A private connection (it carried a client's PROXY header) idles outside the server's list:
  // its session keeps the key and takes it back with take_private_conn.
  bool release_conn(ServerConn& conn, bool reusable);
  // An idle private connection to `server` from `keys` (the session's list), now in use.
  ServerConn* take_private_conn(std::vector<uint64_t>& keys, const Server& server, uint64_t owner);
  // Closes the idle private connections in `keys` still owned by `owner`.
  void close_private_conns(std::vector<uint64_t>& keys, uint64_t owner);
  ServerConn* find_conn(uint64_t key);
  void push_access_log(std::string record) { pending_.logs.push_back(std::move(record)); }
  // True for about `per_million` of the calls (access log sampling).
  bool sampled(uint32_t per_million) { return per_million >= 1000000 || rng_.below(1000000) < per_million; }
  // Per-request state of HTTP sessions, pooled (bounded) so keep-alive traffic does not
  // allocate per request and idle connections hold none.
  std::unique_ptr<HttpTx> acquire_tx();
  void release_tx(std::unique_ptr<HttpTx> tx);

  // ---- server health and queues (servers.cc) ----
  // Passive health: an error seen in traffic (connect failure, reset, 5xx); enough of them
  // within the pool's window eject the server for a while.
  void note_server_error(Server& s, const char* what);
  // The engine's index in its group (0 alone).
  uint32_t index() const { return links_.index; }
  // A slot under a listener's maxconn came free: this engine and any other that stopped
  // accepting at it go on.
  void listener_slot_freed(ListenerShared& l);
  // A server of `pool` may have a free slot (or became available): the pool's waiting sessions
  // get a new try in this loop iteration, after the events at hand.
  void request_queue_service(const std::shared_ptr<Pool>& pool);

 private:
  std::function<void()> wake_;
  EngineLinks links_;  // set before start, then read only
  Fd epoll_;
  WakeQueue<Command> commands_;
  std::thread thread_;
  bool started_ = false;

  // control thread only: binds currently owned by the engine; binds a snapshot dropped whose
  // socket the engine may not have closed yet
  std::set<std::string> bound_;
  std::set<std::string> released_;
  uint64_t applies_posted_ = 0;           // control thread only
  std::atomic<uint64_t> applies_done_{0};  // engine thread: store after each snapshot (release)

  // engine thread only
  int64_t now_ = 0;
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  uint32_t next_listener_id_ = 1;
  std::unordered_map<uint32_t, std::shared_ptr<Pool>> pools_by_uid_;
  std::unordered_map<uint32_t, std::shared_ptr<Server>> servers_by_uid_;
  std::unordered_map<uint32_t, std::shared_ptr<HostMap>> host_maps_by_uid_;

  // Keys keep bit 61 (kConnKeyBit) for server connections: 29 generation bits above the index.
  Slab<Session> sessions_{29};
  Slab<ServerConn> conns_{29, kConnKeyBit};
  void on_conn_event(uint64_t key, uint32_t events);
  void on_conn_timer(uint64_t key, int64_t when);
  void close_conn(ServerConn& conn);
  void close_idle_conns(Server& server);
  bool reuse_idle(ServerConn& c, uint64_t owner);

  std::vector<uint64_t> ready_sessions_;
  bool listeners_ready_ = false;
  bool listeners_full_ = false;  // some listener stopped accepting at its maxconn
  std::vector<std::shared_ptr<Pool>> queue_service_;
  TimerHeap timers_;

  // Wake-up coalescing (engine.cc): whether to pause before the next epoll_wait, and on what.
  bool should_coalesce(int last_events);
  void pause_to_coalesce();
  void after_coalesce_pause(int gathered);
  void note_bulk_turn();
  int32_t bulk_sessions(uint32_t busy) const;
  ActivityWindow activity_{16};  // clients with I/O in the last 16–32 ms
  bool paused_ = false;
  bool bulk_turn_ = false;             // the last turn spliced at least kBulkTurnBytes
  uint64_t spliced_mark_ = 0;          // pipes_.bytes_out() after the last turn
  int32_t bulk_published_ = 0;         // this engine's share of SharedState::bulk_sessions
  int64_t coalesce_rest_until_ = 0;    // thin load: no event-gathering pause before this
  double gathered_avg_ = 32;           // events per event-gathering pause, moving average

  std::unordered_map<uint32_t, uint64_t> parked_;  // select token -> session key
  uint32_t next_token_ = 1;

  BufferPool buffers_;
  PipePool pipes_;
  std::vector<std::unique_ptr<HttpTx>> free_txs_;
  EngineTotals totals_;
  lb::Rng rng_;

  bool stopping_ = false;
  int64_t stop_deadline_ = 0;
  bool exit_ = false;

  int64_t log_window_start_ = 0;
  uint32_t logs_in_window_ = 0;

  EventBatch pending_;
  std::unordered_map<std::string, uint32_t> pending_addresses_;

  std::mutex out_mu_;
  EventBatch outbox_;
  bool scheduled_ = false;
};

// epoll keys: the low two bits say what an fd is, the rest identify it. Timer keys use the same
// tags; a timer tagged kTagControl carries a server uid (the end of a passive-health ejection).
enum KeyTag : uint64_t { kTagControl = 0, kTagListener = 1, kTagClient = 2, kTagServer = 3 };
inline uint64_t tag_key(uint64_t key, KeyTag tag) { return (key << 2) | tag; }

template <typename Fn>
void Engine::with_session(uint64_t key, Fn fn) {
  Session* s = find_session(key);
  if (!s) return;
  fn(*s);
  if (s->closed()) free_session(*s);
}

}  // namespace epoxy
