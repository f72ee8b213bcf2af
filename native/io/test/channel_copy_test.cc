// Channel, copy path (recv/send through a pooled 16 KiB buffer): no byte lost or reordered
// through partial writes and EAGAIN, memory bounded by one buffer when the destination is slow,
// and the buffer given back when the channel goes idle.
#include <doctest/doctest.h>

#include <cstdint>

#include "io/channel.h"
#include "testing/io_relay.h"
#include "testing/io_sockets.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {
constexpr uint64_t kEightMiB = uint64_t{8} << 20;
}  // namespace

TEST_CASE("channel copy: 8 MiB over TCP through a narrow send buffer arrives whole and in order") {
  Rig rig(Path::Copy, tcp_pair(), tcp_pair());
  narrow_destination(rig.relay);
  TransferResult t = transfer(rig.relay, kEightMiB, 1500);
  check_whole_stream(t, kEightMiB);
  CHECK(rig.relay.traffic.bytes_copied == kEightMiB);
  CHECK(rig.relay.traffic.bytes_spliced == 0);
  CHECK(rig.relay.destination_full > 0);  // partial writes / EAGAIN really happened
  CHECK(rig.relay.max_held <= 16384);
  CHECK(rig.channel.finished());
  CHECK(rig.buffers.in_use() == 0);  // finished: the buffer is back in the pool
}

TEST_CASE("channel copy: 8 MiB over AF_UNIX read in odd-sized pieces arrives whole and in order") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  narrow_destination(rig.relay);
  TransferResult t = transfer(rig.relay, kEightMiB, 777);
  check_whole_stream(t, kEightMiB);
  CHECK(rig.relay.traffic.bytes_copied == kEightMiB);
  CHECK(rig.relay.destination_full > 0);
  CHECK(rig.relay.max_held <= 16384);
}

TEST_CASE("channel copy: small messages stay on the copy path and take no pipe") {
  // A pool with pipes, but no read ever fills the splice threshold.
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  TransferResult t;
  for (int i = 0; i < 200; ++i) {
    Flow message;  // 100 more bytes, the stream left open; wait until they are through
    message.total = message.expect = t.sent + 100;
    message.end_stream = false;
    t = transfer(rig.relay, message, t);
    REQUIRE(t.got.bytes == message.total);
  }
  CHECK_FALSE(t.got.corrupt);
  CHECK(rig.relay.traffic.bytes_spliced == 0);
  CHECK(rig.pipes.in_use() == 0);
  CHECK_FALSE(rig.channel.splicing());
}

TEST_CASE("channel copy: an idle channel holds no buffer, and takes one again for the next bytes") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  Received got;
  uint64_t sent = 0;
  write_pattern(rig.relay.producer(), sent, 3000);
  settle(rig.relay, 20);
  read_pattern(rig.relay.consumer(), got);
  CHECK(got.bytes == 3000);
  CHECK(rig.buffers.in_use() == 0);  // source drained: idle connections cost no buffer
  CHECK(rig.buffers.free_count() == 1);

  write_pattern(rig.relay.producer(), sent, 5000);
  settle(rig.relay, 20);
  read_pattern(rig.relay.consumer(), got);
  CHECK(got.bytes == 5000);
  CHECK_FALSE(got.corrupt);
  CHECK(rig.buffers.in_use() == 0);
  CHECK(rig.buffers.free_count() == 1);  // the same buffer went round again
}

TEST_CASE("channel copy: an unread destination stops reads at one buffer, and reading resumes the flow") {
  Rig rig(Path::Copy, tcp_pair(), tcp_pair());
  narrow_destination(rig.relay);
  uint64_t sent = fill_without_reading(rig.relay);
  INFO("producer wrote " << sent << " bytes before the source filled up");
  CHECK(rig.relay.held() > 0);
  CHECK(rig.relay.held() <= 16384);           // bounded memory: one buffer...
  CHECK(unread_bytes(rig.relay.source()) > 0);  // ...the rest is left in the kernel, unread
  CHECK(rig.relay.src_readable);              // and the channel knows there is more to read
  CHECK(rig.buffers.in_use() == 1);

  TransferResult t = finish_stream(rig.relay, sent, 4096);
  check_whole_stream(t, sent);
  CHECK(rig.relay.max_held <= 16384);
}

TEST_CASE("channel copy: a read budget ends one pump with MoreWork and the next pump goes on") {
  Rig rig(Path::Copy, unix_pair(), unix_pair(), 32768);
  uint64_t sent = 0;
  write_pattern(rig.relay.producer(), sent, 200000);
  REQUIRE(sent > 65536);
  rig.relay.src_readable = true;
  rig.relay.dst_writable = true;
  CHECK(rig.relay.pump() == PumpResult::MoreWork);
  CHECK(rig.relay.traffic.bytes_in >= 32768);
  CHECK(rig.relay.traffic.bytes_in < sent);
  TransferResult t = finish_stream(rig.relay, sent);
  check_whole_stream(t, sent);
}
