#include "channel.h"

#include "socket_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>

namespace epoxy {

namespace {
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

bool splice_unsupported(int err) { return err == EINVAL || err == ENOSYS || err == EBADF; }
}  // namespace

PumpResult Channel::pump(int src, bool& src_readable, bool src_fin, int dst, bool& dst_writable, size_t read_budget,
                         ChannelTraffic& traffic) {
  size_t read_total = 0;
  src_fin_ = src_fin;
  for (;;) {
    bool progress = false;
    if (held() && dst_writable) {
      long n = flush(dst, dst_writable, traffic);
      if (n < 0) return PumpResult::Error;
      progress = n > 0;
    }
    if (!held()) settle_resources(src_readable);
    if (!eof_ && src_readable && limit_ > 0) {
      if (read_total >= read_budget) return PumpResult::MoreWork;
      long n = fill(src, src_readable, traffic);
      if (n < 0) return PumpResult::Error;
      read_total += static_cast<size_t>(n);
      // A refused splice into an empty pipe changes the path, not the data: go round again so
      // settle_resources() returns the pipe and the read is retried by copy. Stopping here would
      // leave the source readable with no edge to come.
      progress = progress || n > 0 || eof_ || (splice_broken_ && pipe_ && !held());
    }
    if (!progress) break;
  }
  if (eof_ && !held() && !shut_) {
    // ENOTCONN: the peer is already gone; the session notices on its side.
    if (shutdown_at_end_) ::shutdown(dst, SHUT_WR);
    shut_ = true;
  }
  return PumpResult::Idle;
}

// Writes held bytes; returns bytes written (0 when the destination is full), -1 on error.
long Channel::flush(int dst, bool& dst_writable, ChannelTraffic& traffic) {
  size_t want = held_bytes();
  ssize_t n;
  if (pipe_) {
    n = ::splice(pipe_.read_end.get(), nullptr, dst, nullptr, want, kSpliceFlags);
  } else {
    n = ::send(dst, buf_.get() + head_, want, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (n < 0) {
    if (io_again(errno)) {
      dst_writable = false;
      return 0;
    }
    error_ = errno;
    return -1;
  }
  size_t written = static_cast<size_t>(n);
  // A short write means the socket's send buffer is full; the kernel has marked it so and
  // will raise EPOLLOUT when room returns.
  if (written < want) dst_writable = false;
  if (pipe_) {
    pipe_bytes_ -= written;
    traffic.bytes_spliced += written;
    pipes_->count_out(written);
  } else {
    head_ += written;
    traffic.bytes_copied += written;
    if (head_ == tail_) head_ = tail_ = 0;
  }
  return n;
}

// Reads into the buffer or pipe; returns bytes read (0 at end of stream or when nothing could
// be read now), -1 on error.
long Channel::fill(int src, bool& src_readable, ChannelTraffic& traffic) {
  long n = pipe_ ? fill_pipe(src, src_readable) : fill_buffer(src, src_readable);
  if (n > 0) {
    traffic.bytes_in += static_cast<uint64_t>(n);
    if (limit_ != kUnlimited) limit_ -= static_cast<uint64_t>(n);
  }
  return n;
}

long Channel::fill_buffer(int src, bool& src_readable) {
  if (!buf_) {
    buf_ = buffers_->acquire();
    head_ = tail_ = 0;
  }
  size_t room = buffers_->buffer_size() - tail_;
  if (limit_ < room) room = static_cast<size_t>(limit_);
  if (room == 0) return 0;  // full: backpressure until the destination takes some
  IoResult r = receive(src, buf_.get() + tail_, room, src_readable, src_fin_);
  switch (r.kind) {
    case IoResult::Kind::Again:
      return 0;
    case IoResult::Kind::End:
      eof_ = true;
      return 0;
    case IoResult::Kind::Error:
      error_ = r.error;
      error_on_read_ = true;
      return -1;
    case IoResult::Kind::Moved:
      break;
  }
  size_t got = r.bytes;
  tail_ += got;
  // Large reads mean bulk data: splice from now on, unless what is left of a body is small.
  bool bulk = got >= std::min(splice_threshold_, buffers_->buffer_size());
  if (bulk && !splice_broken_ && limit_ - got >= splice_threshold_) want_pipe_ = true;
  return static_cast<long>(got);
}

long Channel::fill_pipe(int src, bool& src_readable) {
  size_t room = pipe_.capacity - pipe_bytes_;
  if (limit_ < room) room = static_cast<size_t>(limit_);
  if (room == 0) return 0;
  ssize_t n = ::splice(src, nullptr, pipe_.write_end.get(), nullptr, room, kSpliceFlags);
  if (n < 0) {
    int err = errno;
    if (io_again(err)) {
      // EAGAIN is ambiguous while the pipe holds bytes: the socket may be empty or the pipe's
      // slots may be used up. Only an empty pipe proves the socket drained; otherwise try
      // again once the pipe is flushed.
      if (pipe_bytes_ == 0) src_readable = false;
      return 0;
    }
    if (splice_unsupported(err)) {
      splice_broken_ = true;
      want_pipe_ = false;
      return 0;  // the pipe drains, settle_resources() returns it, and reads go by copy
    }
    error_ = err;
    error_on_read_ = true;
    return -1;
  }
  if (n == 0) {
    eof_ = true;
    return 0;
  }
  pipe_bytes_ += static_cast<size_t>(n);
  return n;
}

// Called when nothing is held: move to the pipe if reads are large, back to copying if splice
// broke, and give an idle buffer back to the pool so idle connections cost no buffer memory.
void Channel::settle_resources(bool src_readable) {
  if (pipe_ && splice_broken_) {
    pipes_->release(std::move(pipe_), true);
    pipe_ = Pipe();
  }
  if (!pipe_ && want_pipe_ && !splice_broken_) {
    want_pipe_ = false;
    Pipe p;
    if (pipes_->acquire(p)) {
      pipe_ = std::move(p);
      pipe_bytes_ = 0;
    }
  }
  if (buf_ && (pipe_ || !src_readable || eof_)) {
    buffers_->release(std::move(buf_));
    buf_.reset();
    head_ = tail_ = 0;
  }
}

void Channel::reset() {
  release();
  want_pipe_ = false;
  splice_broken_ = false;
  eof_ = false;
  shut_ = false;
  limit_ = kUnlimited;
  error_ = 0;
  error_on_read_ = false;
}

void Channel::release() {
  if (buf_) {
    buffers_->release(std::move(buf_));
    buf_.reset();
  }
  if (pipe_) {
    pipes_->release(std::move(pipe_), pipe_bytes_ == 0);
    pipe_ = Pipe();
  }
  head_ = tail_ = pipe_bytes_ = 0;
}

}  // namespace epoxy
