// A Channel driven the way the engine drives it (native/engine/session.cc, tcp_session.cc): the
// channel's two fds registered once, edge-triggered, readiness remembered per fd
// (Endpoint::note), pump() called only after an event arrived or when the last pump returned
// MoreWork. A channel that returns Idle while it could still move bytes therefore stalls here as
// it would in the engine, and transfer() reports the stall instead of hiding it.
//
//   producer (test) --src--> channel --dst--> consumer (test)
//
// No doctest REQUIRE below the constructor: step() and transfer() may run on a helper thread
// (io_splice_refusal.h), where a thrown REQUIRE would terminate the process.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "io/channel.h"
#include "testing/io_sockets.h"

namespace epoxy::testing {

class Relay {
 public:
  Relay(Channel& channel, SocketPair src, SocketPair dst, size_t read_budget = size_t{1} << 20)
      : channel_(channel), src_(std::move(src)), dst_(std::move(dst)), budget_(read_budget) {
    epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
    REQUIRE(epoll_.valid());
    add(source(), kSource);
    add(destination(), kDestination);
  }

  int producer() const { return src_.a.get(); }     // the test writes the stream here
  int source() const { return src_.b.get(); }       // the channel reads here
  int destination() const { return dst_.a.get(); }  // the channel writes here
  int consumer() const { return dst_.b.get(); }     // the test reads here

  // Waits up to `timeout_ms` for readiness, then pumps if any arrived (or the last pump asked
  // for more work). Returns whether it pumped.
  bool step(int timeout_ms) {
    epoll_event events[4];
    int n = epoll_wait(epoll_.get(), events, 4, last_ == PumpResult::MoreWork ? 0 : timeout_ms);
    for (int i = 0; i < n; ++i) note(events[i].data.u64, events[i].events);
    if (n <= 0 && last_ != PumpResult::MoreWork) return false;
    pump();
    return true;
  }

  // One pump with the remembered readiness; keeps the statistics below.
  PumpResult pump() {
    ChannelTraffic t;
    last_ = channel_.pump(source(), src_readable, src_fin, destination(), dst_writable, budget_, t);
    traffic.bytes_in += t.bytes_in;
    traffic.bytes_spliced += t.bytes_spliced;
    traffic.bytes_copied += t.bytes_copied;
    ++pumps;
    if (t.bytes_spliced > 0) ++splicing_pumps;
    max_held = std::max(max_held, held());
    if (!dst_writable && channel_.held()) ++destination_full;
    return last_;
  }

  // The test's ends go away: the producer (with an RST when `reset`), or the consumer.
  void close_producer(bool reset) {
    if (reset) {
      linger lg{1, 0};
      setsockopt(producer(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    src_.a.reset();
  }
  void close_consumer() { dst_.b.reset(); }

  uint64_t written() const { return traffic.bytes_spliced + traffic.bytes_copied; }
  uint64_t held() const { return traffic.bytes_in - written(); }
  PumpResult last() const { return last_; }

  // Readiness as the engine keeps it for the two ends the channel uses.
  bool src_readable = false;
  bool src_fin = false;
  bool dst_writable = false;

  ChannelTraffic traffic;         // summed over every pump
  uint64_t pumps = 0;
  uint64_t splicing_pumps = 0;    // pumps that wrote through the pipe
  uint64_t destination_full = 0;  // pumps that ended on a full destination with bytes held
  uint64_t max_held = 0;          // most bytes the channel held after any pump

 private:
  static constexpr uint64_t kSource = 1;
  static constexpr uint64_t kDestination = 2;

  void add(int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag;
    REQUIRE(epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0);
  }

  // Endpoint::note: only the flags the channel consumes.
  void note(uint64_t tag, uint32_t ev) {
    if (tag == kSource) {
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) src_readable = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) src_fin = true;
    } else if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      dst_writable = true;
    }
  }

