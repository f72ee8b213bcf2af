// Least connections and random power of two choices (lb::pick_leastconn, lb::pick_p2c). The
// spread bounds mirror test/balance.test.ts ("leastconn") and test/hash.test.ts ("p2c"), which
// check the same algorithms through held connections.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "lb/balancer.h"
#include "testing/lb_servers.h"

using epoxy::lb::kNone;
using epoxy::lb::Rng;
using epoxy::testing::hold;
using epoxy::testing::sequence;
using epoxy::testing::Servers;

namespace {

Rng seeded(uint64_t seed) {
  Rng r;
  r.s ^= seed * 0x9e3779b97f4a7c15ULL;
  if (r.s == 0) r.s = 1;  // xorshift's one bad state
  return r;
}

}  // namespace

TEST_CASE("leastconn: a new session goes to the server with the fewest active sessions") {
  Servers s({1, 1});
  size_t cursor = 0;
  std::vector<int> held = hold(s, 4, [&] { return s.leastconn(cursor); });
  CHECK(held == std::vector<int>{2, 2});
  // Two sessions on b end: the next two both go to b (test/balance.test.ts).
  s.state[1].active -= 2;
  CHECK(sequence(2, [&] {
          int at = s.leastconn(cursor);
          ++s.state[static_cast<size_t>(at)].active;
          return at;
        }) == "bb");
}

TEST_CASE("leastconn: ties go round the list from the cursor") {
  Servers s({1, 1, 1});
  size_t cursor = 0;
  CHECK(sequence(7, [&] { return s.leastconn(cursor); }) == "abcabca");  // no session held
  cursor = 2;
  CHECK(s.leastconn(cursor) == 2);
  CHECK(cursor == 0);  // the next tie starts after the server just picked
  CHECK(s.leastconn(cursor) == 0);
}

TEST_CASE("leastconn: load is relative to weight") {
  Servers s({2, 1});
  size_t cursor = 0;
  std::vector<int> held = hold(s, 30, [&] { return s.leastconn(cursor); });
  CHECK(held[0] == 20);
  CHECK(held[1] == 10);

  Servers busy({4, 1});
  busy.state[0].active = 7;  // 7/4 is less loaded than 2/1
  busy.state[1].active = 2;
  CHECK(busy.leastconn(cursor) == 0);
}

TEST_CASE("leastconn: ineligible servers are never picked, none eligible gives kNone") {
  Servers s({1, 1, 1});
  s.state[0].active = 5;
  s.state[1].active = 0;  // least loaded, but down
  s.state[2].active = 3;
  s.eligible[1] = false;
  size_t cursor = 1;
  CHECK(s.leastconn(cursor) == 2);

  s.eligible = {false, false, false};
  cursor = 1;
  CHECK(s.leastconn(cursor) == kNone);
  CHECK(cursor == 1);  // a failed pick moves nothing

  Servers empty({});
  CHECK(empty.leastconn(cursor) == kNone);
}

TEST_CASE("p2c: spreads held sessions evenly over four servers (80 picks, at least 15 each)") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    Servers s({1, 1, 1, 1});
    Rng rng = seeded(seed);
    std::vector<int> held = hold(s, 80, [&] { return s.p2c(rng); });
    for (int c : held) CHECK(c >= 15);
  }
}

TEST_CASE("p2c: weighs load by weight (weight 4 of 7 takes 32 to 46 of 70)") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    Servers s({4, 1, 1, 1});
    Rng rng = seeded(seed);
    std::vector<int> held = hold(s, 70, [&] { return s.p2c(rng); });
    CHECK(held[0] >= 32);
    CHECK(held[0] <= 46);
  }
}

TEST_CASE("p2c: the two draws are distinct, so an idle server beats a busy one every time") {
  Servers s({1, 1});
  s.state[0].active = 5;
  Rng rng = seeded(3);
  for (int i = 0; i < 200; ++i) CHECK(s.p2c(rng) == 1);
}

TEST_CASE("p2c: ineligible servers are never drawn and one eligible server is always the pick") {
  Servers s({1, 2, 3, 4, 5});
  Rng rng = seeded(11);
  Rng flips = seeded(12);
  for (int i = 0; i < 2000; ++i) {
    for (size_t k = 0; k < s.size(); ++k) s.eligible[k] = flips.below(3) != 0;
    int at = s.p2c(rng);
    bool any = std::any_of(s.eligible.begin(), s.eligible.end(), [](bool e) { return e; });
    if (!any) {
      CHECK(at == kNone);
      continue;
    }
    REQUIRE(at >= 0);
    CHECK(s.eligible[static_cast<size_t>(at)]);
  }
  s.eligible = {false, false, true, false, false};
  s.state[2].active = 1000;
  for (int i = 0; i < 20; ++i) CHECK(s.p2c(rng) == 2);
  s.eligible = {false, false, false, false, false};
  CHECK(s.p2c(rng) == kNone);
}

TEST_CASE("p2c: the generator's below(n) stays under n and hits every value") {
  Rng rng = seeded(7);
  for (size_t n : {size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
    std::vector<int> hits(n, 0);
    for (size_t i = 0; i < n * 200; ++i) {
      size_t v = rng.below(n);
      REQUIRE(v < n);
      ++hits[v];
    }
    for (int h : hits) CHECK(h > 100);  // 200 expected each: no value starved
  }
}
