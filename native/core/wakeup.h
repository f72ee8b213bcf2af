// The only cross-thread entry into the engine: a mutex-protected queue plus an eventfd that sits
// in the engine's epoll set. An eventfd sums its writes, so many pushes cost one wake-up.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "fd.h"

namespace epoxy {

template <typename T>
class WakeQueue {
 public:
  WakeQueue() : efd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  bool ok() const { return efd_.valid(); }
  int fd() const { return efd_.get(); }

  // Any thread.
  void push(T item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(std::move(item));
    }
    uint64_t one = 1;
    // A full counter (2^64-2 pending wake-ups) is impossible in practice; EAGAIN is harmless.
    [[maybe_unused]] ssize_t r = ::write(efd_.get(), &one, sizeof one);
  }

  // Engine thread, on the eventfd's readiness: resets the counter and takes everything queued.
  std::vector<T> take() {
    uint64_t count;
    while (::read(efd_.get(), &count, sizeof count) > 0) {
    }
    std::vector<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(items_);
    return out;
  }

 private:
  Fd efd_;
  std::mutex mu_;
  std::vector<T> items_;
};

}  // namespace epoxy
