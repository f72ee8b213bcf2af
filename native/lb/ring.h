// Consistent hashing on a ring with virtual nodes.
//
// Why a ring and not jump hash or maglev: jump hash cannot remove a server from the middle of
// the list or weigh servers; maglev rebuilds its whole table on a change and moves some keys
// between servers that did not change. A ring moves only the keys of the server that came or
// went, never between two unchanged servers, takes weights as a number of points, and lets a
// down server's keys fall to the next point clockwise while every other key stays put. The cost,
// a binary search over 100 points per unit of weight, is far below one syscall.
//
// Points are placed by hashing the server's identity (its address) with the point's number, so
// the ring depends only on the set of servers and weights: the same on every restart, and the
// same in the control plane (pool.pick) as in the engine.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace epoxy::lb {

constexpr uint32_t kPointsPerWeight = 100;

// A stable 64-bit hash of bytes (FNV-1a folded through murmur3's finalizer for avalanche).
uint64_t hash_bytes(std::string_view bytes);

struct RingMember {
  std::string_view id;
  uint32_t weight = 1;
};

class HashRing {
 public:
  void build(const std::vector<RingMember>& members);
  bool empty() const { return points_.empty(); }

  // The member owning the first point at or after `hash`, skipping points of members that are
  // not eligible; kNone-like -1 when no member is.
  template <typename Eligible>
  int pick(uint64_t hash, Eligible eligible) const {
    size_t n = points_.size();
    if (n == 0) return -1;
    size_t at = lower_bound(hash);
    for (size_t k = 0; k < n; ++k) {
      uint32_t member = points_[(at + k) % n].second;
      if (eligible(member)) return static_cast<int>(member);
    }
    return -1;
  }

 private:
  size_t lower_bound(uint64_t hash) const;
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (position, member index), sorted
};

}  // namespace epoxy::lb
