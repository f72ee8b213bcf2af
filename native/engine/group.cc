#include "group.h"

#include <algorithm>

#include "../net/socket.h"

namespace epoxy {

EngineGroup::EngineGroup(std::function<void()> wake) : wake_(std::move(wake)) {}

EngineGroup::~EngineGroup() {
  // Every thread ends before any engine goes: a running engine may post to its peers.
  stop(0);
  join();
}

bool EngineGroup::start(const GroupOptions& options, std::string& error) {
  if (!engines_.empty()) {
    error = "engine group already started";
    return false;
  }
  uint32_t n = options.threads;
  if (n < 1 || n > kMaxThreads) {
    error = "threads must be from 1 to " + std::to_string(kMaxThreads);
    return false;
  }
  std::vector<Engine*> peers;
  for (uint32_t i = 0; i < n; ++i) {
    engines_.push_back(std::make_unique<Engine>([this] {
      if (!scheduled_.exchange(true)) wake_();
    }));
    peers.push_back(engines_.back().get());
  }
  for (uint32_t i = 0; i < n; ++i) {
    int cpu = options.cpus.empty() ? -1 : options.cpus[i % options.cpus.size()];
    engines_[i]->link({i, shared_, peers, cpu});
  }
  stopped_.assign(n, false);
  for (auto& e : engines_) {
    if (!e->start(error)) {
      stop(0);
      join();
      engines_.clear();
      return false;
    }
  }
  return true;
}

bool EngineGroup::apply(SnapshotSpec spec, std::string& error) {
  if (engines_.empty()) {
    error = "engine not started";
    return false;
  }
  if (!check_snapshot_spec(spec, error)) return false;
  // Sockets for the binds the engines do not have yet: one per engine.
  std::vector<std::vector<std::pair<std::string, Fd>>> fresh(engines_.size());
  std::set<std::string> binds;
  for (const ListenerSpec& l : spec.listeners) binds.insert(l.bind);
  settle_released(binds, released_, [this](int ms) {
    bool all = true;
    for (auto& e : engines_) all = e->wait_applied(ms) && all;
    return all;
  });
  for (const ListenerSpec& l : spec.listeners) {
    if (bound_.count(l.bind)) continue;
    std::string why;
    std::vector<Fd> fds = open_listeners(l.addr, l.backlog, l.congestion, engines_.size(), why);
    if (fds.empty()) {
      error = "listener \"" + l.name + "\" (" + l.bind + "): " + why;
      return false;  // sockets bound so far close with `fresh`
    }
    for (size_t i = 0; i < fds.size(); ++i) fresh[i].emplace_back(l.bind, std::move(fds[i]));
  }
  note_released(bound_, binds, released_);
  bound_ = std::move(binds);
  auto shared_spec = std::make_shared<const SnapshotSpec>(std::move(spec));
  for (size_t i = 0; i < engines_.size(); ++i) engines_[i]->post_apply(shared_spec, std::move(fresh[i]));
  return true;
}

uint64_t EngineGroup::pending_applies() const {
  uint64_t most = 0;
  for (const auto& e : engines_) most = std::max(most, e->pending_applies());
  return most;
}

bool EngineGroup::add_server(uint32_t pool_uid, ServerSpec server, std::string& error) {
  for (auto& e : engines_) {
    if (!e->add_server(pool_uid, server, error)) return false;  // a bad address fails on the first
  }
  return true;
}

void EngineGroup::remove_server(uint32_t uid) {
  for (auto& e : engines_) e->remove_server(uid);
}

void EngineGroup::update_server(const ServerUpdate& update) {
  for (auto& e : engines_) e->update_server(update);
}

void EngineGroup::set_hosts(uint32_t map_uid, std::shared_ptr<const HostBatch> batch) {
  for (auto& e : engines_) e->set_hosts(map_uid, batch);
}

void EngineGroup::select_replies(const std::vector<uint32_t>& pairs) {
  std::vector<std::vector<uint32_t>> parts(engines_.size());
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    uint32_t engine = pairs[i] >> kTokenEngineShift;
    if (engine >= parts.size()) continue;  // not a token of ours
    parts[engine].insert(parts[engine].end(), {pairs[i], pairs[i + 1]});
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].empty()) engines_[i]->select_replies(std::move(parts[i]));
  }
}

void EngineGroup::request_stats(uint32_t token) {
  for (auto& e : engines_) e->request_stats(token);
}

void EngineGroup::stop(uint32_t grace_ms) {
  for (auto& e : engines_) e->stop(grace_ms);
}

void EngineGroup::join() {
  for (auto& e : engines_) e->join();
}

EventBatch EngineGroup::take_events() {
  scheduled_.store(false);
  EventBatch out;
  for (size_t i = 0; i < engines_.size(); ++i) merge(out, engines_[i]->take_events(), i);
  return out;
}

void EngineGroup::merge(EventBatch& out, EventBatch&& part, size_t engine) {
  std::vector<std::pair<uint32_t, std::string>> stats = std::move(part.stats);
  part.stats.clear();
  bool stopped = part.stopped;
  part.stopped = false;
  out.append(std::move(part));
  for (auto& [token, json] : stats) {
    std::vector<std::string>& parts = stats_parts_[token];
    parts.push_back(std::move(json));
    if (parts.size() < engines_.size()) continue;
    std::string all = "{\"threads\":[";
    for (size_t i = 0; i < parts.size(); ++i) all += (i ? "," : "") + parts[i];
    all += "]}";
    out.stats.emplace_back(token, std::move(all));
    stats_parts_.erase(token);
  }
  if (stopped) stopped_[engine] = true;
  bool all_stopped = !stopped_.empty();
  for (bool s : stopped_) all_stopped = all_stopped && s;
  if (all_stopped && stopped) out.stopped = true;
}

}  // namespace epoxy
