// The engine's view of the configuration: what the control plane sends (the *Spec types) and
// the runtime objects built from it (Server, Pool, Listener, Snapshot).
//
// Ownership: the engine thread alone reads and writes every runtime object. Pools and servers
// are long-lived and keep their identity (a uid the control plane assigns) across snapshots,
// so counters and balancing state survive live changes. A Snapshot is immutable once built; a
// session keeps the snapshot it started with, so a reload never changes a session in flight.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include "../core/fd.h"
#include "../lb/balancer.h"
#include "../net/address.h"

namespace epoxy {

// ---- specs: built on the control thread, moved into the engine ----

struct ServerSpec {
  uint32_t uid = 0;
  std::string address;
  SockAddr addr;
  uint32_t weight = 1;
};

struct PoolSpec {
  uint32_t uid = 0;
  std::string name;
  lb::Algorithm balance = lb::Algorithm::RoundRobin;
  uint32_t retries = 3;
  std::vector<ServerSpec> servers;
};

enum class ListenerMode : uint8_t { Tcp = 0, Http = 1 };

// One HTTP route: `host` empty (any), exact (lowercase) or a `*.suffix` wildcard; `path` a prefix.
struct RouteSpec {
  std::string host;
  std::string path;
  int32_t pool = -1;  // index into SnapshotSpec::pools
};

struct ListenerSpec {
  std::string name;
  std::string bind;
  SockAddr addr;
  int backlog = 4096;
  ListenerMode mode = ListenerMode::Tcp;
  int32_t pool = -1;  // TCP: index into SnapshotSpec::pools
  std::vector<RouteSpec> routes;  // HTTP: first match wins
};

struct Timeouts {
  uint32_t http_request_ms = 10000;
  uint32_t connect_ms = 5000;
  uint32_t client_ms = 30000;
  uint32_t server_ms = 30000;
  uint32_t tunnel_ms = 30000;
  uint32_t select_ms = 1000;
};

struct Tuning {
  uint32_t pipe_size = 262144;
  uint32_t max_pipes = 1024;
  uint32_t splice_threshold = 16384;
  uint32_t max_head = 16384;               // HTTP: larger request heads get 431
  uint32_t server_idle_max = 1000;         // HTTP: idle connections kept per server
  uint32_t server_idle_ms = 30000;         // HTTP: an idle server connection older than this closes
};

struct SnapshotSpec {
  std::vector<ListenerSpec> listeners;
  std::vector<PoolSpec> pools;
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
  bool access_log = false;
};

// ---- runtime ----

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
  lb::State lb;
  bool removed = false;
  Pool* pool = nullptr;  // the pool that lists it; valid while !removed
  uint64_t sessions = 0;
  uint64_t connect_failures = 0;
  uint64_t requests = 0;  // HTTP requests sent
  TrafficCounters traffic;
  std::vector<uint64_t> idle_conns;  // HTTP: keys of idle, reusable connections (most recent last)
};

struct Pool {
  uint32_t uid = 0;
  std::string name;
  lb::Algorithm balance = lb::Algorithm::RoundRobin;
  uint32_t retries = 3;
  std::vector<std::shared_ptr<Server>> servers;
  size_t leastconn_cursor = 0;
  uint64_t sessions = 0;
  uint64_t active = 0;
  uint64_t no_server = 0;  // sessions closed because no server could be reached
};

struct ListenerCounters {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t accept_errors = 0;
  uint64_t requests = 0;                  // HTTP
  std::array<uint64_t, 6> responses{};    // HTTP, by status class: [1] 1xx ... [5] 5xx, [0] none sent
  TrafficCounters traffic;
};

struct Listener {
  uint32_t id = 0;  // stable for the listener's life; part of its epoll key
  std::string name;
  std::string bind;
  Fd fd;
  bool readable = false;
  bool paused = false;  // accept() hit EMFILE/ENFILE; retried by a timer, never spun on
  std::shared_ptr<ListenerCounters> counters = std::make_shared<ListenerCounters>();
};

struct Route {
  std::string host;  // "" any, "api.example.com" exact, ".example.com" for *.example.com
  bool wildcard = false;
  std::string path;
  std::shared_ptr<Pool> pool;
};

struct ListenerRoute {
  std::string name;
  ListenerMode mode = ListenerMode::Tcp;
  std::shared_ptr<Pool> pool;  // TCP
  std::vector<Route> routes;   // HTTP
  std::shared_ptr<ListenerCounters> counters;

  // First route matching a normalized host and a path, or null (404).
  const Route* match(std::string_view host, std::string_view path) const;
};

struct Snapshot {
  std::vector<ListenerRoute> listeners;  // same order as Engine::listeners_
  std::vector<std::shared_ptr<Pool>> pools;
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
  bool access_log = false;
};

}  // namespace epoxy
