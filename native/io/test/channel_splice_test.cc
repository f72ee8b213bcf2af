// Channel, splice path (socket -> pooled pipe -> socket): taken after one read fills the splice
// threshold; bounded by the pipe's capacity; a pipe still holding bytes never goes back to the
// pool; bodies framed by a length stop exactly at it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>

#include "io/channel.h"
#include "testing/io_relay.h"
#include "testing/io_sockets.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

constexpr uint64_t kEightMiB = uint64_t{8} << 20;

// The bulk of a stream went through the pipe: only what came before the switch was copied.
void check_spliced(const Rig& rig, uint64_t total) {
  CHECK(rig.relay.traffic.bytes_spliced + rig.relay.traffic.bytes_copied == total);
  CHECK(rig.relay.traffic.bytes_copied <= 4 * 16384);
  CHECK(rig.relay.splicing_pumps > 0);
}

}  // namespace

TEST_CASE("channel splice: 8 MiB over TCP through a narrow send buffer goes by pipe, whole and in order") {
  Rig rig(Path::Splice, tcp_pair(), tcp_pair());
  narrow_destination(rig.relay);
  TransferResult t = transfer(rig.relay, kEightMiB, 1500);
  check_whole_stream(t, kEightMiB);
  check_spliced(rig, kEightMiB);
  CHECK(rig.relay.destination_full > 0);  // partial splices / EAGAIN really happened
  CHECK(rig.relay.max_held <= Rig::kPipeSize);
  CHECK(rig.pipes.bytes_out() == rig.relay.traffic.bytes_spliced);
  CHECK(rig.channel.finished());
}

TEST_CASE("channel splice: AF_UNIX stream sockets splice too, whole and in order") {
  // Linux splices from and to unix stream sockets (unix_stream_splice_read), so a socketpair
  // takes the pipe path like TCP does; nothing falls back to copying here.
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  narrow_destination(rig.relay);
  TransferResult t = transfer(rig.relay, kEightMiB, 777);
  check_whole_stream(t, kEightMiB);
  check_spliced(rig, kEightMiB);
  CHECK(rig.relay.max_held <= Rig::kPipeSize);
}

TEST_CASE("channel splice: a stream queued whole at the source is read to its end without another edge") {
  // All data and the FIN sit in the source's receive queue before the channel runs: after the
  // first edge no other will come from the source, so no short splice and no EAGAIN may be taken
  // for "drained" while bytes remain (the splice path ignores src_fin: it reads until splice
  // returns 0).
  Rig rig(Path::Splice, tcp_pair(), tcp_pair());
  narrow_destination(rig.relay);
  set_receive_buffer(rig.relay.source(), 1 << 20);  // room for the whole stream
  const uint64_t total = 256 * 1024;
  uint64_t sent = 0;
  for (int i = 0; i < 1000 && sent < total; ++i) {
    if (write_pattern(rig.relay.producer(), sent, total) == 0) usleep(1000);
  }
  REQUIRE(sent == total);
  REQUIRE(::shutdown(rig.relay.producer(), SHUT_WR) == 0);
  REQUIRE(wait_delivered(rig.relay.producer()));  // nothing left to arrive later
  check_whole_stream(finish_stream(rig.relay, sent), sent);
  check_spliced(rig, sent);
}

TEST_CASE("channel splice: the channel keeps its pipe while it lives and returns it empty on release") {
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  TransferResult t = transfer(rig.relay, 1 << 20, 65536);
  check_whole_stream(t, 1 << 20);
  CHECK(rig.channel.splicing());
  CHECK(rig.pipes.in_use() == 1);
  rig.channel.release();
  CHECK_FALSE(rig.channel.splicing());
  CHECK(rig.pipes.in_use() == 0);
  CHECK(rig.pipes.free_count() == 1);  // empty: fit for the next channel
}

