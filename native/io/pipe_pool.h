// Pooled kernel pipes for splice(). A pipe returns to the pool only when empty: stale bytes in a
// reused pipe would leak one session's data into another. `max_pipes` bounds pipes in use plus
// pipes held free (each pipe is two fds and up to `pipe_size` bytes of kernel memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/fd.h"

namespace epoxy {

struct Pipe {
  Fd read_end;
  Fd write_end;
  size_t capacity = 0;
  explicit operator bool() const { return read_end.valid(); }
};

class PipePool {
 public:
  PipePool(size_t pipe_size = 262144, size_t max_pipes = 1024) : size_(pipe_size), max_(max_pipes) {}

  // New limits apply to pipes made from now on; surplus free pipes are closed.
  void configure(size_t pipe_size, size_t max_pipes);

  // False when the limit is reached or the kernel refuses (EMFILE...): the caller copies instead.
  bool acquire(Pipe& out);
  // `empty` says whether the pipe holds no bytes; a non-empty pipe is closed, never reused.
  void release(Pipe pipe, bool empty);

  size_t in_use() const { return in_use_; }
  size_t free_count() const { return free_.size(); }
  size_t failures() const { return failures_; }
  // Bytes written out of the pool's pipes, all channels together (the engine's "is bulk data
  // moving" signal).
  void count_out(size_t bytes) { bytes_out_ += bytes; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  size_t size_;
  size_t max_;
  size_t in_use_ = 0;
  size_t failures_ = 0;
  uint64_t bytes_out_ = 0;
  std::vector<Pipe> free_;
};

}  // namespace epoxy
