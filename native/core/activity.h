// How many sessions are busy at once: distinct sessions with client I/O in the current window
// of `width_ms` and the one before. The loop uses it to tell a loaded engine, where a short pause
// before the next epoll_wait gathers many events into one wake-up, from a quiet one, where the
// same pause would only add latency.
#pragma once

#include <algorithm>
#include <cstdint>

namespace epoxy {

class ActivityWindow {
 public:
  explicit ActivityWindow(int64_t width_ms) : width_ms_(width_ms) {}

  // A session had client I/O; `mark` is that session's own "last counted in" window.
  void note(int64_t& mark, int64_t now_ms) {
    int64_t w = roll(now_ms);
    if (mark == w) return;
    mark = w;
    ++current_;
  }

  // Sessions active in this window so far or in the whole previous one.
  uint32_t active(int64_t now_ms) {
    roll(now_ms);
    return std::max(current_, previous_);
  }

 private:
  int64_t roll(int64_t now_ms) {
    int64_t w = now_ms / width_ms_;
    if (w == window_) return w;
    previous_ = w == window_ + 1 ? current_ : 0;
    current_ = 0;
    window_ = w;
    return w;
  }

  int64_t width_ms_;
  int64_t window_ = 0;
  uint32_t current_ = 0;
  uint32_t previous_ = 0;
};

}  // namespace epoxy
