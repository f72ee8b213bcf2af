// WakeQueue: the engine's only cross-thread entry. Pushes from any thread are summed by the
// eventfd into one readiness; take() resets it and returns everything queued. The threaded
// cases are the ones TSan judges (build with -DEPOXY_SANITIZE=thread).
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/wakeup.h"

using epoxy::Fd;
using epoxy::WakeQueue;

namespace {

bool readable(int fd, int timeout_ms = 0) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

// The eventfd's counter, read without the queue (consumes it).
uint64_t counter(int fd) {
  uint64_t v = 0;
  return ::read(fd, &v, sizeof v) == sizeof v ? v : 0;
}

}  // namespace

TEST_CASE("wakeup: a fresh queue has an eventfd that is not readable") {
  WakeQueue<int> q;
  REQUIRE(q.ok());
  CHECK(q.fd() >= 0);
  CHECK_FALSE(readable(q.fd()));
  CHECK(q.take().empty());
}

TEST_CASE("wakeup: pushes sum into one eventfd count and take returns them in order and resets it") {
  WakeQueue<int> q;
  for (int i = 0; i < 5; ++i) q.push(i);
  CHECK(readable(q.fd()));
  CHECK(q.take() == std::vector<int>{0, 1, 2, 3, 4});
  CHECK_FALSE(readable(q.fd()));  // counter reset: no spurious wake-up for items already taken
  CHECK(q.take().empty());

  q.push(7);
  q.push(8);
  q.push(9);
  CHECK(counter(q.fd()) == 3);  // the kernel summed three writes
  CHECK(q.take() == std::vector<int>{7, 8, 9});
}

TEST_CASE("wakeup: the eventfd is non-blocking, so take() with nothing pending does not hang") {
  WakeQueue<int> q;
  std::vector<int> got = q.take();  // would block forever on a blocking eventfd
  CHECK(got.empty());
}

TEST_CASE("wakeup: a push from another thread wakes an epoll_wait on the engine side") {
  WakeQueue<int> q;
  Fd ep(epoll_create1(EPOLL_CLOEXEC));
  REQUIRE(ep.valid());
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;  // registered as the engine registers it
  REQUIRE(epoll_ctl(ep.get(), EPOLL_CTL_ADD, q.fd(), &ev) == 0);

  std::thread producer([&q] { q.push(42); });
  epoll_event out{};
  int n = epoll_wait(ep.get(), &out, 1, 5000);
  producer.join();
  REQUIRE(n == 1);
  CHECK(q.take() == std::vector<int>{42});
}

TEST_CASE("wakeup: many threads pushing while the engine takes lose nothing and duplicate nothing") {
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  WakeQueue<int> q;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&q, t] {
      for (int i = 0; i < kEach; ++i) q.push(t * kEach + i);
    });
  }
  // The engine side: wait for readiness, take, repeat until every item arrived.
  std::vector<int> seen(kThreads * kEach, 0);
  std::vector<int> last(kThreads, -1);  // per producer, items must come in push order
  int total = 0;
  bool ordered = true;
  while (total < kThreads * kEach && readable(q.fd(), 5000)) {
    for (int v : q.take()) {
      ++seen[static_cast<size_t>(v)];
      int t = v / kEach;
      if (v <= last[static_cast<size_t>(t)]) ordered = false;
      last[static_cast<size_t>(t)] = v;
      ++total;
    }
  }
  for (auto& p : producers) p.join();
  std::vector<int> late = q.take();  // anything pushed after the loop stopped looking
  for (int v : late) ++seen[static_cast<size_t>(v)];
  total += static_cast<int>(late.size());
  CHECK(total == kThreads * kEach);
  CHECK(ordered);
  CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  CHECK_FALSE(readable(q.fd()));
}
