// Test-only helpers for real loopback sockets: blocking clients with timeouts (so a failing test
// fails instead of hanging), exact reads and writes, fd counting, bounded polling.
// Header-only, shared by the net and engine test binaries.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/fd.h"

namespace epoxy::testing {

// Every blocking socket op of a test is bounded by this; sanitizer builds are slower.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr int kIoTimeoutMs = 15000;
#else
inline constexpr int kIoTimeoutMs = 5000;
#endif

using Clock = std::chrono::steady_clock;

// Polls `pred` every millisecond or so until it holds or `timeout_ms` passes; returns its last
// value. The assertion is on the condition, never on the sleep.
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = kIoTimeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Open file descriptors of this process (the directory stream's own fd excluded).
inline int fd_count() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;
}

// Lists the open fds with their targets: a leak is easier to read than a count.
inline std::string fd_listing() {
  std::string out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
    char target[256] = {0};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    out += std::string(e->d_name) + " -> " + (n > 0 ? std::string(target, static_cast<size_t>(n)) : "?") + "\n";
  }
  closedir(d);
  return out;
}

inline void set_io_timeouts(int fd, int ms = kIoTimeoutMs) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// A blocking listener on 127.0.0.1 with a kernel-chosen port.
inline Fd listen_loopback(uint16_t port = 0, int backlog = 128) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd.get(), backlog) != 0) return Fd();
  return fd;
}

// A port that was free a moment ago (bound, read, closed). Whoever binds it next must be ready
// to retry with another one.
inline uint16_t free_port() {
  Fd fd = listen_loopback();
  return fd ? local_port(fd.get()) : 0;
}

// Blocking connect to 127.0.0.1:port with the test timeouts set; invalid Fd on failure.
inline Fd connect_loopback(uint16_t port, int timeout_ms = kIoTimeoutMs) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  set_io_timeouts(fd.get(), timeout_ms);
  sockaddr_in a = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return fd;
}

// Waits until `fd` is readable (or has an error/hang-up); false on timeout.
inline bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

inline bool wait_writable(int fd, int timeout_ms) {
  pollfd p{fd, POLLOUT, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

inline bool write_all(int fd, const void* data, size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // includes the SO_SNDTIMEO timeout (EAGAIN)
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

inline bool write_all(int fd, std::string_view s) { return write_all(fd, s.data(), s.size()); }

// Reads exactly `len` bytes; false on EOF, error or timeout first.
inline bool read_exact(int fd, void* data, size_t len) {
  auto* p = static_cast<char*>(data);
  while (len > 0) {
    ssize_t n = ::recv(fd, p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

inline std::string read_n(int fd, size_t len) {
  std::string s(len, '\0');
  if (!read_exact(fd, s.data(), len)) return "<short read>";
  return s;
}

// How a read-until-end finished.
enum class End { Eof, Reset, Timeout, Error };

inline const char* end_name(End e) {
  switch (e) {
    case End::Eof: return "eof";
    case End::Reset: return "reset";
    case End::Timeout: return "timeout";
    case End::Error: return "error";
  }
  return "?";
}

// Reads until EOF (or error/timeout), appending to `out`, at most `cap` bytes.
inline End read_to_end(int fd, std::string& out, size_t cap = 1 << 20) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return End::Eof;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return End::Timeout;
      if (errno == ECONNRESET) return End::Reset;
      return End::Error;
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > cap) return End::Error;
  }
}

// Reads until `delim` has arrived (included in the result); "" on EOF/timeout first.
inline std::string read_until(int fd, std::string_view delim, size_t cap = 1 << 16) {
  std::string out;
  char c;
  while (out.size() < cap) {
    ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    out.push_back(c);
    if (out.size() >= delim.size() && std::string_view(out).substr(out.size() - delim.size()) == delim) return out;
  }
  return {};
}

inline bool fd_nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
inline bool fd_cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

inline int int_sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) != 0) return -1;
  return v;
}

// A deterministic, offset-dependent byte pattern: a lost, duplicated or reordered chunk shows.
inline uint8_t pattern_byte(uint64_t i) {
  uint64_t x = i ^ (i >> 11) ^ (i >> 23);
  return static_cast<uint8_t>(x * 0x9d + (i >> 16));
}

inline void fill_pattern(uint8_t* p, size_t len, uint64_t offset) {
  for (size_t i = 0; i < len; ++i) p[i] = pattern_byte(offset + i);
}

// Index of the first byte that breaks the pattern, or `len` when all match.
inline size_t check_pattern(const uint8_t* p, size_t len, uint64_t offset) {
  for (size_t i = 0; i < len; ++i) {
    if (p[i] != pattern_byte(offset + i)) return i;
  }
  return len;
}

}  // namespace epoxy::testing
