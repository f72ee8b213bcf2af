// The consistent hash ring (lb::HashRing). The properties and bounds mirror test/hash.test.ts,
// which checks the same ring through pool.pick (the addon wraps this class): keys are host
// names app<i>.example.com, servers are addresses 127.0.0.1:<port>.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lb/ring.h"

using epoxy::lb::hash_bytes;
using epoxy::lb::HashRing;
using epoxy::lb::RingMember;

namespace {

std::vector<std::string> addresses(int n, int base = 20000) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("127.0.0.1:" + std::to_string(base + i));
  return out;
}

std::vector<std::string> domains(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("app" + std::to_string(i) + ".example.com");
  return out;
}

// A ring over named servers that answers with names, so rings built from different lists
// (order, additions) can be compared.
class NamedRing {
 public:
  NamedRing(std::vector<std::string> ids, std::vector<uint32_t> weights = {}) : ids_(std::move(ids)) {
    std::vector<RingMember> members;
    for (size_t i = 0; i < ids_.size(); ++i) members.push_back({ids_[i], weights.empty() ? 1 : weights[i]});
    ring_.build(members);
    up_.assign(ids_.size(), true);
  }

  // Makes one server ineligible (drained, down) or eligible again.
  void set_up(const std::string& id, bool up) {
    auto it = std::find(ids_.begin(), ids_.end(), id);
    REQUIRE(it != ids_.end());
    up_[static_cast<size_t>(it - ids_.begin())] = up;
  }

  // The name of the server owning `key`, or "" when none is eligible.
  std::string pick(const std::string& key) const {
    int at = ring_.pick(hash_bytes(key), [this](uint32_t m) { return m < up_.size() && up_[m]; });
    return at < 0 ? std::string() : ids_[static_cast<size_t>(at)];
  }

  std::vector<std::string> pick_all(const std::vector<std::string>& keys) const {
    std::vector<std::string> out;
    for (const auto& k : keys) out.push_back(pick(k));
    return out;
  }

 private:
  std::vector<std::string> ids_;
  std::vector<bool> up_;
  HashRing ring_;
};

}  // namespace

TEST_CASE("ring: an empty ring and a ring with no eligible member give -1") {
  HashRing ring;
  CHECK(ring.empty());
  CHECK(ring.pick(hash_bytes("x"), [](uint32_t) { return true; }) == -1);

  NamedRing all_down(addresses(3));
  for (const auto& a : addresses(3)) all_down.set_up(a, false);
  CHECK(all_down.pick("x.example.com").empty());
}

TEST_CASE("ring: hash_bytes is stable across builds and restarts") {
  // Pinned values, computed apart from this code (FNV-1a 64, then murmur3's fmix64): a change
  // here remaps every key of every hash pool on upgrade.
  CHECK(hash_bytes("") == 0xefd01f60ba992926ULL);
  CHECK(hash_bytes("127.0.0.1:20000#0") == 0xa6e5246ed80ec20dULL);  // a ring point's label
  CHECK(hash_bytes("app1.example.com") == 0xdef3f54cf2c99cf7ULL);
  CHECK(hash_bytes("app1.example.com") != hash_bytes("app2.example.com"));
}

TEST_CASE("ring: adding an 11th server to 10 moves at most 1.5/11 of the keys and only to the new one") {
  std::vector<std::string> keys = domains(10000);
  NamedRing ten(addresses(10));
  NamedRing eleven(addresses(11));
  std::vector<std::string> before = ten.pick_all(keys);
  std::vector<std::string> after = eleven.pick_all(keys);
  int moved = 0;
  int moved_elsewhere = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    if (after[i] != "127.0.0.1:20010") ++moved_elsewhere;  // between two unchanged servers
  }
  CHECK(moved_elsewhere == 0);
  CHECK(moved / 10000.0 <= 1.5 / 11);
  CHECK(moved / 10000.0 > 0.5 / 11);  // the new server does take its share
}

TEST_CASE("ring: keys spread within 40 % of an even share") {
  NamedRing five(addresses(5));
  std::map<std::string, int> counts;
  for (const auto& k : domains(20000)) ++counts[five.pick(k)];
  CHECK(counts.size() == 5);
  for (const auto& [server, c] : counts) {
    CAPTURE(server);
    CHECK(std::abs(c - 4000) < 1600);
  }
}

TEST_CASE("ring: a server of weight 3 beside one of weight 1 owns 65 to 85 % of the keys") {
  NamedRing weighted({"127.0.0.1:21000", "127.0.0.1:21001"}, {3, 1});
  int heavy = 0;
  for (int i = 0; i < 8000; ++i) heavy += weighted.pick("/p/" + std::to_string(i)) == "127.0.0.1:21000";
  CHECK(heavy / 8000.0 > 0.65);
  CHECK(heavy / 8000.0 < 0.85);
}

TEST_CASE("ring: raising a weight only moves keys to the server whose weight rose") {
  std::vector<std::string> keys = domains(5000);
  std::vector<std::string> servers = addresses(4);
  NamedRing light(servers, {1, 1, 1, 1});
  NamedRing heavier(servers, {1, 2, 1, 1});
  std::vector<std::string> before = light.pick_all(keys);
  std::vector<std::string> after = heavier.pick_all(keys);
  int moved = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    CHECK(after[i] == servers[1]);
  }
  CHECK(moved > 0);
}

TEST_CASE("ring: the same answers whatever the order of the servers") {
  std::vector<std::string> servers = addresses(7);
  std::vector<std::string> reversed(servers.rbegin(), servers.rend());
  std::vector<std::string> shuffled = {servers[3], servers[0], servers[6], servers[1],
                                       servers[5], servers[2], servers[4]};
  std::vector<std::string> keys = domains(2000);
  std::vector<std::string> a = NamedRing(servers).pick_all(keys);
  CHECK(NamedRing(reversed).pick_all(keys) == a);
  CHECK(NamedRing(shuffled).pick_all(keys) == a);
  CHECK(NamedRing(servers).pick_all(keys) == a);  // rebuilt (a restart): the same again
}

TEST_CASE("ring: a drained server's keys go elsewhere while every other key stays, and come back") {
  std::vector<std::string> keys = domains(3000);
  NamedRing ring(addresses(6));
  const std::string drained = "127.0.0.1:20002";
  std::vector<std::string> before = ring.pick_all(keys);
  ring.set_up(drained, false);
  std::vector<std::string> during = ring.pick_all(keys);
  int rehomed = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] == drained) {
      CHECK(during[i] != drained);
      CHECK_FALSE(during[i].empty());
      ++rehomed;
    } else {
      CHECK(during[i] == before[i]);
    }
  }
  CHECK(rehomed > 0);
  ring.set_up(drained, true);
  CHECK(ring.pick_all(keys) == before);
}

TEST_CASE("ring: removing a server from the list answers exactly as skipping it") {
  // The engine rebuilds the ring when a server is removed and skips a down one: both must send
  // the server's keys to the same place, or a removal would move keys a drain did not.
  std::vector<std::string> keys = domains(3000);
  std::vector<std::string> servers = addresses(6);
  NamedRing skipping(servers);
  skipping.set_up(servers[4], false);
  std::vector<std::string> without = servers;
  without.erase(without.begin() + 4);
  CHECK(NamedRing(without).pick_all(keys) == skipping.pick_all(keys));
}
