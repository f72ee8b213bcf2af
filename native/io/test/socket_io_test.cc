// receive() and transmit(): one recv/send under the edge-triggered rules in socket_io.h. What
// matters is when they clear the readiness flag: clearing it too early stalls a session (no
// further edge comes), never clearing it spins.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "io/socket_io.h"
#include "testing/io_sockets.h"

using epoxy::IoResult;
using epoxy::receive;
using epoxy::transmit;
using epoxy::testing::SocketPair;
using epoxy::testing::tcp_pair;
using epoxy::testing::unix_pair;

namespace {

void send_bytes(int fd, size_t n) {
  std::vector<uint8_t> bytes(n, 0x5a);
  REQUIRE(::send(fd, bytes.data(), n, MSG_NOSIGNAL) == static_cast<ssize_t>(n));
}

// receive(), retried while the data is still on its way (loopback TCP delivers within the
// sender's syscall, so this rarely loops).
IoResult receive_arrived(int fd, uint8_t* buf, size_t room, bool& readable) {
  IoResult r{IoResult::Kind::Again};
  for (int i = 0; i < 1000 && r.kind == IoResult::Kind::Again; ++i) {
    if (i > 0) usleep(1000);
    readable = true;
    r = receive(fd, buf, room, readable, false);
  }
  return r;
}

// Closes `fd` with an RST instead of a FIN.
void reset_close(epoxy::Fd& fd) {
  linger lg{1, 0};
  REQUIRE(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  fd.reset();
}

}  // namespace

TEST_CASE("socket io: a read that fills the room keeps the socket readable") {
  SocketPair p = unix_pair();
  send_bytes(p.a.get(), 100);
  uint8_t buf[100];
  bool readable = true;
  IoResult r = receive(p.b.get(), buf, sizeof buf, readable, false);
  CHECK(r.kind == IoResult::Kind::Moved);
  CHECK(r.bytes == 100);
  CHECK(readable);  // more may be queued: the caller must read again
}

TEST_CASE("socket io: a short read means drained and clears readable") {
  SocketPair p = tcp_pair();
  send_bytes(p.a.get(), 50);
  uint8_t buf[100];
  bool readable = true;
  IoResult r = receive_arrived(p.b.get(), buf, sizeof buf, readable);
  CHECK(r.kind == IoResult::Kind::Moved);
  CHECK(r.bytes == 50);
  CHECK_FALSE(readable);
}

TEST_CASE("socket io: with the FIN already reported a short read keeps readable, and the next read is the end") {
  SocketPair p = unix_pair();
  send_bytes(p.a.get(), 50);
  REQUIRE(::shutdown(p.a.get(), SHUT_WR) == 0);
  uint8_t buf[100];
  bool readable = true;
  IoResult r = receive(p.b.get(), buf, sizeof buf, readable, true);
  CHECK(r.kind == IoResult::Kind::Moved);
  CHECK(r.bytes == 50);
  CHECK(readable);  // no later edge will announce the end of stream: it must be read now
  r = receive(p.b.get(), buf, sizeof buf, readable, true);
  CHECK(r.kind == IoResult::Kind::End);
}

TEST_CASE("socket io: nothing to read is Again and clears readable") {
  SocketPair p = unix_pair();
  uint8_t buf[16];
  bool readable = true;
  IoResult r = receive(p.b.get(), buf, sizeof buf, readable, false);
  CHECK(r.kind == IoResult::Kind::Again);
  CHECK_FALSE(readable);
}

TEST_CASE("socket io: ENOTCONN before a connect completes counts as Again for both directions") {
  epoxy::Fd tcp(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  epoxy::Fd local(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  REQUIRE(tcp.valid());
  REQUIRE(local.valid());
  uint8_t buf[16] = {};
  bool readable = true;
  IoResult r = receive(tcp.get(), buf, sizeof buf, readable, false);
  CHECK(r.kind == IoResult::Kind::Again);
  CHECK_FALSE(readable);
  bool writable = true;
  IoResult w = transmit(local.get(), buf, sizeof buf, writable);
  CHECK(w.kind == IoResult::Kind::Again);
  CHECK_FALSE(writable);
}

TEST_CASE("socket io: a reset peer is an Error carrying ECONNRESET") {
  SocketPair p = tcp_pair();
  send_bytes(p.b.get(), 10);  // unread data at close makes the kernel send an RST anyway
  reset_close(p.a);
  uint8_t buf[16];
  bool readable = true;
  IoResult r = receive_arrived(p.b.get(), buf, sizeof buf, readable);
  CHECK(r.kind == IoResult::Kind::Error);
  CHECK(r.error == ECONNRESET);
}

TEST_CASE("socket io: a write that fits keeps writable, a short write clears it, a full socket is Again") {
  SocketPair p = unix_pair();
  epoxy::testing::set_send_buffer(p.a.get(), 4096);
  std::vector<uint8_t> data(1 << 20, 0x42);
  bool writable = true;
  IoResult w = transmit(p.a.get(), data.data(), 10, writable);
  CHECK(w.kind == IoResult::Kind::Moved);
  CHECK(w.bytes == 10);
  CHECK(writable);

  w = transmit(p.a.get(), data.data(), data.size(), writable);
  CHECK(w.kind == IoResult::Kind::Moved);
  CHECK(w.bytes < data.size());
  CHECK_FALSE(writable);  // the kernel raises EPOLLOUT when room returns

  writable = true;
  for (int i = 0; i < 100 && w.kind == IoResult::Kind::Moved; ++i) {
    w = transmit(p.a.get(), data.data(), data.size(), writable);
  }
  CHECK(w.kind == IoResult::Kind::Again);
  CHECK_FALSE(writable);
}

TEST_CASE("socket io: writing to a closed peer is an EPIPE Error and raises no SIGPIPE") {
  SocketPair p = unix_pair();
  p.b.reset();
  uint8_t byte = 1;
  bool writable = true;
  IoResult w = transmit(p.a.get(), &byte, 1, writable);  // SIGPIPE would end the test binary
  CHECK(w.kind == IoResult::Kind::Error);
  CHECK(w.error == EPIPE);
}
