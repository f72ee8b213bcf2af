// A list of servers for the balancer tests: what the engine's Pool gives the algorithms
// (per-server lb::State plus an eligibility test), without the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lb/balancer.h"

namespace epoxy::testing {

struct Servers {
  std::vector<lb::State> state;
  std::vector<bool> eligible;

  explicit Servers(std::vector<uint32_t> weights) {
    for (uint32_t w : weights) {
      lb::State s;
      s.weight = w;
      state.push_back(s);
    }
    eligible.assign(state.size(), true);
  }

  size_t size() const { return state.size(); }
  auto state_at() {
    return [this](size_t i) -> lb::State& { return state[i]; };
  }
  auto is_eligible() {
    return [this](size_t i) { return static_cast<bool>(eligible[i]); };
  }

  int roundrobin() { return lb::pick_roundrobin(size(), state_at(), is_eligible()); }
  int leastconn(size_t& cursor) { return lb::pick_leastconn(size(), state_at(), is_eligible(), cursor); }
  int p2c(lb::Rng& rng) { return lb::pick_p2c(size(), state_at(), is_eligible(), rng); }
};

// Picks as a session would hold them: each pick opens a session on the chosen server
// (active + 1) that stays open. Returns how many each server got.
template <typename Pick>
std::vector<int> hold(Servers& servers, int picks, Pick pick) {
  std::vector<int> counts(servers.size(), 0);
  for (int i = 0; i < picks; ++i) {
    int at = pick();
    if (at < 0) break;
    ++counts[static_cast<size_t>(at)];
    ++servers.state[static_cast<size_t>(at)].active;
  }
  return counts;
}

// Picks as letters ('a' for server 0, ...), for comparing sequences.
template <typename Pick>
std::string sequence(int picks, Pick pick) {
  std::string out;
  for (int i = 0; i < picks; ++i) {
    int at = pick();
    out += at < 0 ? '-' : static_cast<char>('a' + at);
  }
  return out;
}

}  // namespace epoxy::testing
