#include "socket.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <fstream>

namespace epoxy {

namespace {
std::string errno_text(const char* call, int err) { return std::string(call) + ": " + strerror(err); }

std::string system_congestion() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_congestion_control");
  std::string name;
  in >> name;
  return name;
}
}  // namespace

bool set_congestion(int fd, const std::string& name, std::string& error) {
  std::string chosen = name.empty() ? system_congestion() : name;
  if (chosen.empty()) {
    error = "net.ipv4.tcp_congestion_control is unreadable";
    return false;
  }
  if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, chosen.data(), static_cast<socklen_t>(chosen.size())) != 0) {
    error = errno_text(("setsockopt(TCP_CONGESTION, " + chosen + ")").c_str(), errno);
    return false;
  }
  return true;
}

namespace {
Fd open_listener_socket(const SockAddr& addr, int backlog, const std::string& congestion, bool reuseport,
                        std::string& error) {
  Fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = errno_text("socket", errno);
    return Fd();
  }
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    error = errno_text("setsockopt(SO_REUSEPORT)", errno);
    return Fd();
  }
  // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt instead of one per connection.
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!congestion.empty() && !set_congestion(fd.get(), congestion, error)) return Fd();
  if (::bind(fd.get(), addr.get(), addr.len) != 0) {
    error = errno_text("bind", errno);
    return Fd();
  }
  if (::listen(fd.get(), backlog) != 0) {
    error = errno_text("listen", errno);
    return Fd();
  }
  return fd;
}

// Whether something holds addr's port: a bind without SO_REUSEPORT fails then, whatever the
// holder set. Nothing is left bound.
bool port_taken(const SockAddr& addr, std::string& error) {
  Fd probe(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  int one = 1;
  setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(probe.get(), addr.get(), addr.len) == 0) return false;
  if (errno != EADDRINUSE) return false;  // the real bind reports anything else
  error = errno_text("bind", EADDRINUSE);
  return true;
}
}  // namespace

Fd open_listener(const SockAddr& addr, int backlog, const std::string& congestion, std::string& error) {
  return open_listener_socket(addr, backlog, congestion, false, error);
}

std::vector<Fd> open_listeners(const SockAddr& addr, int backlog, const std::string& congestion, size_t count,
                               std::string& error) {
  std::vector<Fd> fds;
  if (count <= 1) {
    Fd fd = open_listener(addr, backlog, congestion, error);
    if (fd) fds.push_back(std::move(fd));
    return fds;
  }
  SockAddr at = addr;
  if (at.port() != 0 && port_taken(at, error)) return fds;
  for (size_t i = 0; i < count; ++i) {
    Fd fd = open_listener_socket(at, backlog, congestion, true, error);
    if (!fd) return {};
    if (i == 0 && at.port() == 0) {
      // The others join the port the kernel chose for the first.
      at.len = sizeof at.storage;
      getsockname(fd.get(), at.get(), &at.len);
    }
    fds.push_back(std::move(fd));
  }
  return fds;
}

ConnectStart start_connect(const SockAddr& addr, const std::string& congestion, Fd& out, int& err) {
  Fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    err = errno;
    return ConnectStart::Failed;
  }
  set_nodelay(fd.get());
  std::string ignored;
  if (!congestion.empty()) set_congestion(fd.get(), congestion, ignored);
  int r = ::connect(fd.get(), addr.get(), addr.len);
  if (r != 0 && errno != EINPROGRESS) {
    err = errno;
    return ConnectStart::Failed;
  }
  out = std::move(fd);
  return r == 0 ? ConnectStart::Connected : ConnectStart::InProgress;
}

int take_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

int connect_result(int fd, uint32_t events) {
  if (!(events & (EPOLLERR | EPOLLHUP))) return 0;
  int err = take_socket_error(fd);
  return err != 0 ? err : ECONNRESET;  // hung up without a recorded error: unusable all the same
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void set_abortive_close(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace epoxy
