// ActivityWindow (how many distinct sessions were busy lately) and monotonic_ms (the loop's
// clock).
#include <doctest/doctest.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/activity.h"
#include "core/clock.h"

using epoxy::ActivityWindow;

namespace {

// Sessions start with mark -1, as Session::activity_mark does: "never counted".
std::vector<int64_t> fresh_marks(size_t n) { return std::vector<int64_t>(n, -1); }

}  // namespace

TEST_CASE("activity: a session counts once per window however often it does I/O") {
  ActivityWindow w(16);
  auto marks = fresh_marks(3);
  for (int i = 0; i < 10; ++i) w.note(marks[0], 1008);  // window 1008/16 = 63
  CHECK(w.active(1008) == 1);
  w.note(marks[1], 1009);
  w.note(marks[2], 1023);  // the window's last millisecond
  w.note(marks[1], 1023);
  CHECK(w.active(1023) == 3);
}

TEST_CASE("activity: the first window counts too (mark -1 is never a window)") {
  ActivityWindow w(16);
  int64_t mark = -1;
  w.note(mark, 0);  // window 0, the window the object starts in
  CHECK(w.active(0) == 1);
  CHECK(mark == 0);
}

TEST_CASE("activity: the previous window still counts until the current one has more") {
  ActivityWindow w(10);
  auto marks = fresh_marks(4);
  for (auto& m : marks) w.note(m, 100);  // window 10: four sessions
  CHECK(w.active(105) == 4);
  CHECK(w.active(110) == 4);  // window 11 has none yet: the previous one's four count
  w.note(marks[0], 112);
  CHECK(w.active(112) == 4);
  CHECK(w.active(125) == 1);  // window 12: the previous window (11) had one
}

TEST_CASE("activity: a window with no I/O in between forgets everything") {
  ActivityWindow w(10);
  auto marks = fresh_marks(5);
  for (auto& m : marks) w.note(m, 100);
  CHECK(w.active(100) == 5);
  CHECK(w.active(120) == 0);  // window 12: window 11 was empty, 10 is too old
  w.note(marks[0], 121);
  CHECK(w.active(121) == 1);
}

TEST_CASE("activity: a session counted in one window counts again in the next") {
  ActivityWindow w(10);
  int64_t mark = -1;
  int64_t other = -1;
  w.note(mark, 100);
  w.note(other, 100);
  w.note(mark, 110);  // window 11: one so far, window 10 had two
  CHECK(w.active(110) == 2);
  w.note(mark, 120);  // window 12: one; window 11 had one
  CHECK(w.active(120) == 1);
}

TEST_CASE("clock: monotonic_ms never goes back and follows real time") {
  int64_t prev = epoxy::monotonic_ms();
  for (int i = 0; i < 100000; ++i) {
    int64_t now = epoxy::monotonic_ms();
    REQUIRE(now >= prev);
    prev = now;
  }
  int64_t before = epoxy::monotonic_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int64_t slept = epoxy::monotonic_ms() - before;
  CHECK(slept >= 40);    // the coarse clock may lag by a tick (a few ms)
  CHECK(slept < 2000);
}

TEST_CASE("clock: monotonic_ms is CLOCK_MONOTONIC in milliseconds, within the coarse clock's tick") {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t precise = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  int64_t coarse = epoxy::monotonic_ms();
  CHECK(coarse <= precise + 5);  // read after `precise`: a tick may land in between
  CHECK(precise - coarse < 50);
}
