// Socket helpers: listening sockets, non-blocking connects, and the options epoxy sets.
#pragma once

#include <cerrno>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/fd.h"
#include "address.h"

namespace epoxy {

// socket + SO_REUSEADDR + bind + listen, non-blocking, with TCP congestion control
// `congestion` (empty: the system's default; accepted sockets inherit it). On failure returns an
// invalid Fd and a reason that names the failing call (e.g. "bind: Address already in use").
Fd open_listener(const SockAddr& addr, int backlog, const std::string& congestion, std::string& error);

// `count` listening sockets on one address, one per engine thread: SO_REUSEPORT, so the kernel
// spreads new connections over them by a hash of the client's address and port (one socket and
// no SO_REUSEPORT when count is 1). A port another socket holds is refused with EADDRINUSE even
// when that socket has SO_REUSEPORT too (a probe without it binds first), so a second proxy
// never silently shares a port. Port 0 takes one ephemeral port for all of them. Empty on
// failure, with a reason.
std::vector<Fd> open_listeners(const SockAddr& addr, int backlog, const std::string& congestion, size_t count,
                               std::string& error);

// TCP_CONGESTION: `name` for the socket's congestion control; empty: the system's default
// (net.ipv4.tcp_congestion_control, read again at each call). On failure, a reason.
bool set_congestion(int fd, const std::string& name, std::string& error);

enum class ConnectStart { InProgress, Connected, Failed };

// A failure of start_connect that is this host's, not the server's: no fd (EMFILE, ENFILE), no
// kernel memory (ENOBUFS, ENOMEM), no local port left (EADDRNOTAVAIL). It must not count
// against the server (passive health would eject a healthy one) nor be retried elsewhere.
inline bool local_connect_error(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL;
}

// Starts a non-blocking connect, with congestion control `congestion` when not empty (a name
// the kernel refuses leaves the system's default: the config was checked against the host).
// `err` receives errno on failure.
ConnectStart start_connect(const SockAddr& addr, const std::string& congestion, Fd& out, int& err);

// SO_ERROR of a socket whose connect was in progress: 0 means connected.
int take_socket_error(int fd);

// The outcome of a non-blocking connect, from the epoll event that ended it: success reports
// EPOLLOUT alone, failure EPOLLERR/EPOLLHUP — only then is SO_ERROR read (one syscall less per
// connection). 0 means connected.
int connect_result(int fd, uint32_t events);

// Small request/response exchanges must not wait for Nagle's algorithm.
void set_nodelay(int fd);

// Makes close() send an RST: used to pass an abort on to the other peer, so that it never
// mistakes a transfer cut by a reset for a complete one.
void set_abortive_close(int fd);

}  // namespace epoxy
