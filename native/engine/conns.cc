// Server connections for HTTP mode: a slab of ServerConn with generation-checked keys, idle
// lists per server (LIFO: the most recently used connection is the warmest), idle timeouts.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>

#include "../net/socket.h"
#include "engine.h"

namespace epoxy {

ServerConn* Engine::find_conn(uint64_t key) { return conns_.find(key); }

ServerConn* Engine::open_conn(const std::shared_ptr<Server>& server, uint64_t owner, int& err) {
  Fd fd;
  ConnectStart r = start_connect(server->addr, congestion_of(*server), fd, err);
  if (r == ConnectStart::Failed) return nullptr;
  uint64_t key = conns_.next_key();
  ServerConn& c = conns_.insert(std::make_unique<ServerConn>());
  c.key = key;
  c.ep.fd = std::move(fd);
  c.server = server;
  c.private_ = server->proxy_protocol != 0;
  c.owner = owner;
  c.connected = r == ConnectStart::Connected;
  register_fd(c.ep.fd.get(), tag_key(c.key, kTagServer));
  return &c;
}

// Takes an idle connection for `owner`, or closes it when the server has closed it meanwhile.
bool Engine::reuse_idle(ServerConn& c, uint64_t owner) {
  if (c.ep.readable || c.ep.hangup || c.ep.fin) {
    // Bytes or a FIN arrived while idle. Usually the server closed it; rarely the flag is
    // left from the last response's final read. One peek tells.
    char b;
    ssize_t n = ::recv(c.ep.fd.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
      close_conn(c);
      return false;
    }
    c.ep.readable = false;
  }
  c.owner = owner;
  c.idle = false;
  c.idle_deadline = 0;
  return true;
}

ServerConn* Engine::take_idle_conn(Server& server, uint64_t owner) {
  while (!server.idle_conns.empty()) {
    uint64_t key = server.idle_conns.back();
    server.idle_conns.pop_back();
    server.shared->idle_left();
    ServerConn* c = find_conn(key);
    if (c && reuse_idle(*c, owner)) return c;
  }
  return nullptr;
}

ServerConn* Engine::take_private_conn(std::vector<uint64_t>& keys, const Server& server, uint64_t owner) {
  for (size_t i = keys.size(); i-- > 0;) {
    ServerConn* c = find_conn(keys[i]);
    if (c && (!c->idle || c->server.get() != &server)) continue;
    keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));  // taken, or gone (closed while idle)
    if (c && reuse_idle(*c, owner)) return c;
  }
  return nullptr;
}

void Engine::close_private_conns(std::vector<uint64_t>& keys, uint64_t owner) {
  for (uint64_t key : keys) {
    ServerConn* c = find_conn(key);
    if (c && c->idle && c->private_ && c->owner == owner) close_conn(*c);
  }
  keys.clear();
}

bool Engine::release_conn(ServerConn& c, bool reusable) {
  Server& s = *c.server;
  if (!reusable || c.ep.fin || s.removed || stopping_) {
    close_conn(c);
    return false;
  }
  if (!c.private_) {
    if (!s.shared->try_keep_idle(snapshot_->tuning.server_idle_max)) {
      close_conn(c);
      return false;
    }
    s.idle_conns.push_back(c.key);
  }
  c.idle = true;
  c.idle_deadline = now_ + snapshot_->tuning.server_idle_ms;
  timers_.schedule(c.idle_deadline, tag_key(c.key, kTagServer));
  return true;
}

void Engine::close_conn(ServerConn& c) {
  if (c.idle) {
    auto& idle = c.server->idle_conns;
    auto at = std::find(idle.begin(), idle.end(), c.key);
    if (at != idle.end()) {
      idle.erase(at);
      c.server->shared->idle_left();
    }
  }
  conns_.erase(c.key);  // closes the fd, which also leaves epoll
}

void Engine::close_idle_conns(Server& server) {
  std::vector<uint64_t> keys;
  keys.swap(server.idle_conns);
  if (!keys.empty()) server.shared->idle_left(static_cast<uint32_t>(keys.size()));
  for (uint64_t key : keys) {
    if (ServerConn* c = find_conn(key)) {
      c->idle = false;  // close_conn must not edit the list we are walking
      close_conn(*c);
    }
  }
}

void Engine::on_conn_event(uint64_t key, uint32_t events) {
  ServerConn* c = find_conn(key);
  if (!c) return;
  c->ep.note(events);
  if (!c->idle) {
    uint64_t owner = c->owner;
    with_session(owner, [&](Session& s) { s.on_conn_event(*c, events); });
    return;
  }
  // Idle: a server that talks or hangs up while idle is closing it (or broken).
  if (c->ep.hangup || (events & EPOLLRDHUP)) close_conn(*c);
}

void Engine::on_conn_timer(uint64_t key, int64_t when) {
  ServerConn* c = find_conn(key);
  if (!c || !c->idle || c->idle_deadline != when) return;
  close_conn(*c);
}

}  // namespace epoxy