TEST_CASE("channel splice: an unread destination stops reads at one pipe, and reading resumes the flow") {
  Rig rig(Path::Splice, tcp_pair(), tcp_pair());
  narrow_destination(rig.relay);
  uint64_t sent = fill_without_reading(rig.relay);
  INFO("producer wrote " << sent << " bytes before the source filled up");
  REQUIRE(rig.channel.splicing());
  CHECK(rig.relay.held() > 0);
  CHECK(rig.relay.held() <= Rig::kPipeSize);    // bounded: one pipe's capacity...
  CHECK(unread_bytes(rig.relay.source()) > 0);  // ...the rest left unread in the kernel
  CHECK(rig.relay.src_readable);
  CHECK(rig.pipes.in_use() == 1);

  TransferResult t = finish_stream(rig.relay, sent, 4096);
  check_whole_stream(t, sent);
  CHECK(rig.relay.max_held <= Rig::kPipeSize);
}

TEST_CASE("channel splice: a pipe released while holding bytes is closed, so no other stream ever reads them") {
  BufferPool buffers;
  PipePool pipes(Rig::kPipeSize, 4);
  Channel first(buffers, pipes, 16384);
  Relay stuck(first, unix_pair(), unix_pair());
  Flow start;  // some bulk data through first, so the channel is splicing...
  start.total = start.expect = 256 * 1024;
  start.end_stream = false;
  TransferResult so_far = transfer(stuck, start);
  REQUIRE(first.splicing());
  while (write_pattern(stuck.producer(), so_far.sent, UINT64_MAX) > 0) settle(stuck, 20);  // ...then nobody reads
  REQUIRE(first.splicing());
  REQUIRE(first.held());
  first.release();  // e.g. the session was aborted with its destination full
  CHECK(pipes.in_use() == 0);
  CHECK(pipes.free_count() == 0);  // closed, not pooled

  // The next stream takes a pipe from the same pool: it must carry its own bytes only.
  Channel second(buffers, pipes, 16384);
  Relay next(second, unix_pair(), unix_pair());
  TransferResult t = transfer(next, 1 << 20, 65536);
  check_whole_stream(t, 1 << 20);
  CHECK(second.splicing());
}

TEST_CASE("channel splice: a body limit longer than the threshold goes by pipe and stops exactly at the limit") {
  const uint64_t limit = (uint64_t{1} << 20) + 123;
  const uint64_t pipelined = 5000;  // bytes after the body on the same source: not the body's
  Rig rig(Path::Splice, tcp_pair(), tcp_pair());
  rig.channel.set_limit(limit);
  Flow body;
  body.total = limit + pipelined;
  body.end_stream = false;
  body.expect = limit;
  TransferResult t = transfer(rig.relay, body);
  CHECK_FALSE(t.stalled);
  CHECK(t.got.bytes == limit);
  CHECK_FALSE(t.got.corrupt);
  write_pattern(rig.relay.producer(), t.sent, body.total);  // all of the pipelined bytes
  REQUIRE(t.sent == body.total);
  settle(rig.relay, 50);
  read_pattern(rig.relay.consumer(), t.got);
  CHECK(t.got.bytes == limit);    // not one byte more went through
  CHECK_FALSE(t.got.eof);         // the destination was not shut: the body ended, not the stream
  CHECK(rig.channel.limit() == 0);
  CHECK_FALSE(rig.channel.source_ended());
  CHECK_FALSE(rig.channel.finished());
  CHECK(unread_bytes(rig.relay.source()) == pipelined);  // left for the next request's parser
  CHECK(rig.relay.traffic.bytes_spliced > 0);
}

TEST_CASE("channel splice: a body whose rest is below the threshold is copied, never given a pipe") {
  const uint64_t limit = 20000;  // one full 16 KiB read, then less than the threshold is left
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  rig.channel.set_limit(limit);
  Flow body;
  body.total = 100000;
  body.end_stream = false;
  body.expect = limit;
  TransferResult t = transfer(rig.relay, body);
  CHECK(t.got.bytes == limit);
  CHECK_FALSE(t.got.corrupt);
  write_pattern(rig.relay.producer(), t.sent, body.total);
  REQUIRE(t.sent == body.total);
  settle(rig.relay, 50);
  CHECK(rig.relay.traffic.bytes_spliced == 0);
  CHECK(rig.pipes.in_use() == 0);
  CHECK(unread_bytes(rig.relay.source()) == 100000 - limit);
}
