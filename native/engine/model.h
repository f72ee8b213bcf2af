// The engine's view of the configuration: what the control plane sends (the *Spec types) and
// the runtime objects built from it (Server, Pool, Listener, Snapshot).
//
// Ownership: each engine thread builds its own runtime objects from the spec every thread is
// given, and alone reads and writes them — except their `shared` part (shared.h), the state
// limits and balancers must see over the whole process. Pools and servers are long-lived and
// keep their identity (a uid the control plane assigns) across snapshots, so counters and
// balancing state survive live changes. A Snapshot is immutable once built; a session keeps
// the snapshot it started with, so a reload never changes a session in flight.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include "../core/fd.h"
#include "../lb/balancer.h"
#include "../lb/ring.h"
#include "../net/address.h"
#include "../net/cidr.h"
#include "../tls/client_hello.h"
#include "host_map.h"
#include "shared.h"

namespace epoxy {

// ---- specs: built on the control thread, moved into the engine ----

// A server's administrative state (set by the operator), apart from its health.
enum class AdminState : uint8_t { Ready = 0, Drain = 1, Maint = 2 };

struct ServerSpec {
  uint32_t uid = 0;
  std::string address;
  SockAddr addr;
  uint32_t weight = 1;
  uint32_t maxconn = 0;  // 0: no limit
  AdminState admin = AdminState::Ready;
  bool check_up = true;  // the verdict of active health checks (run by the control plane)
  uint8_t proxy_protocol = 0;  // PROXY header sent on each new connection: 0 none, 1 v1, 2 v2
};

// What a consistent-hash pool hashes.
enum class HashKey : uint8_t { Host = 0, Path = 1, Client = 2, Header = 3 };

struct PassiveSpec {
  uint32_t errors = 0;  // 0: passive health off
  uint32_t window_ms = 10000;
  uint32_t eject_ms = 10000;
  bool count_5xx = true;
};

struct PoolSpec {
  uint32_t uid = 0;
  std::string name;
  lb::Algorithm balance = lb::Algorithm::RoundRobin;
  HashKey hash_key = HashKey::Host;
  std::string hash_header;  // lowercase, for HashKey::Header
  uint32_t retries = 3;
  uint32_t queue_timeout_ms = 5000;
  uint32_t queue_limit = 10000;
  PassiveSpec passive;
  std::string congestion;  // TCP congestion control of server connections; empty: the system's
  std::vector<ServerSpec> servers;
};

// Fields of a server the control plane changes at run time; unset ones stay as they are.
struct ServerUpdate {
  uint32_t uid = 0;
  int64_t weight = -1;
  int64_t maxconn = -1;
  int admin = -1;     // an AdminState
  int check_up = -1;  // 0 or 1
};

enum class ListenerMode : uint8_t { Tcp = 0, Http = 1 };

// One route. HTTP: `host` empty (any), exact (lowercase) or a `*.suffix` wildcard, `path` a
// prefix. TCP: `host` is the SNI pattern (same forms), `alpn` a protocol the client must offer
// (empty: any), `path` unused.
// `host_map` >= 0: the route matches by that host map instead (host is ''), `pool` is the
// map's pool.
struct RouteSpec {
  std::string host;
  std::string path;
  std::string alpn;
  int32_t pool = -1;  // index into SnapshotSpec::pools
  int32_t host_map = -1;  // index into SnapshotSpec::host_maps; -1: an ordinary route
};

// A host map (host_map.h). `initial` is read only by an engine that has no map of this uid.
struct HostMapSpec {
  uint32_t uid = 0;
  std::string name;
  int32_t pool = -1;  // index into SnapshotSpec::pools
  lb::Algorithm balance = lb::Algorithm::RoundRobin;  // never Hash (checked)
  HostBatch initial;
};

// Accepting the PROXY protocol from a load balancer in front (haproxy's accept-proxy).
struct AcceptProxySpec {
  bool enabled = false;
  std::vector<Cidr> trusted;  // sources allowed to connect at all; empty: every source
  uint32_t timeout_ms = 3000;  // the whole header must arrive within this
};

struct ListenerSpec {
  std::string name;
  std::string bind;
  SockAddr addr;
  int backlog = 4096;
  uint32_t maxconn = 0;  // 0: no limit
  ListenerMode mode = ListenerMode::Tcp;
  int32_t pool = -1;  // TCP: index into SnapshotSpec::pools; -1 when routed by `routes`
  std::vector<RouteSpec> routes;  // HTTP, and TCP routed by SNI/ALPN: first match wins
  std::string congestion;  // TCP congestion control of client connections; empty: the system's
  AcceptProxySpec accept_proxy;
};

struct Timeouts {
  uint32_t http_request_ms = 10000;
  uint32_t connect_ms = 5000;
  uint32_t client_ms = 30000;
  uint32_t server_ms = 30000;
  uint32_t tunnel_ms = 30000;
  uint32_t select_ms = 1000;
  uint32_t inspect_ms = 5000;  // TCP listeners routed by SNI: how long to wait for a ClientHello
};

struct Tuning {
  uint32_t pipe_size = 262144;
  uint32_t max_pipes = 1024;
  uint32_t splice_threshold = 16384;
  uint32_t max_head = 16384;               // HTTP: larger request heads get 431
  uint32_t server_idle_max = 1000;         // HTTP: idle connections kept per server
  uint32_t server_idle_ms = 30000;         // HTTP: an idle server connection older than this closes
  uint32_t coalesce_us = 200;              // pause before waiting again after a small batch (0: never)
  uint32_t coalesce_sessions = 64;         // ... only while this many sessions are busy at once
};

struct SnapshotSpec {
  std::vector<ListenerSpec> listeners;
  std::vector<PoolSpec> pools;
  std::vector<HostMapSpec> host_maps;
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
  bool access_log = false;
  uint32_t access_log_sample = 1000000;  // requests logged per million
};

// ---- runtime ----

// Latencies in milliseconds, counted into fixed buckets (Prometheus-style upper bounds; the last
// bucket is everything above 10 s), so percentiles and histograms cost a few adds per request.
struct LatencyHistogram {
  static constexpr std::array<uint32_t, 13> kBoundsMs{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
  std::array<uint64_t, kBoundsMs.size() + 1> counts{};
  uint64_t sum_ms = 0;

  void record(int64_t ms) {
    if (ms < 0) ms = 0;
    size_t i = 0;
    while (i < kBoundsMs.size() && static_cast<uint64_t>(ms) > kBoundsMs[i]) ++i;
    ++counts[i];
    sum_ms += static_cast<uint64_t>(ms);
  }
};

struct TrafficCounters {
  uint64_t bytes_in = 0;   // received from the peer this object faces
  uint64_t bytes_out = 0;  // sent to that peer
  uint64_t bytes_spliced = 0;
  uint64_t bytes_copied = 0;
};

struct Pool;

struct Server {
  uint32_t uid = 0;
  std::string address;
  SockAddr addr;
  lb::State lb;  // lb.active is a copy of shared->active, taken when the balancer looks
  uint32_t maxconn = 0;  // 0: no limit
  AdminState admin = AdminState::Ready;
  bool check_up = true;  // active health checks say up (or there are none)
  uint8_t proxy_protocol = 0;  // as ServerSpec::proxy_protocol
  bool removed = false;
  std::shared_ptr<ServerShared> shared = std::make_shared<ServerShared>();  // active, ejection
  Pool* pool = nullptr;  // the pool that lists it; valid while !removed
  uint64_t sessions = 0;
  uint64_t connect_failures = 0;
  uint64_t resets = 0;      // connections the server reset or cut mid-response
  uint64_t responses_5xx = 0;
  uint64_t ejections = 0;
  int64_t kept_warned_at = 0;  // the last "not ejecting the last available server" warning (this thread)
  uint64_t requests = 0;  // HTTP requests sent
  LatencyHistogram response_ms;  // HTTP: request head received to response head received
  TrafficCounters traffic;
  std::vector<uint64_t> idle_conns;  // HTTP: keys of idle, reusable connections (most recent last)

