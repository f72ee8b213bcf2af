#include "hash_ring.h"

#include <string>
#include <vector>

#include "../lb/ring.h"

namespace epoxy {
namespace {

// new HashRing(ids: string[], weights: number[]); ring.pick(key: string, eligible?: Uint8Array)
// returns the index of the member that owns `key` (skipping members whose eligible byte is 0),
// or -1 when none is eligible.
class HashRingWrap : public Napi::ObjectWrap<HashRingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HashRing", {InstanceMethod("pick", &HashRingWrap::Pick)});
  }

  explicit HashRingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HashRingWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray() ||
        info[0].As<Napi::Array>().Length() != info[1].As<Napi::Array>().Length()) {
      Napi::TypeError::New(env, "epoxy native: new HashRing(ids, weights) needs two arrays of one length")
          .ThrowAsJavaScriptException();
      return;
    }
    auto ids = info[0].As<Napi::Array>();
    auto weights = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < ids.Length(); ++i) {
      Napi::Value id = ids.Get(i);
      Napi::Value w = weights.Get(i);
      if (!id.IsString() || !w.IsNumber() || w.As<Napi::Number>().Uint32Value() == 0) {
        Napi::TypeError::New(env, "epoxy native: HashRing member " + std::to_string(i) + " needs an id and a weight >= 1")
            .ThrowAsJavaScriptException();
        return;
      }
      ids_.push_back(id.As<Napi::String>().Utf8Value());
      weights_.push_back(w.As<Napi::Number>().Uint32Value());
    }
    std::vector<lb::RingMember> members;
    for (size_t i = 0; i < ids_.size(); ++i) members.push_back({ids_[i], weights_[i]});
    ring_.build(members);
  }

 private:
  Napi::Value Pick(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "epoxy native: pick(key) needs a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string key = info[0].As<Napi::String>().Utf8Value();
    const uint8_t* eligible = nullptr;
    size_t eligible_len = 0;
    if (info.Length() > 1 && info[1].IsTypedArray()) {
      auto arr = info[1].As<Napi::Uint8Array>();
      eligible = arr.Data();
      eligible_len = arr.ElementLength();
    }
    int at = ring_.pick(lb::hash_bytes(key), [&](uint32_t i) {
      return eligible == nullptr || (i < eligible_len && eligible[i] != 0);
    });
    return Napi::Number::New(env, at);
  }

  std::vector<std::string> ids_;
  std::vector<uint32_t> weights_;
  lb::HashRing ring_;
};

}  // namespace

Napi::Function define_hash_ring(Napi::Env env) { return HashRingWrap::Define(env); }

}  // namespace epoxy
