// Configuration changes: the control-thread half checks a spec and binds new listeners (so that
// errors reach the caller synchronously); the engine-thread half turns it into a Snapshot,
// reusing pools, servers and listeners that keep their identity.
#include <unistd.h>

#include <algorithm>
#include <unordered_set>

#include "../net/socket.h"
#include "engine.h"

namespace epoxy {

namespace {

Route make_route(const RouteSpec& rs, const Snapshot& snap) {
  const std::vector<std::shared_ptr<Pool>>& pools = snap.pools;
  Route r;
  if (rs.host_map >= 0) r.host_map = snap.host_maps[static_cast<size_t>(rs.host_map)];
  r.wildcard = rs.host.rfind("*.", 0) == 0;
  r.host = r.wildcard ? rs.host.substr(1) : rs.host;  // "*.example.com" matches by ".example.com"
  r.path = rs.path;
  r.alpn = rs.alpn;
  r.pool = pools[static_cast<size_t>(rs.pool)];
  return r;
}

bool parse_servers(std::vector<ServerSpec>& servers, const std::string& where, std::string& error) {
  for (ServerSpec& s : servers) {
    std::string why;
    if (!parse_address(s.address, s.addr, why)) {
      error = where + " server \"" + s.address + "\": " + why;
      return false;
    }
    if (s.weight == 0) s.weight = 1;
  }
  return true;
}

ServerSpec spec_of(const Server& s) {
  return {s.uid, s.address, s.addr, s.lb.weight, s.maxconn, s.admin, s.check_up, s.proxy_protocol};
}

}  // namespace

bool check_snapshot_spec(SnapshotSpec& spec, std::string& error) {
  for (PoolSpec& p : spec.pools) {
    if (!parse_servers(p.servers, "pool \"" + p.name + "\"", error)) return false;
  }
  std::set<uint32_t> map_uids;
  for (const HostMapSpec& m : spec.host_maps) {
    std::string where = "host map \"" + m.name + "\"";
    if (m.pool < 0 || static_cast<size_t>(m.pool) >= spec.pools.size()) {
      error = where + ": no such pool";
      return false;
    }
    if (m.balance == lb::Algorithm::Hash) {
      error = where + ": balance must be roundrobin, leastconn or p2c (a host's servers are not hashed)";
      return false;
    }
    if (!map_uids.insert(m.uid).second) {
      error = where + ": uid " + std::to_string(m.uid) + " is used twice";
      return false;
    }
    std::string why;
    if (!check_host_batch(m.initial, why)) {
      error = where + ": initial: " + why;
      return false;
    }
  }
  std::set<std::string> binds;
  for (ListenerSpec& l : spec.listeners) {
    std::string why;
    if (!parse_address(l.bind, l.addr, why)) {
      error = "listener \"" + l.name + "\": bind \"" + l.bind + "\": " + why;
      return false;
    }
    bool tcp = l.mode == ListenerMode::Tcp;
    bool routed = tcp && l.pool < 0 && !l.routes.empty();
    if (tcp && !routed && (l.pool < 0 || static_cast<size_t>(l.pool) >= spec.pools.size())) {
      error = "listener \"" + l.name + "\": no such pool";
      return false;
    }
    for (const RouteSpec& r : l.routes) {
      if (r.pool < 0 || static_cast<size_t>(r.pool) >= spec.pools.size()) {
        error = "listener \"" + l.name + "\": a route names no pool";
        return false;
      }
      if (r.host_map < 0) continue;
      if (static_cast<size_t>(r.host_map) >= spec.host_maps.size()) {
        error = "listener \"" + l.name + "\": a route names no host map";
        return false;
      }
      const HostMapSpec& m = spec.host_maps[static_cast<size_t>(r.host_map)];
      if (!r.host.empty() || r.pool != m.pool) {
        error = "listener \"" + l.name + "\": the route of host map \"" + m.name + "\" must have no host and the map's pool";
        return false;
      }
    }
    if (!binds.insert(l.bind).second) {
      error = "listener \"" + l.name + "\": bind " + l.bind + " is used twice";
      return false;
    }
  }
  return true;
}

bool Engine::apply(SnapshotSpec spec, std::string& error) {
  if (!started_) {
    error = "engine not started";
    return false;
  }
  if (!check_snapshot_spec(spec, error)) return false;
  std::set<std::string> binds;
  for (const ListenerSpec& l : spec.listeners) binds.insert(l.bind);
  settle_released(binds, released_, [this](int ms) { return wait_applied(ms); });
  std::vector<std::pair<std::string, Fd>> fresh;
  for (const ListenerSpec& l : spec.listeners) {
    if (bound_.count(l.bind)) continue;
    std::string why;
    Fd fd = open_listener(l.addr, l.backlog, l.congestion, why);
    if (!fd) {
      error = "listener \"" + l.name + "\" (" + l.bind + "): " + why;
      return false;  // sockets bound so far close with `fresh`
    }
    fresh.emplace_back(l.bind, std::move(fd));
  }
  note_released(bound_, binds, released_);
  bound_ = std::move(binds);
  post_apply(std::make_shared<const SnapshotSpec>(std::move(spec)), std::move(fresh));
  return true;
}

bool Engine::wait_applied(int timeout_ms) {
  for (int waited_us = 0; applies_done_.load(std::memory_order_acquire) < applies_posted_; waited_us += 50) {
    if (waited_us >= timeout_ms * 1000) return false;
    usleep(50);
  }
  return true;
}

void Engine::post_apply(std::shared_ptr<const SnapshotSpec> spec, std::vector<std::pair<std::string, Fd>> new_listeners) {
  ++applies_posted_;
  Command c;
  c.kind = Command::Kind::Apply;
  c.spec = std::move(spec);
  c.new_listeners = std::move(new_listeners);
  commands_.push(std::move(c));
}

bool Engine::add_server(uint32_t pool_uid, ServerSpec server, std::string& error) {
  std::string why;
  if (!parse_address(server.address, server.addr, why)) {
    error = "server \"" + server.address + "\": " + why;
    return false;
  }
  if (server.weight == 0) server.weight = 1;
  Command c;
  c.kind = Command::Kind::AddServer;
  c.pool_uid = pool_uid;
  c.server = std::move(server);
  commands_.push(std::move(c));
  return true;
}

// ---- engine thread ----

void Engine::apply_snapshot(Command& c) {
  const SnapshotSpec& spec = *c.spec;
  auto snap = std::make_shared<Snapshot>();
  snap->timeouts = spec.timeouts;
  snap->tuning = spec.tuning;
  snap->select_hook = spec.select_hook;
  snap->access_log = spec.access_log;
  snap->access_log_sample = spec.access_log_sample;
  std::unordered_set<uint32_t> kept;
  for (const PoolSpec& ps : spec.pools) {
    snap->pools.push_back(materialize_pool(ps));
    kept.insert(ps.uid);
  }
  for (auto it = pools_by_uid_.begin(); it != pools_by_uid_.end();) {
    if (kept.count(it->first)) {
      ++it;
      continue;
    }
    sync_servers(*it->second, {});  // a pool that left the config takes its servers with it
    it = pools_by_uid_.erase(it);
  }
  // Host maps after the pools they use; kept by uid like them, dropped from the registry when
  // the spec leaves them out (a session on an older snapshot keeps its own reference).
  std::unordered_set<uint32_t> kept_maps;
  for (const HostMapSpec& ms : spec.host_maps) {
    snap->host_maps.push_back(materialize_host_map(ms, snap->pools[static_cast<size_t>(ms.pool)]));
    kept_maps.insert(ms.uid);
  }
  std::erase_if(host_maps_by_uid_, [&](const auto& kv) { return !kept_maps.count(kv.first); });
  pipes_.configure(spec.tuning.pipe_size, spec.tuning.max_pipes);
  drain_removed_listeners(spec);
  rebuild_listeners(spec, c.new_listeners);
  for (size_t i = 0; i < spec.listeners.size() && i < listeners_.size(); ++i) {
    const ListenerSpec& ls = spec.listeners[i];
    ListenerRoute lr;
    lr.name = ls.name;
    lr.mode = ls.mode;
    if (ls.pool >= 0) lr.pool = snap->pools[static_cast<size_t>(ls.pool)];
    for (const RouteSpec& rs : ls.routes) lr.routes.push_back(make_route(rs, *snap));
    lr.inspect = ls.mode == ListenerMode::Tcp && std::any_of(ls.routes.begin(), ls.routes.end(), [](const RouteSpec& r) {
                   return !r.host.empty() || !r.alpn.empty() || r.host_map >= 0;
                 });
    lr.accept_proxy = ls.accept_proxy;
    lr.bind_addr = ls.addr;
    lr.counters = listeners_[i]->counters;
    lr.shared = listeners_[i]->shared;
    snap->listeners.push_back(std::move(lr));
  }
  snapshot_ = std::move(snap);
  applies_done_.fetch_add(1, std::memory_order_release);
  // A listener that became readable before this snapshot existed had its connections left queued.
  listeners_ready_ = true;
  for (auto& l : listeners_) l->readable = true;
}

std::shared_ptr<Pool> Engine::materialize_pool(const PoolSpec& spec) {
  std::shared_ptr<Pool>& pool = pools_by_uid_[spec.uid];
  if (!pool) {
    pool = std::make_shared<Pool>();
    pool->uid = spec.uid;
    pool->shared = links_.shared->pool(spec.uid);
    pool->rng.s ^= (static_cast<uint64_t>(spec.uid) << 32) ^ static_cast<uint64_t>(now_);
  }
  pool->name = spec.name;
  pool->balance = spec.balance;
  pool->hash_key = spec.hash_key;
  pool->hash_header = spec.hash_header;
  pool->retries = spec.retries;
  pool->queue_timeout_ms = spec.queue_timeout_ms;
  pool->queue_limit = spec.queue_limit;
  pool->passive = spec.passive;
  pool->congestion = spec.congestion;
  sync_servers(*pool, spec.servers);
  return pool;
}

std::shared_ptr<HostMap> Engine::materialize_host_map(const HostMapSpec& spec, const std::shared_ptr<Pool>& pool) {
  std::shared_ptr<HostMap>& map = host_maps_by_uid_[spec.uid];
  bool fresh = !map;
  if (fresh) {
    map = std::make_shared<HostMap>();
    map->uid = spec.uid;
  }
  map->name = spec.name;
  map->balance = spec.balance;
  bool moved = map->pool != pool;
  map->pool = pool;
  if (moved) map->refresh_servers();
  // Only a map new to this engine loads `initial`: a kept one already has every host, including
  // those set by SetHosts since the control plane built the spec.
  if (fresh) map->apply(spec.initial);
  return map;
}

void Engine::apply_set_hosts(const Command& c) {
  auto it = host_maps_by_uid_.find(c.number);
  if (it == host_maps_by_uid_.end() || !c.hosts) return;  // the map left the config meanwhile
  it->second->apply(*c.hosts);
}

void Engine::refresh_host_maps(const Pool& pool) {
  for (auto& [uid, map] : host_maps_by_uid_) {
    if (map->pool.get() == &pool) map->refresh_servers();
  }
}

void Engine::sync_servers(Pool& pool, const std::vector<ServerSpec>& specs) {
  std::vector<std::shared_ptr<Server>> next;
  for (const ServerSpec& ss : specs) {
    std::shared_ptr<Server>& server = servers_by_uid_[ss.uid];
    if (!server) {
      server = std::make_shared<Server>();
      server->uid = ss.uid;
      server->shared = links_.shared->server(ss.uid);
    }
    server->address = ss.address;
    server->addr = ss.addr;
    if (server->lb.weight != ss.weight) reset_rr_score(pool, *server);
    server->lb.weight = ss.weight;
    server->maxconn = ss.maxconn;
    server->admin = ss.admin;
    server->check_up = ss.check_up;
    server->proxy_protocol = ss.proxy_protocol;
    server->removed = false;
    server->pool = &pool;
    next.push_back(server);
  }
  for (auto& old : pool.servers) {
    if (std::find(next.begin(), next.end(), old) != next.end()) continue;
    // Sessions using it keep their shared_ptr; it only stops receiving new ones.
    old->removed = true;
    servers_by_uid_.erase(old->uid);
    close_idle_conns(*old);
  }
  pool.servers = std::move(next);
  build_ring(pool);
  refresh_host_maps(pool);
  for (auto& s : pool.servers) {
    if (!s->available(now_)) close_idle_conns(*s);
  }
  if (auto it = pools_by_uid_.find(pool.uid); it != pools_by_uid_.end()) request_queue_service(it->second);
}

void Engine::apply_add_server(Command& c) {
  auto it = pools_by_uid_.find(c.pool_uid);
  if (it == pools_by_uid_.end()) return;
  Pool& pool = *it->second;
  std::vector<ServerSpec> specs;
  for (auto& s : pool.servers) specs.push_back(spec_of(*s));
  specs.push_back(std::move(c.server));
  sync_servers(pool, specs);
}

void Engine::apply_remove_server(uint32_t uid) {
  auto it = servers_by_uid_.find(uid);
  if (it == servers_by_uid_.end()) return;
  Pool& pool = *it->second->pool;
  std::vector<ServerSpec> specs;
  for (auto& s : pool.servers) {
    if (s->uid != uid) specs.push_back(spec_of(*s));
  }
  sync_servers(pool, specs);
}

// A listener the new config drops: closing its socket would reset the connections queued on
// it (with SO_REUSEPORT the kernel does not move them to the group's other sockets unless
// net.ipv4.tcp_migrate_req is set), so they are accepted first and served by the config they
// came for. Runs before the listeners and the snapshot change.
void Engine::drain_removed_listeners(const SnapshotSpec& spec) {
  if (!snapshot_) return;
  constexpr int kMaxDrainRounds = 64;  // kAcceptBatch each
  for (auto& l : listeners_) {
    bool kept = std::any_of(spec.listeners.begin(), spec.listeners.end(), [&](const ListenerSpec& ls) { return ls.bind == l->bind; });
    if (kept || l->paused) continue;
    l->readable = true;
    for (int round = 0; round < kMaxDrainRounds && l->readable && !l->paused && !listeners_full_; ++round) accept_ready(*l);
  }
}

void Engine::rebuild_listeners(const SnapshotSpec& spec, std::vector<std::pair<std::string, Fd>>& fresh) {
  std::vector<std::unique_ptr<Listener>> next;
  for (const ListenerSpec& ls : spec.listeners) {
    std::unique_ptr<Listener> l;
    for (auto& old : listeners_) {
      if (old && old->bind == ls.bind) l = std::move(old);
    }
    if (!l) {
      for (auto& [bind, fd] : fresh) {
        if (bind != ls.bind || !fd) continue;
        l = std::make_unique<Listener>();
        l->id = next_listener_id_++;
        l->bind = ls.bind;
        l->congestion = ls.congestion;  // set by open_listener
        l->fd = std::move(fd);
        l->shared = links_.shared->listener(ls.bind);
        register_fd(l->fd.get(), tag_key(l->id, kTagListener));
      }
    }
    if (!l) continue;  // cannot happen: apply() bound every new address
    if (l->congestion != ls.congestion) {
      // A kept socket: the control plane checked the name against this host before the reload.
      std::string ignored;
      if (set_congestion(l->fd.get(), ls.congestion, ignored)) l->congestion = ls.congestion;
    }
    l->name = ls.name;
    l->maxconn = ls.maxconn;
    next.push_back(std::move(l));
  }
  listeners_ = std::move(next);  // listeners left out close here
}

}  // namespace epoxy

