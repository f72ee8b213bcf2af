// Channel end of stream: the source's FIN becomes shutdown(SHUT_WR) on the destination only
// after every held byte is written, on both paths; the FIN already reported by epoll makes one
// pump read through to the end; reset() lets a pooled channel carry the next stream.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <initializer_list>

#include "io/channel.h"
#include "testing/io_relay.h"
#include "testing/io_sockets.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

constexpr std::initializer_list<Path> kPaths = {Path::Copy, Path::Splice};

// Pumps a channel once, by hand, with the given readiness (no epoll: the test says what epoll
// would have reported).
PumpResult pump_once(Channel& ch, SocketPair& src, SocketPair& dst, bool readable, bool fin, bool writable = true) {
  ChannelTraffic t;
  return ch.pump(src.b.get(), readable, fin, dst.a.get(), writable, size_t{1} << 20, t);
}

// Sends `n` pattern bytes and the FIN.
void send_and_end(SocketPair& src, uint64_t n) {
  uint64_t sent = 0;
  write_pattern(src.a.get(), sent, n);
  REQUIRE(sent == n);
  REQUIRE(::shutdown(src.a.get(), SHUT_WR) == 0);
}

}  // namespace

TEST_CASE("half-close: the destination is shut for writing only after everything held is written") {
  for (Path path : kPaths) {
    std::string name = path_name(path);
    CAPTURE(name);
    Rig rig(path, unix_pair(), unix_pair());
    narrow_destination(rig.relay);
    TransferResult t = transfer(rig.relay, 1 << 20, 2048);
    // A FIN sent before the held bytes would make the next write fail (EPIPE): channel_error.
    check_whole_stream(t, 1 << 20);
    CHECK(rig.channel.source_ended());
    CHECK(rig.channel.finished());
  }
}

TEST_CASE("half-close: the source ending while the destination is full waits for the reader") {
  for (Path path : kPaths) {
    std::string name = path_name(path);
    CAPTURE(name);
    Rig rig(path, unix_pair(), unix_pair());
    narrow_destination(rig.relay);
    TransferResult so_far;
    if (path == Path::Splice) {
      Flow warm;  // into splice mode first: the switch happens only while the destination drains
      warm.total = warm.expect = 128 * 1024;
      warm.end_stream = false;
      so_far = transfer(rig.relay, warm);
      REQUIRE(rig.channel.splicing());
    }
    // Nobody reads: a tail small enough to leave the source entirely, grown until the
    // destination is full and the channel holds some of it; then the FIN.
    while (!rig.channel.held() && so_far.sent < (uint64_t{1} << 20)) {
      write_pattern(rig.relay.producer(), so_far.sent, so_far.sent + 1000);
      settle(rig.relay, 20);
    }
    REQUIRE(::shutdown(rig.relay.producer(), SHUT_WR) == 0);
    settle(rig.relay, 50);
    CHECK(rig.channel.source_ended());
    CHECK(rig.channel.held());
    CHECK_FALSE(rig.channel.finished());
    read_pattern(rig.relay.consumer(), so_far.got, 65536, 1000);
    CHECK_FALSE(so_far.got.eof);  // no FIN ahead of the held bytes

    Flow rest;
    rest.total = so_far.sent;
    check_whole_stream(transfer(rig.relay, rest, so_far), so_far.sent);
    CHECK(rig.channel.finished());
  }
}

TEST_CASE("half-close: only the writing side is shut, the reverse direction stays open") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  check_whole_stream(transfer(rig.relay, 1000, 4096), 1000);
  REQUIRE(rig.channel.finished());
  // The consumer can still answer over the destination socket (SHUT_WR, not SHUT_RDWR)...
  REQUIRE(::send(rig.relay.consumer(), "pong", 4, MSG_NOSIGNAL) == 4);
  char buf[8] = {};
  CHECK(::recv(rig.relay.destination(), buf, sizeof buf, MSG_DONTWAIT) == 4);
  CHECK(std::memcmp(buf, "pong", 4) == 0);
  // ...and the source socket was never shut by the channel: it can still write to its peer.
  CHECK(::send(rig.relay.source(), "x", 1, MSG_NOSIGNAL) == 1);
}

TEST_CASE("half-close: with the FIN already reported one pump reads to the end and shuts the destination") {
  // epoll said EPOLLIN|EPOLLRDHUP once; no later edge will come. A short read must not be
  // taken for "drained" or the end of stream would never be read.
  SocketPair src = unix_pair();
  SocketPair dst = unix_pair();
  send_and_end(src, 100);
  BufferPool buffers;
  PipePool pipes;
  Channel ch(buffers, pipes, 16384);
  CHECK(pump_once(ch, src, dst, true, true) == PumpResult::Idle);
  CHECK(ch.source_ended());
  CHECK(ch.finished());
  Received got;
  read_pattern(dst.b.get(), got);
  CHECK(got.bytes == 100);
  CHECK(got.eof);
}

TEST_CASE("half-close: without the FIN reported a short read means drained and the end waits for its edge") {
  SocketPair src = unix_pair();
  SocketPair dst = unix_pair();
  send_and_end(src, 100);
  BufferPool buffers;
  PipePool pipes;
  Channel ch(buffers, pipes, 16384);
  CHECK(pump_once(ch, src, dst, true, false) == PumpResult::Idle);
  CHECK_FALSE(ch.source_ended());  // 100 of 16384: drained, as far as the channel knows
  CHECK(pump_once(ch, src, dst, true, true) == PumpResult::Idle);  // the RDHUP edge
  CHECK(ch.finished());
}

TEST_CASE("half-close: set_shutdown_at_end(false) finishes without a FIN on the destination") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  rig.channel.set_shutdown_at_end(false);  // the session is about to close the destination anyway
  Flow f;
  f.total = f.expect = 5000;
  TransferResult t = transfer(rig.relay, f);
  settle(rig.relay, 20);
  CHECK(t.got.bytes == 5000);
  CHECK(rig.channel.finished());
  read_pattern(rig.relay.consumer(), t.got);
  CHECK_FALSE(t.got.eof);  // EAGAIN: the destination is still open for writing
}

TEST_CASE("half-close: a finished channel pumped again does nothing and reports no error") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  check_whole_stream(transfer(rig.relay, 3000, 4096), 3000);
  rig.relay.src_readable = rig.relay.src_fin = rig.relay.dst_writable = true;
  uint64_t before = rig.relay.traffic.bytes_in;
  CHECK(rig.relay.pump() == PumpResult::Idle);
  CHECK(rig.relay.traffic.bytes_in == before);
  CHECK(rig.channel.error() == 0);
}

TEST_CASE("reset: a pooled channel forgets the previous stream's end and limit") {
  BufferPool buffers;
  PipePool pipes(65536, 4);
  Channel ch(buffers, pipes, 16384);
  {
    Relay first(ch, unix_pair(), unix_pair());
    check_whole_stream(transfer(first, 300000, 65536), 300000);
    REQUIRE(ch.finished());
  }
  ch.set_limit(10);
  ch.reset();
  CHECK(ch.limit() == Channel::kUnlimited);
  CHECK_FALSE(ch.source_ended());
  CHECK_FALSE(ch.finished());
  CHECK_FALSE(ch.splicing());
  CHECK(pipes.in_use() == 0);
  CHECK(buffers.in_use() == 0);

  Relay second(ch, unix_pair(), unix_pair());  // a kept-alive connection's next stream
  check_whole_stream(transfer(second, 300000, 65536), 300000);
  CHECK(ch.finished());
}
