// Real sockets for the io tests: connected non-blocking pairs (AF_UNIX and 127.0.0.1 TCP), a
// byte pattern that shows any lost, repeated or reordered byte, and small helpers to write and
// read that pattern. Header-only: the test binaries compile only native/<layer>/test/*.cc.
#pragma once

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/fd.h"

namespace epoxy::testing {

// Two connected ends. Which end is "a" and which "b" only matters to the test using them.
struct SocketPair {
  Fd a;
  Fd b;
};

inline void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  REQUIRE(flags >= 0);
  REQUIRE(fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

inline SocketPair unix_pair() {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  return {Fd(sv[0]), Fd(sv[1])};
}

// A loopback TCP connection: `a` connected, `b` accepted. Both non-blocking, Nagle off.
inline SocketPair tcp_pair() {
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(listener.get(), 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Fd a(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(a.valid());
  REQUIRE(connect(a.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);  // blocking: simplest
  Fd b(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  REQUIRE(b.valid());
  set_nonblocking(a.get());
  int one = 1;
  setsockopt(a.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(b.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {std::move(a), std::move(b)};
}

// Small kernel buffers make writes partial and EAGAIN frequent (the kernel doubles the value and
// applies its own minimum).
inline void set_send_buffer(int fd, int bytes) {
  REQUIRE(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0);
}
inline void set_receive_buffer(int fd, int bytes) {
  REQUIRE(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) == 0);
}

// Bytes waiting in a socket's receive queue, not yet read by anyone.
inline size_t unread_bytes(int fd) {
  int n = 0;
  REQUIRE(ioctl(fd, FIONREAD, &n) == 0);
  return static_cast<size_t>(n);
}

// Waits (up to ~2 s) until everything written to `fd` has left its send queue, i.e. sits in
// the peer's receive queue; whether it did.
inline bool wait_delivered(int fd) {
  for (int i = 0; i < 2000; ++i) {
    int queued = 0;
    if (ioctl(fd, TIOCOUTQ, &queued) != 0) return false;
    if (queued == 0) return true;
    usleep(1000);
  }
  return false;
}

// The byte at `offset` of the test stream: splitmix64 of the 8-byte word index, so the stream
// has no short period and a byte delivered at the wrong offset is noticed.
inline uint8_t pattern_byte(uint64_t offset) {
  uint64_t z = (offset >> 3) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<uint8_t>(z >> ((offset & 7) * 8));
}

inline std::vector<uint8_t> pattern(uint64_t offset, size_t n) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = pattern_byte(offset + i);
  return out;
}

// Writes the pattern from `sent` on until `total` or EAGAIN; advances `sent`. Returns bytes written.
inline size_t write_pattern(int fd, uint64_t& sent, uint64_t total) {
  uint8_t chunk[65536];
  size_t wrote = 0;
  while (sent < total) {
    size_t n = total - sent < sizeof chunk ? static_cast<size_t>(total - sent) : sizeof chunk;
    for (size_t i = 0; i < n; ++i) chunk[i] = pattern_byte(sent + i);
    ssize_t w = ::send(fd, chunk, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w <= 0) break;
    sent += static_cast<uint64_t>(w);
    wrote += static_cast<size_t>(w);
  }
  return wrote;
}

// What a reader saw of the pattern.
struct Received {
  uint64_t bytes = 0;
  bool eof = false;
  bool corrupt = false;           // some byte differed from the pattern at its offset
  uint64_t first_bad = UINT64_MAX;
  int error = 0;                  // errno of a failed read, 0 if none
};

// Reads what is available (at most `max` bytes, in reads of at most `chunk`) and checks it
// against the pattern. Stops at EAGAIN, end of stream or error.
inline size_t read_pattern(int fd, Received& r, size_t chunk = 65536, size_t max = SIZE_MAX) {
  uint8_t buf[65536];
  if (chunk > sizeof buf) chunk = sizeof buf;
  size_t got = 0;
  while (got < max && !r.eof) {
    size_t want = max - got < chunk ? max - got : chunk;
    ssize_t n = ::recv(fd, buf, want, MSG_DONTWAIT);
    if (n == 0) {
      r.eof = true;
      break;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) r.error = errno;
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != pattern_byte(r.bytes + static_cast<uint64_t>(i)) && !r.corrupt) {
        r.corrupt = true;
        r.first_bad = r.bytes + static_cast<uint64_t>(i);
      }
    }
    r.bytes += static_cast<uint64_t>(n);
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace epoxy::testing
