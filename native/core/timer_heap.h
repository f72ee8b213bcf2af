// A min-heap of (deadline, key) entries. Entries are never removed early: the owner of a key
// remembers the deadline it scheduled and ignores an entry whose deadline no longer matches
// (lazy cancellation). A deadline that moves later costs nothing; the early entry fires, the
// owner finds it is not due yet and schedules again. So the heap holds at most a few entries
// per live key, and refreshing an idle timer on every byte is free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <queue>
#include <vector>

namespace epoxy {

struct TimerEntry {
  int64_t when;
  uint64_t key;
  bool operator>(const TimerEntry& o) const { return when > o.when; }
};

class TimerHeap {
 public:
  void schedule(int64_t when, uint64_t key) { heap_.push({when, key}); }

  // Milliseconds until the earliest entry, or -1 when there is none (epoll_wait's "forever").
  int timeout_from(int64_t now) const {
    if (heap_.empty()) return -1;
    int64_t d = heap_.top().when - now;
    if (d <= 0) return 0;
    return d > 60000 ? 60000 : static_cast<int>(d);
  }

  // Pops one due entry into `out`; false when nothing is due.
  bool pop_due(int64_t now, TimerEntry& out) {
    if (heap_.empty() || heap_.top().when > now) return false;
    out = heap_.top();
    heap_.pop();
    return true;
  }

  size_t size() const { return heap_.size(); }

 private:
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> heap_;
};

}  // namespace epoxy
