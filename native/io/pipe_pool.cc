#include "pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace epoxy {

void PipePool::configure(size_t pipe_size, size_t max_pipes) {
  if (pipe_size != size_) free_.clear();  // old-size pipes would keep the old capacity
  size_ = pipe_size;
  max_ = max_pipes;
  while (!free_.empty() && in_use_ + free_.size() > max_) free_.pop_back();
}

bool PipePool::acquire(Pipe& out) {
  if (!free_.empty()) {
    out = std::move(free_.back());
    free_.pop_back();
    ++in_use_;
    return true;
  }
  if (in_use_ >= max_) return false;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    ++failures_;
    return false;
  }
  Pipe p;
  p.read_end.reset(fds[0]);
  p.write_end.reset(fds[1]);
  // Unprivileged users may be refused a larger pipe (pipe-user-pages-soft); the default 64 KiB works.
  int cap = fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(size_));
  if (cap < 0) cap = fcntl(fds[1], F_GETPIPE_SZ);
  p.capacity = cap > 0 ? static_cast<size_t>(cap) : 65536;
  out = std::move(p);
  ++in_use_;
  return true;
}

void PipePool::release(Pipe pipe, bool empty) {
  if (!pipe) return;
  --in_use_;
  if (empty && in_use_ + free_.size() < max_) free_.push_back(std::move(pipe));
}

}  // namespace epoxy
