// Monotonic milliseconds. The loop reads the clock once per iteration; timeouts need no better
// than the coarse clock's few-millisecond resolution, and it costs no syscall (vDSO).
#pragma once

#include <time.h>

#include <cstdint>

namespace epoxy {

inline int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace epoxy
