// One recv() or send() under epoxy's edge-triggered readiness rules. Every place that moves
// bytes through a userspace buffer uses these, so the rules live in one spot:
//  - EAGAIN (and ENOTCONN before a connect completes) clears the readiness flag;
//  - a short read means the receive queue is drained, unless the peer's FIN was already
//    reported: then the end of stream is still to be read and no later edge will announce it;
//  - a short write means the send buffer is full; the kernel raises EPOLLOUT when room returns.
#pragma once

#include <errno.h>
#include <sys/socket.h>

#include <cstddef>

namespace epoxy {

struct IoResult {
  enum class Kind { Moved, Again, End, Error };
  Kind kind;
  size_t bytes = 0;  // Moved
  int error = 0;     // Error: errno
};

inline bool io_again(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOTCONN; }

inline IoResult receive(int fd, void* buf, size_t room, bool& readable, bool fin) {
  ssize_t n = ::recv(fd, buf, room, MSG_DONTWAIT);
  if (n > 0) {
    if (static_cast<size_t>(n) < room && !fin) readable = false;
    return {IoResult::Kind::Moved, static_cast<size_t>(n), 0};
  }
  if (n == 0) return {IoResult::Kind::End, 0, 0};
  if (io_again(errno)) {
    readable = false;
    return {IoResult::Kind::Again, 0, 0};
  }
  return {IoResult::Kind::Error, 0, errno};
}

inline IoResult transmit(int fd, const void* data, size_t len, bool& writable) {
  ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) {
    if (static_cast<size_t>(n) < len) writable = false;
    return {IoResult::Kind::Moved, static_cast<size_t>(n), 0};
  }
  if (io_again(errno)) {
    writable = false;
    return {IoResult::Kind::Again, 0, 0};
  }
  return {IoResult::Kind::Error, 0, errno};
}

}  // namespace epoxy
