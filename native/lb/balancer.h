// Server selection. The algorithms work on any list of servers through two accessors so that
// they can be tested without the engine: `state(i)` gives a server's balancing state and
// `eligible(i)` says whether it may be picked now (up, not removed, not tried already).
#pragma once

#include <cstddef>
#include <cstdint>

namespace epoxy::lb {

enum class Algorithm : uint8_t { RoundRobin = 0, LeastConn = 1 };

struct State {
  uint32_t weight = 1;
  int64_t current = 0;  // smooth weighted round robin's running score
  uint32_t active = 0;  // sessions currently using the server
};

constexpr int kNone = -1;

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
    const State& a = state(i);
    const State& b = state(static_cast<size_t>(best));
    if (static_cast<uint64_t>(a.active) * b.weight < static_cast<uint64_t>(b.active) * a.weight) {
      best = static_cast<int>(i);
    }
  }
  if (best != kNone) cursor = (static_cast<size_t>(best) + 1) % n;
  return best;
}

}  // namespace epoxy::lb
