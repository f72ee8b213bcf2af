// The engine's view of the configuration: what the control plane sends (the *Spec types) and
// the runtime objects built from it (Server, Pool, Listener, Snapshot).
//
// Ownership: the engine thread alone reads and writes every runtime object. Pools and servers
// are long-lived and keep their identity (a uid the control plane assigns) across snapshots,
// so counters and balancing state survive live changes. A Snapshot is immutable once built; a
// session keeps the snapshot it started with, so a reload never changes a session in flight.
#pragma once

#include <cstdint>
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

struct ListenerSpec {
  std::string name;
  std::string bind;
  SockAddr addr;
  int backlog = 4096;
  int32_t pool = -1;  // index into SnapshotSpec::pools
};

struct Timeouts {
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
};

struct SnapshotSpec {
  std::vector<ListenerSpec> listeners;
  std::vector<PoolSpec> pools;
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
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
  TrafficCounters traffic;
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

struct ListenerRoute {
  std::string name;
  std::shared_ptr<Pool> pool;
  std::shared_ptr<ListenerCounters> counters;
};

struct Snapshot {
  std::vector<ListenerRoute> listeners;  // same order as Engine::listeners_
  std::vector<std::shared_ptr<Pool>> pools;
  Timeouts timeouts;
  Tuning tuning;
  bool select_hook = false;
};

}  // namespace epoxy
