// What the engine tells the control plane. Events gather during one loop iteration and cross
// to JS as one batch; the engine wakes JS only when no batch is already waiting.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace epoxy {

struct EventBatch {
  // Select requests, 5 numbers each: token, listener index, client address index (into
  // `addresses`), client port, and the index of its first string in `requests` or kNoRequest:
  // for an HTTP request 4 strings (method, target, normalized host, raw head); for a TCP
  // connection that began with a ClientHello 2 (SNI or "" when it had none, the ALPN protocols
  // each followed by '\0'). The JS side answers with (token, target) pairs.
  std::vector<uint32_t> selects;
  std::vector<std::string> addresses;
  std::vector<std::string> requests;
  std::vector<std::pair<uint32_t, std::string>> stats;  // (request token, JSON)
  std::vector<std::string> logs;                        // JSON objects
  // Passive health changes decided by the engine.
  struct ServerState {
    uint32_t uid = 0;
    bool ejected = false;  // false: returned from an ejection
    std::string reason;
  };
  std::vector<ServerState> server_states;
  bool stopped = false;

  static constexpr size_t kSelectRecord = 5;
  static constexpr uint32_t kNoRequest = 0xffffffffu;

  bool empty() const {
    return selects.empty() && stats.empty() && logs.empty() && server_states.empty() && !stopped;
  }

  void append(EventBatch&& o) {
    uint32_t offset = static_cast<uint32_t>(addresses.size());
    uint32_t req_offset = static_cast<uint32_t>(requests.size());
    for (size_t i = 0; i < o.selects.size(); i += kSelectRecord) {
      uint32_t req = o.selects[i + 4] == kNoRequest ? kNoRequest : o.selects[i + 4] + req_offset;
      selects.insert(selects.end(), {o.selects[i], o.selects[i + 1], o.selects[i + 2] + offset, o.selects[i + 3], req});
    }
    for (auto& a : o.addresses) addresses.push_back(std::move(a));
    for (auto& r : o.requests) requests.push_back(std::move(r));
    for (auto& s : o.stats) stats.push_back(std::move(s));
    for (auto& l : o.logs) logs.push_back(std::move(l));
    for (auto& st : o.server_states) server_states.push_back(std::move(st));
    stopped = stopped || o.stopped;
  }
};

// Select reply targets (the second number of each pair).
constexpr uint32_t kTargetBalancer = 0;
constexpr uint32_t kTargetPoolFlag = 0x40000000u;    // | pool uid
constexpr uint32_t kTargetServerFlag = 0x80000000u;  // | server uid
constexpr uint32_t kTargetUidMask = 0x3fffffffu;

}  // namespace epoxy
