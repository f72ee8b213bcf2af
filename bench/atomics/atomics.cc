// What a shared counter or lock costs an engine thread: read-modify-writes (fetch_add, a
// compare-and-swap loop) and std::mutex lock+unlock on one cache line, from 1 thread
// (uncontended: the line stays in this core's cache) and from 2 or more threads at once
// (contended: the line moves between cores on every operation). See bench/README.md, "Where
// epoxy stops scaling".
//
//   g++ -O2 -pthread -o /tmp/atomics bench/atomics/atomics.cc && /tmp/atomics [max_threads] [Mops]
//
// Two loads per case:
//   tight  — the threads do nothing but the operation: the worst case, every operation finds
//            the line in another core's cache (or the lock held), the ceiling of contention.
//   spaced — between two operations each thread does about `gap` ns of work of its own, as an
//            engine thread does a request's parsing and syscalls between its counter updates.
//            The work depends on the operation's result (as the engine's code does: acquire()
//            branches on it), so the CPU cannot hide the operation behind the work. The cost
//            reported is the time per operation beyond the work alone: what a shared line costs
//            when the other core wrote it since (a cache-line transfer, hardly any queueing).
//   ping-pong — two threads take turns incrementing one counter (each waits for the other's
//            increment): the time of one hand-over, i.e. one cache-line transfer between cores.
// Threads are pinned to CPUs 0, 1, … (when there are that many), so 2 threads are on 2 CPUs.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct alignas(64) Line {
  std::atomic<uint64_t> value{0};
};

Line g_shared;                 // one line every thread writes
Line g_own[64];                // one line per thread (no sharing: the control)
struct alignas(64) TwoOnOneLine {  // two counters side by side: false sharing
  std::atomic<uint64_t> v[8];
} g_false;
alignas(64) std::mutex g_mutex;
alignas(64) uint64_t g_guarded = 0;  // what the mutex protects

// About `iters` steps of dependent arithmetic the optimizer cannot drop: a thread's own work.
inline uint64_t work(uint64_t seed, int iters) {
  for (int i = 0; i < iters; i++) seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return seed;
}

void pin(int cpu) {
  unsigned n = std::thread::hardware_concurrency();
  if (n == 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

std::atomic<uint64_t> g_sink{0};

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// Runs `op(thread index)` in a loop on each of `threads` threads for `ms` milliseconds, all
// released at once and stopped at once (so they overlap for the whole run), with `gap_iters`
// steps of own work before each op. Returns the mean over threads of CPU time per loop turn in
// ns (the thread's own CPU time: a thread the scheduler takes off its CPU does not count it).
double run(int threads, int ms, int gap_iters, const std::function<uint64_t(int)>& op) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<double> ns(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([&, t] {
      pin(t);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      uint64_t seed = t + 1;
      uint64_t turns = 0;
      double c0 = thread_cpu_ns();
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 64; k++) {  // check the flag every 64 turns: its line is read-shared
          if (gap_iters) seed = work(seed, gap_iters);
          seed += op(t);  // the next work depends on the result
        }
        turns += 64;
      }
      double c1 = thread_cpu_ns();
      g_sink.fetch_add(seed, std::memory_order_relaxed);
      ns[t] = (c1 - c0) / static_cast<double>(turns);
    });
  }
  while (ready.load() < threads) {
  }
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  stop.store(true, std::memory_order_relaxed);
  for (auto& th : pool) th.join();
  double sum = 0;
  for (double v : ns) sum += v;
  return sum / threads;
}

// Median of 5 runs: a VM's neighbours and the scheduler make single runs noisy.
double median_of(int reps, const std::function<double()>& f) {
  std::vector<double> v;
  for (int i = 0; i < reps; i++) v.push_back(f());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Case {
  const char* name;
  std::function<uint64_t(int)> op;
};

// Two threads hand one counter back and forth `n` times each; ns per hand-over (one transfer).
double ping_pong(uint64_t n) {
  Line turn;
  auto player = [&](int me) {
    pin(me);
    for (uint64_t i = 0; i < n; i++) {
      while ((turn.value.load(std::memory_order_acquire) & 1) != static_cast<uint64_t>(me)) {
      }
      turn.value.fetch_add(1, std::memory_order_acq_rel);
    }
  };
  auto t0 = Clock::now();
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (2.0 * n);
}

}  // namespace

