// Channel fallbacks: when no pipe can be had, or the kernel refuses to splice from the source
// (EINVAL, EBADF, ENOSYS), bulk data goes by copy and no byte is lost or stuck.
//
// This kernel splices from every socket a proxy meets (AF_UNIX stream included: see
// channel_splice_test.cc), so the refusal is made with a seccomp filter on the thread that runs
// the channel (testing/io_splice_refusal.h); the sockets and pipes are real.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "io/channel.h"
#include "testing/io_relay.h"
#include "testing/io_sockets.h"
#include "testing/io_splice_refusal.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

constexpr uint64_t kFourMiB = uint64_t{4} << 20;

const char* errno_name(int err) {
  switch (err) {
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENOSYS: return "ENOSYS";
    default: return "?";
  }
}

// Runs a whole `total`-byte transfer through `rig` on a thread where splice from the channel's
// source fails with `err`.
TransferResult transfer_refused(Rig& rig, int err, uint64_t total) {
  TransferResult t;
  bool installed = with_splice_refused(rig.relay.source(), err, [&] { t = transfer(rig.relay, total, 65536); });
  REQUIRE(installed);
  return t;
}

}  // namespace

TEST_CASE("channel fallback: with every pipe taken bulk data is copied, and a pipe is used once one is free") {
  BufferPool buffers;
  PipePool pipes(65536, 1);
  Pipe elsewhere;  // another channel holds the only pipe
  REQUIRE(pipes.acquire(elsewhere));
  Channel ch(buffers, pipes, 16384);
  Relay relay(ch, unix_pair(), unix_pair());

  Flow first;
  first.total = first.expect = 1 << 20;
  first.end_stream = false;
  TransferResult t = transfer(relay, first);
  CHECK(t.got.bytes == first.total);
  CHECK(relay.traffic.bytes_spliced == 0);
  CHECK_FALSE(ch.splicing());
  CHECK(pipes.failures() == 0);  // the limit, not a kernel failure

  pipes.release(std::move(elsewhere), true);
  Flow rest;
  rest.total = 2 << 20;
  t = transfer(relay, rest, t);
  check_whole_stream(t, rest.total);
  CHECK(relay.traffic.bytes_spliced > 0);  // the next bulk read took the freed pipe
}

TEST_CASE("channel fallback: splice refused for the source falls back to copying, no byte lost") {
  for (int err : {EINVAL, EBADF, ENOSYS}) {
    std::string name = errno_name(err);
    CAPTURE(name);
    Rig rig(Path::Splice, tcp_pair(), tcp_pair());
    TransferResult t = transfer_refused(rig, err, kFourMiB);
    check_whole_stream(t, kFourMiB);
    CHECK(rig.relay.traffic.bytes_copied == kFourMiB);
    CHECK(rig.relay.traffic.bytes_spliced == 0);
    CHECK_FALSE(rig.channel.splicing());
    CHECK(rig.pipes.in_use() == 0);      // the pipe it had taken went back...
    CHECK(rig.pipes.free_count() == 1);  // ...empty, fit for another channel
  }
}

TEST_CASE("channel fallback: splice refused right after a pump ran out of read budget still moves every byte") {
  // A budget of one buffer: a pump reads 16 KiB, takes a pipe and returns MoreWork; the next
  // pump's first splice is the one refused. That pump must go on by copy (or ask to be called
  // again), not return Idle with the source still readable: no edge would ever wake it.
  Rig rig(Path::Splice, unix_pair(), unix_pair(), 16384);
  TransferResult t = transfer_refused(rig, EINVAL, kFourMiB);
  check_whole_stream(t, kFourMiB);
  CHECK(rig.relay.traffic.bytes_spliced == 0);
  CHECK(rig.pipes.in_use() == 0);
}

TEST_CASE("channel fallback: the fallback lasts one stream, after reset() the next stream splices again") {
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  check_whole_stream(transfer_refused(rig, EINVAL, 1 << 20), 1 << 20);
  REQUIRE(rig.relay.traffic.bytes_spliced == 0);
  rig.channel.reset();

  Relay next(rig.channel, unix_pair(), unix_pair());  // same channel, new sockets, no filter
  check_whole_stream(transfer(next, 1 << 20, 65536), 1 << 20);
  CHECK(next.traffic.bytes_spliced > 0);
}
