// Slab: keys that stay unique over time. A key held by a stale epoll event or timer must find
// nothing once its object is gone, even after the slot is reused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "core/slab.h"

using epoxy::Slab;

namespace {

// An object that counts its live instances, to see exactly when the slab destroys it.
struct Tracked {
  explicit Tracked(int v, int& live) : value(v), live_(live) { ++live_; }
  ~Tracked() { --live_; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  int value;
  int& live_;
};

uint64_t index_of(uint64_t key) { return key & 0xffffffffu; }

// Inserts one object and returns the key it got, checking next_key() announced that key.
uint64_t add(Slab<Tracked>& slab, int value, int& live) {
  uint64_t expected = slab.next_key();
  Tracked& t = slab.insert(std::make_unique<Tracked>(value, live));
  REQUIRE(slab.find(expected) == &t);
  return expected;
}

}  // namespace

TEST_CASE("slab: next_key announces the key insert uses, and find returns the object") {
  int live = 0;
  Slab<Tracked> slab(8);
  CHECK(slab.next_key() == slab.next_key());  // asking twice reserves nothing new
  uint64_t a = add(slab, 1, live);
  uint64_t b = add(slab, 2, live);
  CHECK(a != b);
  CHECK(slab.find(a)->value == 1);
  CHECK(slab.find(b)->value == 2);
  CHECK(slab.size() == 2);
  CHECK(live == 2);
}

TEST_CASE("slab: erase destroys the object, and the old key finds nothing even after the slot is reused") {
  int live = 0;
  Slab<Tracked> slab(8);
  uint64_t old_key = add(slab, 1, live);
  slab.erase(old_key);
  CHECK(live == 0);
  CHECK(slab.size() == 0);
  CHECK(slab.find(old_key) == nullptr);

  uint64_t new_key = add(slab, 2, live);
  CHECK(index_of(new_key) == index_of(old_key));  // the slot is reused...
  CHECK(new_key != old_key);                      // ...under a new generation
  CHECK(slab.find(old_key) == nullptr);           // a stale event finds nothing
  CHECK(slab.find(new_key)->value == 2);
}

TEST_CASE("slab: keys never seen and indexes past the end find nothing") {
  int live = 0;
  Slab<Tracked> slab(8);
  CHECK(slab.find(0) == nullptr);
  uint64_t k = add(slab, 1, live);
  CHECK(slab.find(k + 1) == nullptr);                  // next index, never allocated
  CHECK(slab.find(k | (uint64_t{5} << 32)) == nullptr);  // right slot, wrong generation
}

TEST_CASE("slab: growth keeps every object where it was and every key valid") {
  int live = 0;
  Slab<Tracked> slab(29);
  std::vector<uint64_t> keys;
  std::vector<const Tracked*> where;
  for (int i = 0; i < 5000; ++i) {
    keys.push_back(add(slab, i, live));
    where.push_back(slab.find(keys.back()));
  }
  CHECK(slab.size() == 5000);
  for (int i = 0; i < 5000; ++i) {
    const Tracked* t = slab.find(keys[static_cast<size_t>(i)]);
    REQUIRE(t != nullptr);
    CHECK(t == where[static_cast<size_t>(i)]);  // objects do not move when the slot table grows
    CHECK(t->value == i);
  }
  CHECK(std::set<uint64_t>(keys.begin(), keys.end()).size() == keys.size());
}

TEST_CASE("slab: freed slots are reused before the table grows") {
  int live = 0;
  Slab<Tracked> slab(8);
  std::vector<uint64_t> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(add(slab, i, live));
  std::set<uint64_t> freed;
  for (int i = 0; i < 10; i += 2) {
    slab.erase(keys[static_cast<size_t>(i)]);
    freed.insert(index_of(keys[static_cast<size_t>(i)]));
  }
  std::set<uint64_t> reused;
  for (int i = 0; i < 5; ++i) reused.insert(index_of(add(slab, 100 + i, live)));
  CHECK(reused == freed);
  CHECK(index_of(add(slab, 200, live)) == 10);  // only now a new slot
}

TEST_CASE("slab: the tag is in every key and the generation never reaches the tag bits") {
  int live = 0;
  const uint64_t tag = uint64_t{1} << 63;
  Slab<Tracked> slab(3, tag);  // generations 0..7 live in bits 32..34
  uint64_t k = 0;
  std::set<uint64_t> generations;
  for (int round = 0; round < 20; ++round) {
    k = add(slab, round, live);
    CHECK((k & tag) == tag);
    CHECK(((k & ~tag) >> 32) < 8u);
    generations.insert((k & ~tag) >> 32);
    if (round > 0) CHECK(slab.find(k) != nullptr);
    slab.erase(k);
  }
  CHECK(generations.size() == 8);  // wraps around within the mask
  for (uint64_t key : slab.keys()) CHECK((key & tag) == tag);
}

TEST_CASE("slab: keys() lists every live object once, for a walk that erases as it goes") {
  int live = 0;
  Slab<Tracked> slab(8, uint64_t{1} << 62);
  std::set<uint64_t> inserted;
  for (int i = 0; i < 20; ++i) inserted.insert(add(slab, i, live));
  uint64_t gone = *inserted.begin();
  slab.erase(gone);
  inserted.erase(gone);
  std::vector<uint64_t> keys = slab.keys();
  CHECK(std::set<uint64_t>(keys.begin(), keys.end()) == inserted);
  CHECK(keys.size() == inserted.size());
  for (uint64_t key : keys) {
    if (slab.find(key)->value % 2 == 0) slab.erase(key);
  }
  CHECK(slab.size() == 10);
  CHECK(live == 10);
}

TEST_CASE("slab: clear destroys every object and the old keys find nothing") {
  int live = 0;
  std::vector<uint64_t> keys;
  {
    Slab<Tracked> slab(8);
    for (int i = 0; i < 5; ++i) keys.push_back(add(slab, i, live));
    slab.clear();
    CHECK(live == 0);
    for (uint64_t k : keys) CHECK(slab.find(k) == nullptr);
    CHECK(slab.keys().empty());
    keys.push_back(add(slab, 9, live));
  }
  CHECK(live == 0);  // the slab's destructor destroys what is left
}