int main(int argc, char** argv) {
  int max_threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int ms = argc > 2 ? std::atoi(argv[2]) : 300;  // each run, per case and thread count (median of 5)
  max_threads = std::max(1, std::min(max_threads, 64));
  const int gap_iters = 200;  // own work between two operations: printed below in ns

  const Case cases[] = {
      {"fetch_add, one shared line", [](int) { return g_shared.value.fetch_add(1, std::memory_order_relaxed); }},
      {"CAS increment loop, one shared line",
       [](int) {
         uint64_t v = g_shared.value.load(std::memory_order_relaxed);
         while (!g_shared.value.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) {
         }
         return v;
       }},
      {"fetch_add, own counter on a shared line", [](int t) { return g_false.v[t % 8].fetch_add(1, std::memory_order_relaxed); }},
      {"fetch_add, own line per thread", [](int t) { return g_own[t].value.fetch_add(1, std::memory_order_relaxed); }},
      {"std::mutex lock+unlock, one mutex",
       [](int) {
         std::lock_guard<std::mutex> lock(g_mutex);
         return ++g_guarded;
       }},
      {"std::mutex lock+unlock, own mutex", [](int t) {
         struct alignas(64) Padded {
           std::mutex m;
         };
         static Padded own[64];
         std::lock_guard<std::mutex> lock(own[t].m);
         uint64_t v = g_own[t].value.load(std::memory_order_relaxed) + 1;
         g_own[t].value.store(v, std::memory_order_relaxed);
         return v;
       }},
  };

  std::vector<int> counts;
  for (int t = 1; t <= max_threads; t *= 2) counts.push_back(t);
  if (counts.back() != max_threads) counts.push_back(max_threads);
  std::printf("# %u CPUs, threads pinned to CPUs 0..n-1; %d ms per run, median of 5 runs; CPU time of each thread / operations\n",
              std::thread::hardware_concurrency(), ms);

  for (int spaced = 0; spaced <= 1; spaced++) {
    int gap = spaced ? gap_iters : 0;
    if (spaced) {
      double w = median_of(5, [&] { return run(1, ms, gap, [](int) { return uint64_t{0}; }); });
      std::printf("\n## spaced: %d steps of own work (%.0f ns alone) before each operation; ns per operation beyond the work\n", gap, w);
      std::printf("%-42s", "case");
      for (int t : counts) std::printf(" %9d thr", t);
      std::printf("\n");
      std::vector<double> base(counts.size());
      for (size_t i = 0; i < counts.size(); i++) base[i] = median_of(5, [&] { return run(counts[i], ms, gap, [](int) { return uint64_t{0}; }); });
      for (const auto& c : cases) {
        std::printf("%-42s", c.name);
        for (size_t i = 0; i < counts.size(); i++) std::printf(" %13.1f", median_of(5, [&] { return run(counts[i], ms, gap, c.op); }) - base[i]);
        std::printf("\n");
      }
    } else {
      std::printf("\n## tight loop: ns per operation, per thread\n%-42s", "case");
      for (int t : counts) std::printf(" %9d thr", t);
      std::printf("\n");
      for (const auto& c : cases) {
        std::printf("%-42s", c.name);
        for (int t : counts) std::printf(" %13.1f", median_of(5, [&] { return run(t, ms, 0, c.op); }));
        std::printf("\n");
      }
    }
  }
  if (std::thread::hardware_concurrency() >= 2) {
    std::printf("\n## ping-pong: two threads take turns on one counter\n%-42s %13.1f ns per hand-over (one cache-line transfer)\n",
                "fetch_add after the other thread's", median_of(5, [] { return ping_pong(2'000'000); }));
  }
  std::printf("\n(checksum %llu %llu)\n", static_cast<unsigned long long>(g_sink.load() & 0xff),
              static_cast<unsigned long long>(g_guarded & 0xff));
  return 0;
}