  Channel& channel_;
  SocketPair src_;
  SocketPair dst_;
  size_t budget_;
  Fd epoll_;
  PumpResult last_ = PumpResult::Idle;
};

struct TransferResult {
  uint64_t sent = 0;
  Received got;
  bool stalled = false;  // nothing moved for the whole stall window
  bool channel_error = false;
};

// What transfer() does: the producer sends the pattern up to offset `total`, the consumer reads
// what has arrived in reads of at most `read_chunk` bytes.
struct Flow {
  uint64_t total = 0;
  size_t read_chunk = 65536;
  bool end_stream = true;       // shutdown(SHUT_WR) the producer after the last byte
  uint64_t expect = UINT64_MAX; // stop once the consumer has this many bytes (else at its EOF)
  int stall_ms = 3000;
};

// Runs producer, channel and consumer until the consumer sees end of stream (or has `expect`
// bytes), something fails, or nothing at all moves for `stall_ms`. `so_far` continues an
// earlier transfer (or says how much the producer already wrote): offsets go on from there.
inline TransferResult transfer(Relay& relay, const Flow& flow, TransferResult so_far = {}) {
  using Clock = std::chrono::steady_clock;
  TransferResult r = so_far;
  r.stalled = false;
  r.channel_error = false;
  bool producer_shut = false;
  auto last_move = Clock::now();
  while (!r.got.eof && r.got.error == 0 && r.got.bytes < flow.expect) {
    size_t moved = write_pattern(relay.producer(), r.sent, flow.total);
    if (flow.end_stream && r.sent == flow.total && !producer_shut) {
      ::shutdown(relay.producer(), SHUT_WR);
      producer_shut = true;
    }
    uint64_t before = relay.traffic.bytes_in + relay.written();
    relay.step(moved > 0 ? 0 : 2);
    if (relay.last() == PumpResult::Error) {
      r.channel_error = true;
      break;
    }
    moved += static_cast<size_t>(relay.traffic.bytes_in + relay.written() - before);
    moved += read_pattern(relay.consumer(), r.got, flow.read_chunk);
    auto now = Clock::now();
    if (moved > 0 || r.got.eof) {
      last_move = now;
    } else if (now - last_move > std::chrono::milliseconds(flow.stall_ms)) {
      r.stalled = true;
      break;
    }
  }
  return r;
}

// The whole stream of `total` bytes, read in reads of `read_chunk`.
inline TransferResult transfer(Relay& relay, uint64_t total, size_t read_chunk) {
  Flow f;
  f.total = total;
  f.read_chunk = read_chunk;
  return transfer(relay, f);
}

// The producer already wrote `sent` bytes (fill_without_reading, a manual write): end the
// stream there and read all of it.
inline TransferResult finish_stream(Relay& relay, uint64_t sent, size_t read_chunk = 65536) {
  Flow f;
  f.total = sent;
  f.read_chunk = read_chunk;
  TransferResult from;
  from.sent = sent;
  return transfer(relay, f, from);
}

// Steps the relay until `ms` pass with no event at all: the channel has done all it can.
inline void settle(Relay& relay, int ms = 100) {
  while (relay.step(ms)) {
  }
}

// Writes to the source while nobody reads the destination, until even a settled channel leaves
// the producer no room. Returns the bytes the producer wrote.
inline uint64_t fill_without_reading(Relay& relay) {
  uint64_t sent = 0;
  for (;;) {
    size_t wrote = write_pattern(relay.producer(), sent, UINT64_MAX);
    settle(relay, 50);
    if (wrote == 0) return sent;
  }
}

// Narrow buffers between the channel and the consumer, so that the channel's sends are partial
// or EAGAIN. How narrow depends on the socket. AF_UNIX: a 4 KiB send buffer (its receiver has no
// buffer of its own). Loopback TCP: 64 KiB each way, fixed, so autotuning cannot grow the
// reader's window past what one pump writes; smaller is worse, not better: under 64 KiB a whole
// 16 KiB send goes into one segment or EAGAIN (never partial) and spliced pages wait ~30 ms per
// pipe on delayed ACKs, and a receive buffer under one loopback MSS stalls the sender on
// zero-window probes.
inline void narrow_destination(Relay& r) {
  int domain = 0;
  socklen_t len = sizeof domain;
  REQUIRE(getsockopt(r.destination(), SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0);
  if (domain == AF_UNIX) {
    set_send_buffer(r.destination(), 4096);
  } else {
    set_send_buffer(r.destination(), 65536);
    set_receive_buffer(r.consumer(), 65536);
  }
}

// Every byte of a `total`-byte stream arrived, in order, followed by the end of stream. (Main
// thread only: doctest checks.)
inline void check_whole_stream(const TransferResult& t, uint64_t total) {
  CHECK_FALSE(t.stalled);
  CHECK_FALSE(t.channel_error);
  CHECK(t.got.error == 0);
  CHECK(t.got.bytes == total);
  CHECK_FALSE(t.got.corrupt);
  CHECK(t.got.eof);
}

// Which way a Rig's channel moves bulk data.
enum class Path { Copy, Splice };

inline const char* path_name(Path p) { return p == Path::Copy ? "copy" : "splice"; }

// One direction of a session: the pools, a channel (splice threshold 16 KiB as the engine's
// default) and the relay around it. Path::Copy gets a pool with no pipes, so bulk data is copied.
struct Rig {
  static constexpr size_t kPipeSize = 65536;
  Path path;
  BufferPool buffers;
  PipePool pipes;
  Channel channel;
  Relay relay;

  Rig(Path how, SocketPair src, SocketPair dst, size_t read_budget = size_t{1} << 20)
      : path(how),
        pipes(kPipeSize, how == Path::Copy ? 0 : 4),
        channel(buffers, pipes, 16384),
        relay(channel, std::move(src), std::move(dst), read_budget) {}

  // The most the channel may hold: one buffer, or one pipe.
  size_t cap() const { return path == Path::Copy ? buffers.buffer_size() : kPipeSize; }
};

}  // namespace epoxy::testing
