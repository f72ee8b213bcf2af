// Plain round robin by position (lb::pick_next), the host map entries' balancer.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lb/balancer.h"

using epoxy::lb::kNone;
using epoxy::lb::pick_next;

namespace {
std::string picks(size_t n, const std::vector<bool>& eligible, uint32_t& cursor, int count) {
  std::string out;
  for (int k = 0; k < count; ++k) {
    int i = pick_next(n, [&](size_t j) { return eligible[j]; }, cursor);
    out.push_back(i == kNone ? '-' : static_cast<char>('a' + i));
  }
  return out;
}
}  // namespace

TEST_CASE("pick_next: turns round the list in order") {
  uint32_t cursor = 0;
  CHECK(picks(3, {true, true, true}, cursor, 7) == "abcabca");
  CHECK(cursor == 1);
}

TEST_CASE("pick_next: skips ineligible servers without losing the rotation") {
  uint32_t cursor = 0;
  CHECK(picks(4, {true, false, true, false}, cursor, 5) == "acaca");
  std::vector<bool> eligible{true, true, true};
  cursor = 1;
  CHECK(picks(3, eligible, cursor, 1) == "b");
  eligible[2] = false;  // c goes down: the next after b is a
  CHECK(picks(3, eligible, cursor, 2) == "ab");
}

TEST_CASE("pick_next: none eligible or an empty list picks nothing and keeps the cursor") {
  uint32_t cursor = 2;
  CHECK(picks(3, {false, false, false}, cursor, 2) == "--");
  CHECK(cursor == 2);
  CHECK(picks(0, {}, cursor, 1) == "-");
}

TEST_CASE("pick_next: a cursor beyond the list (a shorter list than before) wraps") {
  uint32_t cursor = 7;
  CHECK(picks(3, {true, true, true}, cursor, 3) == "bca");
}
