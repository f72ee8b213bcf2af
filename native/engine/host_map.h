// Host maps (issue 16): a normalized host name -> a subset of the servers of ONE pool (the
// map's pool). A route `{ hostMap }` matches a request whose Host (HTTP) or SNI (TCP) has an
// entry; the session then picks only among that entry's servers with the map's balancer, and
// everything else (retries, passive health, maxconn queue, PROXY protocol, idle connections,
// stats) is the pool's.
//
// Ownership: like pools, each engine thread has its own HostMap per uid, long-lived across
// snapshots, changed only by that thread (apply, SetHosts commands): no shared mutable state,
// no lock on the request path. Entries are immutable once published except their balancing
// cursor (engine thread only); a change replaces the entry, so a request holding the old one
// (shared_ptr) keeps its subset.
//
// Memory (the design target is ≤ 120 B per host per thread at 100k hosts): the table is an
// std::unordered_set of shared_ptr<HostEntry> keyed by the entry's own key (heterogeneous
// lookup by string_view: no std::string per lookup, no key stored twice), and an entry is ONE
// allocation (make_shared) holding its key and its server slots inline when they fit. Servers
// are 4-byte slot numbers into the map's slot table, not shared_ptrs (16 B each).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../lb/balancer.h"

namespace epoxy {

struct Pool;
struct Server;

// Hosts in flat arrays, as the control plane sends them: host i has counts[i] server uids,
// the next ones in `servers`; kHostRemoved removes the host and takes no uid.
struct HostBatch {
  std::vector<std::string> hosts;
  std::vector<uint32_t> counts;
  std::vector<uint32_t> servers;
};
constexpr uint32_t kHostRemoved = 0xffffffff;

// Whether a batch is consistent (one count per host, the counts add up to servers.size());
// `error` says what is wrong otherwise. The addon checks before posting; the engine trusts it.
bool check_host_batch(const HostBatch& batch, std::string& error);

// One host's servers. Layout of the bytes: the slots (uint32_t each) then the key; inline when
// they fit in kInline bytes (a 24-character host with 2 servers does), else in a heap block
// whose owner takes the inline bytes' place (a union: the entry stays 40 bytes, so with
// make_shared's 16-byte control block it is one 64-byte malloc chunk).
class HostEntry {
 public:
  static constexpr size_t kInline = 32;
  static constexpr size_t kMaxKey = 0xffff;
  static constexpr size_t kMaxServers = 0xffff;

  HostEntry(std::string_view key, std::span<const uint32_t> slots);
  ~HostEntry();
  HostEntry(const HostEntry&) = delete;
  HostEntry& operator=(const HostEntry&) = delete;

  std::string_view key() const { return {data() + slots_ * sizeof(uint32_t), key_len_}; }
  size_t size() const { return slots_; }
  uint32_t slot(size_t i) const {
    uint32_t s;
    std::memcpy(&s, data() + i * sizeof(uint32_t), sizeof s);
    return s;
  }

  // This thread's balancing position among the entry's servers (roundrobin, leastconn).
  uint32_t cursor = 0;

 private:
  bool spilled() const { return slots_ * sizeof(uint32_t) + key_len_ > kInline; }
  const char* data() const { return spilled() ? spill_.get() : inline_; }

  uint16_t slots_ = 0;
  uint16_t key_len_ = 0;
  union {
    char inline_[kInline];
    std::unique_ptr<char[]> spill_;  // alive exactly when spilled()
  };
};

class HostMap {
 public:
  uint32_t uid = 0;
  std::string name;
  lb::Algorithm balance = lb::Algorithm::RoundRobin;
  std::shared_ptr<Pool> pool;  // set at apply; the pool holding every server the map names

  // Stats, this thread: lookups that found an entry, found none (the next route is tried),
  // and found one with no server (no-server answer).
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t empty = 0;

  // The entry for a normalized host: exact first, then `*.parent` walking up the labels
  // (a.b.foo.com: a.b.foo.com, *.b.foo.com, *.foo.com, *.com). `*.foo.com` never matches
  // foo.com itself — the same rule as Route::host_matches (the host must be longer than the
  // ".foo.com" suffix), and it matches any depth below it (x.y.foo.com) as that does.
  // Counts hits, misses and empty entries. Allocation-free but for the refcount.
  std::shared_ptr<HostEntry> find(std::string_view host);

  // Applies a checked batch: sets, replaces or removes hosts. A uid that is not a server of
  // the map's pool (on this thread) is skipped.
  void apply(const HostBatch& batch);
  size_t hosts() const { return table_.size(); }

  // The server behind an entry's slot. Null never: a slot keeps its last server, which is
  // simply unavailable (removed) once its pool drops it.
  const std::shared_ptr<Server>& server(uint32_t slot) const { return slots_[slot]; }
  // Whether `s` may serve this map now: still a server of the map's pool (a reload may point
  // the map at another pool, or the server may have moved).
  bool in_pool(const Server& s) const;
  // The pool's servers changed (or the map's pool did): slots follow new Server objects of
  // the same uid, so a server removed and added again is used again.
  void refresh_servers();

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
    size_t operator()(const std::shared_ptr<HostEntry>& e) const noexcept { return (*this)(e->key()); }
  };
  struct Eq {
    using is_transparent = void;
    static std::string_view view(std::string_view k) { return k; }
    static std::string_view view(const std::shared_ptr<HostEntry>& e) { return e->key(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return view(a) == view(b);
    }
  };

  const std::shared_ptr<HostEntry>* lookup(std::string_view key) const;
  uint32_t slot_of(const std::shared_ptr<Server>& s);

  std::unordered_set<std::shared_ptr<HostEntry>, Hash, Eq> table_;
  // Slots: every server the map's entries have named, kept (never reused) so an entry's slot
  // numbers stay valid for as long as anyone holds the entry. Grows with distinct uids only.
  std::vector<std::shared_ptr<Server>> slots_;
  std::unordered_map<uint32_t, uint32_t> slot_by_uid_;
  std::string wildcard_;  // reused by find() for "*.parent" keys: no allocation per request
};

// What a route lookup found: the route, and for a host map route the entry that matched (the
// request keeps it: its subset does not change under it).
struct HostTarget {
  HostMap* map = nullptr;  // alive as long as the snapshot holding the route
  std::shared_ptr<HostEntry> entry;
  explicit operator bool() const { return entry != nullptr; }
};

}  // namespace epoxy