namespace epoxy {

bool Route::host_matches(std::string_view normalized) const {
  if (host.empty()) return true;
  if (!wildcard) return normalized == host;
  return normalized.size() > host.size() && normalized.substr(normalized.size() - host.size()) == host;
}

// A host map route is looked up last, after the cheap checks (path, ALPN), so a request the
// route would refuse anyway costs no lookup and counts no miss.
RouteMatch ListenerRoute::match(std::string_view host, std::string_view path) const {
  for (const Route& r : routes) {
    if (!r.host_matches(host)) continue;
    if (!r.path.empty() && path.substr(0, r.path.size()) != r.path) continue;
    if (r.host_map) {
      std::shared_ptr<HostEntry> e = r.host_map->find(host);
      if (!e) continue;  // no entry: the next route, as a route whose host differs
      return {&r, {r.host_map.get(), std::move(e)}};
    }
    return {&r, {}};
  }
  return {};
}

RouteMatch ListenerRoute::match_tls(const TlsInfo* tls) const {
  for (const Route& r : routes) {
    if (!r.host.empty() && !(tls && tls->has_sni && r.host_matches(tls->sni))) continue;
    if (!r.alpn.empty() && !(tls && std::find(tls->alpn.begin(), tls->alpn.end(), r.alpn) != tls->alpn.end())) continue;
    if (r.host_map) {
      if (!tls || !tls->has_sni) continue;  // no SNI: no host to look up
      std::shared_ptr<HostEntry> e = r.host_map->find(tls->sni);
      if (!e) continue;
      return {&r, {r.host_map.get(), std::move(e)}};
    }
    return {&r, {}};
  }
  return {};
}

}  // namespace epoxy
