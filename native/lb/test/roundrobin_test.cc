// Smooth weighted round robin (lb::pick_roundrobin). The sequences mirror test/balance.test.ts,
// which checks the same balancer through real connections.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "lb/balancer.h"
#include "testing/lb_servers.h"

using epoxy::lb::kNone;
using epoxy::testing::sequence;
using epoxy::testing::Servers;

namespace {

std::string roundrobin(Servers& s, int picks) {
  return sequence(picks, [&] { return s.roundrobin(); });
}

// The longest run of one letter in a sequence.
size_t longest_run(const std::string& seq) {
  size_t best = 0;
  size_t run = 0;
  for (size_t i = 0; i < seq.size(); ++i) {
    run = i > 0 && seq[i] == seq[i - 1] ? run + 1 : 1;
    best = std::max(best, run);
  }
  return best;
}

}  // namespace

TEST_CASE("roundrobin: weights 5 1 1 give a,a,b,a,c,a,a and then the same again") {
  Servers s({5, 1, 1});
  CHECK(roundrobin(s, 7) == "aabacaa");
  CHECK(roundrobin(s, 7) == "aabacaa");  // every score is back to 0 after a full cycle
  for (const auto& st : s.state) CHECK(st.current == 0);
}

TEST_CASE("roundrobin: 3 to 1 over 400 picks is exact and never a burst of 4") {
  Servers s({3, 1});
  std::string seq = roundrobin(s, 400);
  CHECK(std::count(seq.begin(), seq.end(), 'a') == 300);
  CHECK(std::count(seq.begin(), seq.end(), 'b') == 100);
  CHECK(seq.find("aaaa") == std::string::npos);
}

TEST_CASE("roundrobin: equal weights take turns in list order") {
  Servers s({1, 1, 1});
  CHECK(roundrobin(s, 9) == "abcabcabc");
}

TEST_CASE("roundrobin: an ineligible server is skipped and its score left alone") {
  Servers s({1, 1, 1});
  s.eligible[1] = false;
  std::string seq = roundrobin(s, 10);
  CHECK(seq.find('b') == std::string::npos);
  CHECK(std::count(seq.begin(), seq.end(), 'a') == 5);
  CHECK(s.state[1].current == 0);  // no score piled up while down...

  s.eligible[1] = true;  // ...so coming back gives it its share, not a burst
  std::string back = roundrobin(s, 30);
  CHECK(std::count(back.begin(), back.end(), 'b') == 10);
  CHECK(longest_run(back) == 1);
}

TEST_CASE("roundrobin: no eligible server gives kNone and changes no score") {
  Servers s({2, 3});
  s.eligible = {false, false};
  CHECK(s.roundrobin() == kNone);
  CHECK(s.state[0].current == 0);
  CHECK(s.state[1].current == 0);

  Servers empty({});
  CHECK(empty.roundrobin() == kNone);
}

TEST_CASE("roundrobin: a weight changed live takes effect in the next picks") {
  Servers s({1, 1});
  roundrobin(s, 3);  // mid-cycle: scores are not all zero
  s.state[0].weight = 3;
  std::string seq = roundrobin(s, 400);
  long a = std::count(seq.begin(), seq.end(), 'a');
  CHECK(a >= 298);
  CHECK(a <= 302);
  CHECK(seq.find("aaaa") == std::string::npos);
}

TEST_CASE("roundrobin: spread is smooth for uneven weights") {
  // 10:1 - one pick of the light server in every cycle of eleven, never two in a row, and no
  // run of the heavy one longer than two half-cycles.
  Servers s({10, 1});
  std::string seq = roundrobin(s, 110);
  CHECK(std::count(seq.begin(), seq.end(), 'b') == 10);
  CHECK(longest_run(seq) <= 10);
  CHECK(seq.find("bb") == std::string::npos);
}
