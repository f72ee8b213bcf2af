#include "ring.h"

#include <algorithm>
#include <string>

namespace epoxy::lb {

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

void HashRing::build(const std::vector<RingMember>& members) {
  points_.clear();
  std::string label;
  for (uint32_t m = 0; m < members.size(); ++m) {
    uint32_t count = kPointsPerWeight * members[m].weight;
    for (uint32_t i = 0; i < count; ++i) {
      // Point i of a server does not depend on its weight: raising a weight only adds points.
      label.assign(members[m].id);
      label += '#';
      label += std::to_string(i);
      points_.emplace_back(hash_bytes(label), m);
    }
  }
  // Ties (astronomically rare) break by member index so the order is deterministic.
  std::sort(points_.begin(), points_.end());
}

size_t HashRing::lower_bound(uint64_t hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(hash, uint32_t{0}));
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

}  // namespace epoxy::lb
