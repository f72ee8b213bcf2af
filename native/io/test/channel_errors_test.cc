// Channel errors: a reset source and a closed destination end the pump with Error, say which
// side failed (the session counts server resets from error_on_read), on both paths.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "io/channel.h"
#include "testing/io_relay.h"
#include "testing/io_sockets.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

constexpr std::initializer_list<Path> kPaths = {Path::Copy, Path::Splice};

// Bulk data through the channel, the stream left open, so that a Splice rig is splicing.
TransferResult warm_up(Rig& rig) {
  Flow warm;
  warm.total = warm.expect = 256 * 1024;
  warm.end_stream = false;
  TransferResult t = transfer(rig.relay, warm);
  REQUIRE(t.got.bytes == warm.total);
  REQUIRE(rig.channel.splicing() == (rig.path == Path::Splice));
  return t;
}

// Keeps bytes coming at the source and steps until the channel reports an error (at most ~3 s);
// whether it did.
bool until_error(Relay& relay, TransferResult& t) {
  for (int i = 0; i < 300; ++i) {
    write_pattern(relay.producer(), t.sent, t.sent + 65536);
    relay.step(10);
    if (relay.last() == PumpResult::Error) return true;
  }
  return false;
}

// splice() has no MSG_NOSIGNAL: writing a pipe into a socket whose peer is gone raises SIGPIPE.
// Node ignores SIGPIPE, so the engine never sees it; this test binary does the same while the
// guard lives.
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &old, nullptr); }
};

}  // namespace

TEST_CASE("channel errors: a reset source is a read error carrying ECONNRESET") {
  for (Path path : kPaths) {
    std::string name = path_name(path);
    CAPTURE(name);
    Rig rig(path, tcp_pair(), unix_pair());
    warm_up(rig);
    rig.relay.close_producer(true);  // RST
    bool failed = false;
    for (int i = 0; i < 300 && !failed; ++i) failed = rig.relay.step(10) && rig.relay.last() == PumpResult::Error;
    REQUIRE(failed);
    CHECK(rig.channel.error() == ECONNRESET);
    CHECK(rig.channel.error_on_read());
  }
}

TEST_CASE("channel errors: a closed destination is a write error carrying EPIPE") {
  IgnoreSigpipe guard;
  for (Path path : kPaths) {
    std::string name = path_name(path);
    CAPTURE(name);
    Rig rig(path, unix_pair(), unix_pair());
    TransferResult t = warm_up(rig);
    rig.relay.close_consumer();
    REQUIRE(until_error(rig.relay, t));
    CHECK(rig.channel.error() == EPIPE);
    CHECK_FALSE(rig.channel.error_on_read());
  }
}

TEST_CASE("channel errors: a destination that refuses splice is a write error, not a silent loss or a hang") {
  // What the code does today: a refused splice *into* the destination (here O_APPEND, which
  // splice rejects with EINVAL) is not the read-side fallback of channel_fallback_test.cc.
  // The bytes already in the pipe cannot be copied back out, so the pump reports the error and
  // the session ends.
  Rig rig(Path::Splice, unix_pair(), unix_pair());
  TransferResult t = warm_up(rig);
  int flags = fcntl(rig.relay.destination(), F_GETFL);
  REQUIRE(fcntl(rig.relay.destination(), F_SETFL, flags | O_APPEND) == 0);
  REQUIRE(until_error(rig.relay, t));
  CHECK(rig.channel.error() == EINVAL);
  CHECK_FALSE(rig.channel.error_on_read());
}

TEST_CASE("channel errors: the copy path does not care about O_APPEND on the destination") {
  Rig rig(Path::Copy, unix_pair(), unix_pair());
  int flags = fcntl(rig.relay.destination(), F_GETFL);
  REQUIRE(fcntl(rig.relay.destination(), F_SETFL, flags | O_APPEND) == 0);
  check_whole_stream(transfer(rig.relay, 1 << 20, 65536), 1 << 20);
}
