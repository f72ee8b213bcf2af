#include "host_map.h"

#include "model.h"

namespace epoxy {

bool check_host_batch(const HostBatch& batch, std::string& error) {
  if (batch.counts.size() != batch.hosts.size()) {
    error = "counts has " + std::to_string(batch.counts.size()) + " entries for " + std::to_string(batch.hosts.size()) +
            " hosts";
    return false;
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < batch.counts.size(); ++i) {
    if (batch.counts[i] == kHostRemoved) continue;
    if (batch.counts[i] > HostEntry::kMaxServers) {
      error = "counts[" + std::to_string(i) + "] is over " + std::to_string(HostEntry::kMaxServers) + " servers";
      return false;
    }
    if (batch.hosts[i].size() > HostEntry::kMaxKey) {
      error = "hosts[" + std::to_string(i) + "] is longer than " + std::to_string(HostEntry::kMaxKey) + " bytes";
      return false;
    }
    sum += batch.counts[i];
  }
  if (sum != batch.servers.size()) {
    error = "the counts add up to " + std::to_string(sum) + " but servers has " + std::to_string(batch.servers.size()) +
            " uids";
    return false;
  }
  return true;
}

HostEntry::HostEntry(std::string_view key, std::span<const uint32_t> slots)
    : slots_(static_cast<uint16_t>(slots.size())), key_len_(static_cast<uint16_t>(key.size())) {
  char* out = inline_;
  if (spilled()) {
    std::construct_at(&spill_, std::make_unique_for_overwrite<char[]>(slots.size() * sizeof(uint32_t) + key.size()));
    out = spill_.get();
  }
  if (!slots.empty()) std::memcpy(out, slots.data(), slots.size() * sizeof(uint32_t));
  if (!key.empty()) std::memcpy(out + slots.size() * sizeof(uint32_t), key.data(), key.size());
}

HostEntry::~HostEntry() {
  if (spilled()) std::destroy_at(&spill_);
}

const std::shared_ptr<HostEntry>* HostMap::lookup(std::string_view key) const {
  auto it = table_.find(key);
  return it == table_.end() ? nullptr : &*it;
}

std::shared_ptr<HostEntry> HostMap::find(std::string_view host) {
  const std::shared_ptr<HostEntry>* e = host.empty() ? nullptr : lookup(host);
  // The walk: each '.' that leaves a non-empty label before it starts a "*.parent" key. The
  // first dot is skipped by starting at 1, so ".foo.com" (no label) never matches *.foo.com,
  // as Route::host_matches would not either.
  for (size_t dot = host.find('.', 1); !e && dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
    wildcard_.assign(1, '*');
    wildcard_.append(host.substr(dot));
    e = lookup(wildcard_);
  }
  if (!e) {
    ++misses;
    return nullptr;
  }
  ++hits;
  if ((*e)->size() == 0) ++empty;
  return *e;
}

uint32_t HostMap::slot_of(const std::shared_ptr<Server>& s) {
  auto [it, fresh] = slot_by_uid_.try_emplace(s->uid, static_cast<uint32_t>(slots_.size()));
  if (fresh) slots_.push_back(s);
  return it->second;
}

void HostMap::apply(const HostBatch& batch) {
  if (!pool) return;
  // The pool's servers by uid, once per batch: a batch of 100k hosts costs one index, not a
  // scan of the pool per uid.
  std::unordered_map<uint32_t, const std::shared_ptr<Server>*> by_uid;
  by_uid.reserve(pool->servers.size());
  for (const auto& s : pool->servers) by_uid.emplace(s->uid, &s);
  if (table_.empty()) table_.reserve(batch.hosts.size());
  std::vector<uint32_t> slots;
  size_t next = 0;
  for (size_t i = 0; i < batch.hosts.size() && i < batch.counts.size(); ++i) {
    const std::string& host = batch.hosts[i];
    uint32_t count = batch.counts[i];
    if (auto it = table_.find(std::string_view(host)); it != table_.end()) table_.erase(it);
    if (count == kHostRemoved) continue;
    slots.clear();
    for (uint32_t k = 0; k < count && next < batch.servers.size(); ++k, ++next) {
      auto s = by_uid.find(batch.servers[next]);
      if (s == by_uid.end()) continue;  // not (or no longer) in the map's pool here: skipped
      slots.push_back(slot_of(*s->second));
    }
    if (host.size() > HostEntry::kMaxKey || slots.size() > HostEntry::kMaxServers) continue;
    table_.insert(std::make_shared<HostEntry>(host, slots));
  }
}

bool HostMap::in_pool(const Server& s) const { return !s.removed && s.pool == pool.get(); }

void HostMap::refresh_servers() {
  if (!pool) return;
  for (const auto& s : pool->servers) {
    auto it = slot_by_uid_.find(s->uid);
    if (it != slot_by_uid_.end()) slots_[it->second] = s;
  }
}

}  // namespace epoxy
