// Accepting: listener slots under maxconn (counted over every thread), accept4 in batches, the
// PROXY protocol's trusted sources, and the session a new connection becomes.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "engine.h"
#include "http_session.h"
#include "tcp_session.h"

namespace epoxy {

namespace {
// Connections accepted per listener per turn before other work is served.
constexpr int kAcceptBatch = 128;
constexpr int64_t kAcceptRetryMs = 100;
}  // namespace

// A slot under the listener's maxconn, counted over every thread; taken before accept4 so the
// limit is never exceeded, however many threads accept at once.
bool Engine::reserve_listener_slot(Listener& l) {
  ListenerShared& sh = *l.shared;
  if (l.maxconn == 0) return true;  // counted after accept4, by count_accepted
  if (sh.try_reserve(l.maxconn)) return true;
  // Full: say so, then look again — a slot freed before the flag was set told nobody.
  sh.starved.store(true);
  if (sh.try_reserve(l.maxconn)) return true;
  listeners_full_ = true;  // clients wait in the backlog; a slot freed anywhere wakes us
  return false;
}

void Engine::release_listener_slot(Listener& l) {
  if (l.maxconn == 0) return;
  l.shared->active.fetch_sub(1, std::memory_order_seq_cst);  // see ListenerShared::starved
  listener_slot_freed(*l.shared);
}

void Engine::listener_slot_freed(ListenerShared& sh) {
  if (!sh.starved.load(std::memory_order_seq_cst) || !sh.starved.exchange(false)) return;
  for (Engine* peer : links_.peers) {
    if (peer == this) {
      listeners_ready_ = true;
      continue;
    }
    Command c;
    c.kind = Command::Kind::ListenerSlot;
    peer->post(std::move(c));
  }
}

void Engine::accept_ready(Listener& l) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (!reserve_listener_slot(l)) return;
    SockAddr peer;
    peer.len = sizeof peer.storage;
    int fd = accept4(l.fd.get(), peer.get(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      release_listener_slot(l);
      if (err == EAGAIN || err == EWOULDBLOCK) {
        l.readable = false;
        return;
      }
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connection stays queued and the edge is
      // spent, so retrying now would spin. Pause and retry on a timer.
      ++l.counters->accept_errors;
      l.paused = true;
      timers_.schedule(now_ + kAcceptRetryMs, tag_key(l.id, kTagListener));
      log("error", std::string("\"msg\":\"accept failed; listener paused for 100 ms\",\"listener\":\"") + l.name +
                       "\",\"error\":\"" + strerror(err) + "\"");
      return;
    }
    if (l.maxconn == 0) l.shared->active.fetch_add(1, std::memory_order_relaxed);
    size_t index = 0;
    while (index < listeners_.size() && listeners_[index].get() != &l) ++index;
    Fd conn(fd);  // closed here unless a session takes it
    if (!trusted_source(l, index, peer) || !open_session(l, index, std::move(conn), peer)) {
      if (l.maxconn == 0) l.shared->active.fetch_sub(1, std::memory_order_relaxed);
      else release_listener_slot(l);
    }
  }
  listeners_ready_ = true;  // budget spent, more may be queued: come back next turn
}

// A listener that accepts the PROXY protocol from `trusted` sources only closes a connection
// from anywhere else before reading a byte of it (a forged header must not be believed).
bool Engine::trusted_source(Listener& l, size_t index, const SockAddr& peer) {
  if (!snapshot_ || index >= snapshot_->listeners.size()) return true;  // open_session refuses it
  const AcceptProxySpec& ap = snapshot_->listeners[index].accept_proxy;
  if (!ap.enabled || ap.trusted.empty() || any_contains(ap.trusted, peer)) return true;
  note_refused_preface(*l.counters, l.name, peer, "connection from an untrusted source on a PROXY protocol listener; closed",
                       l.counters->preface.proxy_untrusted);
  return false;
}

bool Engine::open_session(Listener& l, size_t index, Fd fd, const SockAddr& peer) {
  (void)l;
  if (!snapshot_ || index >= snapshot_->listeners.size()) return false;  // closes fd
  uint64_t key = sessions_.next_key();
  int cfd = fd.get();
  sessions_.insert(make_session(key, static_cast<uint32_t>(index), std::move(fd), peer));
  register_fd(cfd, tag_key(key, kTagClient));
  with_session(key, [](Session& s) { s.start(); });
  return true;
}

std::unique_ptr<Session> Engine::make_session(uint64_t key, uint32_t listener_index, Fd fd, const SockAddr& peer) {
  if (snapshot_->listeners[listener_index].mode == ListenerMode::Http) {
    return std::make_unique<HttpSession>(*this, key, snapshot_, listener_index, std::move(fd), peer);
  }
  return std::make_unique<TcpSession>(*this, key, snapshot_, listener_index, std::move(fd), peer);
}

}  // namespace epoxy
