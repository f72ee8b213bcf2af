// Server selection. The algorithms work on any list of servers through two accessors so that
// they can be tested without the engine: `state(i)` gives a server's balancing state and
// `eligible(i)` says whether it may be picked now (up, not removed, not tried already).
#pragma once

#include <cstddef>
#include <cstdint>

namespace epoxy::lb {

enum class Algorithm : uint8_t { RoundRobin = 0, LeastConn = 1, P2C = 2, Hash = 3 };

struct State {
  uint32_t weight = 1;
  int64_t current = 0;  // smooth weighted round robin's running score
  uint32_t active = 0;  // sessions currently using the server
};

constexpr int kNone = -1;

// xorshift64*: cheap, good enough to spread picks; one per pool, seeded by the engine.
struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dULL;
  }
  // Uniform enough in [0, n) for n far below 2^32.
  size_t below(size_t n) { return static_cast<size_t>((next() >> 32) * n >> 32); }
};

// a.active/a.weight < b.active/b.weight, without division.
inline bool less_loaded(const State& a, const State& b) {
  return static_cast<uint64_t>(a.active) * b.weight < static_cast<uint64_t>(b.active) * a.weight;
}

// Smooth weighted round robin (nginx's): every pick adds each eligible server's weight to its
// score, takes the highest score, and subtracts the total weight from it. Weights 5,1,1 give
// a,a,b,a,c,a,a — spread out, never bursts.
template <typename StateAt, typename Eligible>
int pick_roundrobin(size_t n, StateAt state, Eligible eligible) {
  int best = kNone;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(i)) continue;
    State& s = state(i);
    s.current += s.weight;
    total += s.weight;
    if (best == kNone || s.current > state(static_cast<size_t>(best)).current) best = static_cast<int>(i);
  }
  if (best != kNone) state(static_cast<size_t>(best)).current -= total;
  return best;
}

// Plain round robin by position, for small subsets (a host map entry's servers): the first
// eligible server at or after `cursor`, which then moves past it. Weights are not looked at —
// an entry names a handful of servers and a per-entry smooth score would cost a State per
// server per entry; ineligible servers are skipped without losing the rotation.
template <typename Eligible>
int pick_next(size_t n, Eligible eligible, uint32_t& cursor) {
  for (size_t k = 0; k < n; ++k) {
    size_t i = (cursor + k) % n;
    if (!eligible(i)) continue;
    cursor = static_cast<uint32_t>((i + 1) % n);
    return static_cast<int>(i);
  }
  return kNone;
}

// Least connections relative to weight (active/weight, compared without division). Ties go
// round the list from `cursor`, so equal servers share new sessions evenly.
template <typename StateAt, typename Eligible>
int pick_leastconn(size_t n, StateAt state, Eligible eligible, size_t& cursor) {
  if (n == 0) return kNone;
  int best = kNone;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (cursor + k) % n;
    if (!eligible(i)) continue;
    if (best == kNone) {
      best = static_cast<int>(i);
      continue;
    }
    if (less_loaded(state(i), state(static_cast<size_t>(best)))) best = static_cast<int>(i);
  }
  if (best != kNone) cursor = (static_cast<size_t>(best) + 1) % n;
  return best;
}

// Random power of two choices: two distinct eligible servers drawn at random in proportion to
// their weights, the less loaded (relative to weight) wins; a tie goes to the first draw. Unlike
// leastconn it does not send a burst of new sessions to the one server that just became least
// loaded. Uniform draws would cap a heavy server at the share of pairs it appears in, so the
// draws are weighted.
template <typename StateAt, typename Eligible>
int pick_p2c(size_t n, StateAt state, Eligible eligible, Rng& rng) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += eligible(i) ? state(i).weight : 0;
  if (total == 0) return kNone;
  auto draw = [&](uint64_t sum, int skip) {
    uint64_t r = rng.below(static_cast<size_t>(sum));
    for (size_t i = 0; i < n; ++i) {
      if (!eligible(i) || static_cast<int>(i) == skip) continue;
      uint32_t w = state(i).weight;
      if (r < w) return static_cast<int>(i);
      r -= w;
    }
    return kNone;
  };
  int a = draw(total, kNone);
  uint64_t rest = total - state(static_cast<size_t>(a)).weight;
  int b = rest == 0 ? kNone : draw(rest, a);
  if (b == kNone) return a;
  return less_loaded(state(static_cast<size_t>(b)), state(static_cast<size_t>(a))) ? b : a;
}

}  // namespace epoxy::lb
