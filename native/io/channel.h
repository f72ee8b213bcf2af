// A Channel moves bytes one way, from a source socket to a destination socket. It knows nothing
// of sessions or protocols. Bytes travel through a pooled buffer (recv/send) until one read
// fills `splice_threshold` bytes; from then on through a pooled pipe (splice, zero-copy).
//
// Invariants:
//  - bytes read from the source and not yet written are held in the buffer or pipe, never
//    dropped; at most one of the two holds bytes;
//  - the channel holds at most buffer_size (copy) or pipe capacity (splice) bytes, so a slow
//    destination stops reads from the source (backpressure) instead of growing memory;
//  - after the source reports end of stream and everything held is written, the destination
//    is shut for writing (half-close), once.
//
// Readiness is edge-triggered and owned by the caller: `src_readable`/`dst_writable` are
// cleared here when a call shows the socket has nothing more (EAGAIN, a short read, a short
// write) and set by the caller from epoll events. `src_fin` says the peer's FIN was already
// reported (EPOLLRDHUP/HUP): then a short read does not mean "drained" — the end of stream is
// still to be read and no further edge will announce it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "buffer_pool.h"
#include "pipe_pool.h"

namespace epoxy {

struct ChannelTraffic {
  uint64_t bytes_in = 0;       // read from the source
  uint64_t bytes_spliced = 0;  // written through the pipe
  uint64_t bytes_copied = 0;   // written from the buffer
};

enum class PumpResult {
  Idle,      // waiting for readiness (or finished)
  MoreWork,  // the read budget ran out while the source is still readable: call again soon
  Error,     // a socket error; error() says which
};

class Channel {
 public:
  Channel(BufferPool& buffers, PipePool& pipes, size_t splice_threshold)
      : buffers_(&buffers), pipes_(&pipes), splice_threshold_(splice_threshold) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() { release(); }

  PumpResult pump(int src, bool& src_readable, bool src_fin, int dst, bool& dst_writable, size_t read_budget,
                  ChannelTraffic& traffic);

  static constexpr uint64_t kUnlimited = UINT64_MAX;

  // HTTP bodies framed by length: read at most `bytes` more from the source. Reaching the limit
  // ends the body without ending the stream: the destination is not shut, later bytes on the
  // source (a pipelined request) stay unread.
  void set_limit(uint64_t bytes) { limit_ = bytes; }
  uint64_t limit() const { return limit_; }
  // Whether the end of the source shuts the destination for writing (TCP: yes, unless the
  // destination is about to be closed anyway).
  void set_shutdown_at_end(bool on) { shutdown_at_end_ = on; }

  bool source_ended() const { return eof_; }
  bool held() const { return held_bytes() > 0; }
  // The source ended, everything was written, and the destination was shut for writing (or
  // needed no shutdown).
  bool finished() const { return eof_ && !held() && shut_; }
  bool splicing() const { return static_cast<bool>(pipe_); }
  int error() const { return error_; }
  // Whether error() came from reading the source (else from writing the destination).
  bool error_on_read() const { return error_on_read_; }

  // Returns the buffer and pipe to their pools (a pipe still holding bytes is closed instead).
  void release();
  // Ready for another stream: resources released and every end-of-stream, error and limit state
  // forgotten (a pooled channel must not carry one stream's EOF into the next).
  void reset();

 private:
  size_t held_bytes() const { return pipe_ ? pipe_bytes_ : tail_ - head_; }
  long flush(int dst, bool& dst_writable, ChannelTraffic& traffic);
  long fill(int src, bool& src_readable, ChannelTraffic& traffic);
  long fill_buffer(int src, bool& src_readable);
  long fill_pipe(int src, bool& src_readable);
  void settle_resources(bool src_readable);

  BufferPool* buffers_;
  PipePool* pipes_;
  size_t splice_threshold_;

  Buffer buf_;
  size_t head_ = 0;
  size_t tail_ = 0;

  Pipe pipe_;
  size_t pipe_bytes_ = 0;
  bool want_pipe_ = false;
  bool splice_broken_ = false;  // the kernel refused splice for these fds: copy from now on

  bool eof_ = false;
  bool src_fin_ = false;  // for the pump in progress
  bool shut_ = false;
  bool shutdown_at_end_ = true;
  uint64_t limit_ = kUnlimited;
  int error_ = 0;
  bool error_on_read_ = false;
};

}  // namespace epoxy
