// TimerHeap: deadline order, the lazy-cancellation contract its owners rely on, and the
// epoll_wait timeout it computes (-1 forever, 0 when due, never above 60 s).
#include <doctest/doctest.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/timer_heap.h"

using epoxy::TimerEntry;
using epoxy::TimerHeap;

namespace {

// Every entry due at `now`, in the order pop_due hands them out.
std::vector<TimerEntry> pop_all_due(TimerHeap& h, int64_t now) {
  std::vector<TimerEntry> out;
  TimerEntry e{};
  while (h.pop_due(now, e)) out.push_back(e);
  return out;
}

// An owner of timers as the engine's sessions are: it remembers the one deadline that counts
// for each key and ignores heap entries that no longer match it.
struct Owner {
  TimerHeap heap;
  std::unordered_map<uint64_t, int64_t> deadline;  // key -> the deadline in force
  void arm(uint64_t key, int64_t when) {
    deadline[key] = when;
    heap.schedule(when, key);
  }
  void cancel(uint64_t key) { deadline.erase(key); }
  // Keys whose live deadline has come, each once; stale entries are dropped.
  std::vector<uint64_t> fire(int64_t now) {
    std::vector<uint64_t> fired;
    for (const TimerEntry& e : pop_all_due(heap, now)) {
      auto it = deadline.find(e.key);
      if (it == deadline.end() || it->second != e.when) continue;  // cancelled or moved
      fired.push_back(e.key);
      deadline.erase(it);
    }
    return fired;
  }
};

}  // namespace

TEST_CASE("timer heap: entries pop in deadline order, only when due") {
  TimerHeap h;
  CHECK(h.timeout_from(0) == -1);
  h.schedule(30, 3);
  h.schedule(10, 1);
  h.schedule(20, 2);
  CHECK(h.timeout_from(5) == 5);
  TimerEntry e{};
  CHECK_FALSE(h.pop_due(9, e));
  REQUIRE(h.pop_due(25, e));
  CHECK(e.key == 1);
  REQUIRE(h.pop_due(25, e));
  CHECK(e.key == 2);
  CHECK_FALSE(h.pop_due(25, e));
  CHECK(h.size() == 1);
}

TEST_CASE("timer heap: an entry is due at exactly its deadline") {
  TimerHeap h;
  h.schedule(100, 7);
  TimerEntry e{};
  CHECK_FALSE(h.pop_due(99, e));
  REQUIRE(h.pop_due(100, e));
  CHECK(e.when == 100);
  CHECK(e.key == 7);
  CHECK(h.size() == 0);
}

TEST_CASE("timer heap: many entries in random order come out sorted, duplicates included") {
  TimerHeap h;
  uint64_t x = 12345;
  for (uint64_t key = 0; key < 1000; ++key) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    h.schedule(static_cast<int64_t>((x >> 33) % 500), key);  // many equal deadlines
  }
  std::vector<TimerEntry> all = pop_all_due(h, 1000);
  REQUIRE(all.size() == 1000);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].when <= all[i].when);
  CHECK(h.size() == 0);
}

TEST_CASE("timer heap: timeout_from is -1 when empty, 0 when due or late, clamped to 60000") {
  TimerHeap h;
  CHECK(h.timeout_from(0) == -1);
  h.schedule(1000, 1);
  CHECK(h.timeout_from(0) == 1000);
  CHECK(h.timeout_from(999) == 1);
  CHECK(h.timeout_from(1000) == 0);
  CHECK(h.timeout_from(5000) == 0);  // late: never negative, which epoll_wait reads as forever

  TimerHeap far;
  far.schedule(int64_t{1} << 40, 1);  // beyond int range: must not overflow
  CHECK(far.timeout_from(0) == 60000);
  far.schedule(60000, 2);
  CHECK(far.timeout_from(0) == 60000);
  far.schedule(59999, 3);
  CHECK(far.timeout_from(0) == 59999);
  CHECK(far.timeout_from(-100000) == 60000);
}

TEST_CASE("timer heap: lazy cancellation - a cancelled or moved deadline leaves a stale entry the owner skips") {
  Owner o;
  o.arm(1, 100);
  o.arm(2, 100);
  o.arm(3, 100);
  o.cancel(2);     // nothing removed from the heap...
  o.arm(3, 300);   // ...and a later deadline is only a second entry
  CHECK(o.heap.size() == 4);

  // At 100 the early entries of 2 and 3 pop too; the owner ignores both.
  CHECK(o.fire(100) == std::vector<uint64_t>{1});
  CHECK(o.heap.size() == 1);
  CHECK(o.heap.timeout_from(100) == 200);  // the moved deadline is still ahead
  CHECK(o.fire(299).empty());
  CHECK(o.fire(300) == std::vector<uint64_t>{3});
  CHECK(o.heap.size() == 0);
}

TEST_CASE("timer heap: entries scheduled between pops still come out in order") {
  // The loop schedules while it fires (a fired timer re-arms): order must hold across that.
  TimerHeap h;
  h.schedule(50, 1);
  h.schedule(10, 2);
  TimerEntry e{};
  REQUIRE(h.pop_due(10, e));
  CHECK(e.key == 2);
  h.schedule(20, 3);
  h.schedule(5, 4);  // already late when scheduled
  CHECK(h.timeout_from(10) == 0);
  std::vector<TimerEntry> due = pop_all_due(h, 60);
  REQUIRE(due.size() == 3);
  CHECK(due[0].key == 4);
  CHECK(due[1].key == 3);
  CHECK(due[2].key == 1);
}
