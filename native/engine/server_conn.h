// A connection to a server that outlives the request it was opened for (HTTP mode): owned by
// one session while a request uses it, otherwise idle in its server's list, ready for reuse.
// It has its own epoll key from the moment it is opened, so handing it from session to idle
// list and back costs no epoll_ctl.
#pragma once

#include <cstdint>
#include <memory>

#include "model.h"
#include "session.h"

namespace epoxy {

struct ServerConn {
  uint64_t key = 0;       // engine key (kConnKeyBit set); events arrive tagged kTagServer
  Endpoint ep;
  std::shared_ptr<Server> server;
  uint64_t owner = 0;     // session key while in use (meaningless while idle)
  bool idle = false;      // in its server's idle list
  bool connected = false;
  int64_t idle_deadline = 0;
  uint32_t requests = 0;  // requests served on it so far
  // It began with one client's PROXY header: only that client connection may reuse it, so it
  // idles in its session's list, never in the server's.
  bool private_ = false;
};

// Keys of server connections carry this bit, so one epoll tag serves both kinds of server fds.
constexpr uint64_t kConnKeyBit = 1ull << 61;

}  // namespace epoxy
