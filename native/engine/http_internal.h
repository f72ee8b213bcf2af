// What the files of HttpSession share (http_session.cc: lifecycle, loop and request half;
// http_upstream.cc: routing, server choice, queue, connect and retry; http_response.cc: the
// response half; http_endings.cc: tunnel, generated responses, timers, close, access log).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../io/buffer_pool.h"
#include "../io/channel.h"

namespace epoxy::http_internal {

inline constexpr size_t kReadBudget = 1u << 20;
inline constexpr int64_t kLingerMs = 2000;
inline constexpr int kMaxStepsPerRun = 64;

inline std::string_view view(const Buffer& b, size_t len) { return {reinterpret_cast<const char*>(b.get()), len}; }

// Termination codes in the spirit of haproxy's: who ended it (C client, S server, P proxy,
// c/s a client/server timeout, - nobody) and in which state (R request, C connect, H response
// head, D data, - complete).
inline constexpr const char* kTermNormal = "--";

// The path of a request target: absolute-form targets ("http://host/p") route and hash on
// their path.
inline std::string_view path_of(std::string_view target) {
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && !target.empty() && target.front() != '/') {
    size_t slash = target.find('/', scheme + 3);
    return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target;
}

// A length-bounded channel that read its whole limit and wrote it all out.
inline bool drained(const Channel& ch) { return ch.limit() == 0 && !ch.held(); }

// Keeps a head's header vector (its capacity) while resetting everything else.
template <typename Head>
void reset_head(Head& head) {
  auto headers = std::move(head.headers);
  head = Head{};
  headers.clear();
  head.headers = std::move(headers);
}

}  // namespace epoxy::http_internal