  uint32_t active() const { return shared->active.load(std::memory_order_relaxed); }
  bool ejected(int64_t now) const { return shared->ejected_until.load(std::memory_order_relaxed) > now; }
  // May take new sessions (maxconn aside).
  bool available(int64_t now) const { return !removed && admin == AdminState::Ready && check_up && !ejected(now); }
  bool full() const { return maxconn != 0 && active() >= maxconn; }
  // Takes a slot for a session, over all threads: false when the server is at its maxconn
  // (another thread may have taken the last slot since full() said otherwise).
  bool acquire() {
    if (maxconn == 0) {
      shared->active.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    uint32_t a = shared->active.load(std::memory_order_relaxed);
    while (a < maxconn) {
      if (shared->active.compare_exchange_weak(a, a + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // seq_cst, as the reads of PoolShared::waiting after it and in Session::enqueue: a slot freed
  // here and a session queueing on another thread never both miss each other (free on x86).
  void release() { shared->active.fetch_sub(1, std::memory_order_seq_cst); }
};

struct Pool {
  uint32_t uid = 0;
  std::string name;
  lb::Algorithm balance = lb::Algorithm::RoundRobin;
  HashKey hash_key = HashKey::Host;
  std::string hash_header;
  uint32_t retries = 3;
  uint32_t queue_timeout_ms = 5000;
  uint32_t queue_limit = 10000;
  PassiveSpec passive;
  std::string congestion;
  std::vector<std::shared_ptr<Server>> servers;
  lb::HashRing ring;  // over `servers`, in their order; built when they change
  lb::Rng rng;
  size_t leastconn_cursor = 0;
  uint64_t sessions = 0;
  uint64_t active = 0;
  uint64_t no_server = 0;  // sessions closed because no server could be reached
  uint64_t retried = 0;    // new attempts after a failed connect or a request dropped unanswered
  // The queue of sessions waiting for a server under its maxconn: one for the whole process.
  std::shared_ptr<PoolShared> shared = std::make_shared<PoolShared>();
  uint64_t queued = 0;  // this thread's sessions in the queue (or holding their turn)
  uint64_t queued_total = 0;
  uint64_t queue_timeouts = 0;
  uint64_t queue_full = 0;  // refused because the queue was at its limit
};

// A server whose weight changed starts its round robin score over (on every thread).
inline void reset_rr_score(Pool& pool, Server& s) {
  std::lock_guard<std::mutex> lock(pool.shared->rr_mu);
  s.lb.current = 0;
  s.shared->rr_current = 0;
}

// The TCP congestion control for new connections to `s`: its pool's (empty: the system's).
inline const std::string& congestion_of(const Server& s) {
  static const std::string system_default;
  return s.pool && !s.removed ? s.pool->congestion : system_default;
}

// What a listener's connections began with, before they were routed: the PROXY header
// (acceptProxy) and the TLS ClientHello (TCP routes by SNI/ALPN). One count per outcome.
struct PrefaceCounters {
  uint64_t proxy_accepted = 0;   // a valid header carrying the client's address
  uint64_t proxy_local = 0;      // a valid LOCAL / UNKNOWN header: the socket's addresses kept
  uint64_t proxy_untrusted = 0;  // closed at accept: the source is not in `trusted`
  uint64_t proxy_invalid = 0;    // missing, malformed or oversized header (or closed before it)
  uint64_t proxy_timeouts = 0;   // the header did not arrive in time
  uint64_t tls_sni = 0;          // a ClientHello with SNI
  uint64_t tls_no_sni = 0;       // a ClientHello without SNI
  uint64_t not_tls = 0;          // the first bytes were not a TLS handshake
  uint64_t tls_malformed = 0;    // a TLS record, but a malformed or truncated hello
  uint64_t tls_too_large = 0;    // a hello over the reader's bounds
  uint64_t inspect_timeouts = 0;  // no complete hello within timeouts.inspect_ms
  uint64_t no_route = 0;         // no route matched: closed
};

struct ListenerCounters {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t accept_errors = 0;
  uint64_t requests = 0;                  // HTTP
  std::array<uint64_t, 6> responses{};    // HTTP, by status class: [1] 1xx ... [5] 5xx, [0] none sent
  LatencyHistogram total_ms;              // HTTP: a request's first byte to its end
  TrafficCounters traffic;
  PrefaceCounters preface;
  // Rate limit of the warnings about rejected prefaces (one line per second per listener and
  // thread, with the count of those not logged).
  int64_t preface_log_at = 0;
  uint64_t preface_unlogged = 0;
};

struct Listener {
  uint32_t id = 0;  // stable for the listener's life; part of its epoll key
  std::string name;
  std::string bind;
  Fd fd;
  uint32_t maxconn = 0;  // 0: no limit
  std::string congestion;  // as set on the listening socket (accepted sockets inherit it)
  bool readable = false;
  bool paused = false;  // accept() hit EMFILE/ENFILE; retried by a timer, never spun on
  std::shared_ptr<ListenerCounters> counters = std::make_shared<ListenerCounters>();
  std::shared_ptr<ListenerShared> shared = std::make_shared<ListenerShared>();  // maxconn over all threads
};

struct Route {
  std::string host;  // "" any, "api.example.com" exact, ".example.com" for *.example.com
  bool wildcard = false;
  std::string path;
  std::string alpn;  // TCP: a protocol the ClientHello must offer; "" any
  std::shared_ptr<Pool> pool;
  std::shared_ptr<HostMap> host_map;  // set: matches by the map's entries instead of `host`

  bool host_matches(std::string_view normalized) const;
};

// A route lookup's result: the route (null: none matched) and, for a host map route, the
// entry the host matched, which the session or transaction keeps.
struct RouteMatch {
  const Route* route = nullptr;
  HostTarget host;
  explicit operator bool() const { return route != nullptr; }
};

// What a ClientHello said (SNI, ALPN), for routing, the select hook and PROXY v2 TLVs.
using TlsInfo = tls::ClientHello;

struct ListenerRoute {
  std::string name;
  ListenerMode mode = ListenerMode::Tcp;
  std::shared_ptr<Pool> pool;  // TCP without routes
  std::vector<Route> routes;   // HTTP; TCP routed by SNI/ALPN
  bool inspect = false;        // TCP: some route needs the ClientHello (SNI or ALPN)
  AcceptProxySpec accept_proxy;
  SockAddr bind_addr;          // where it listens: a connection's local address unless a wildcard
  std::shared_ptr<ListenerCounters> counters;
  std::shared_ptr<ListenerShared> shared;

  // First route matching a normalized host and a path, or none (404). Host map routes count
  // their lookups (HostMap stats), hence not free of side effects.
  RouteMatch match(std::string_view host, std::string_view path) const;
  // TCP: first route matching what the ClientHello said (null: none seen), or none (closed).
  RouteMatch match_tls(const TlsInfo* tls) const;
};

struct Snapshot {
  std::vector<ListenerRoute> listeners;  // same order as Engine::listeners_
  std::vector<std::shared_ptr<Pool>> pools;
  std::vector<std::shared_ptr<HostMap>> host_maps;  // the spec's, in its order (stats)
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
  bool access_log = false;
  uint32_t access_log_sample = 1000000;
};

}  // namespace epoxy
