// HashRing for JS: the engine's consistent-hash ring (native/lb/ring.h), so that
// `pool.pick(key)` in TypeScript answers exactly what the engine's balancer would choose.
#pragma once

#include <napi.h>

namespace epoxy {

Napi::Function define_hash_ring(Napi::Env env);

}  // namespace epoxy
