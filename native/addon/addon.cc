// The only code that knows N-API: the JS-facing Engine object, the threadsafe function that
// carries event batches to JS, and the conversion of specs and events. Typed for TS in
// src/native.ts. No C++ exception crosses this boundary (node_addon_api, no-exceptions mode):
// bad input becomes a thrown JS error and the call returns.
#include <napi.h>

#include <memory>
#include <functional>
#include <mutex>
#include <string>

#include "../engine/group.h"
#include "convert.h"
#include "hash_ring.h"

namespace epoxy {
namespace {

// Shared between the engine thread (wake) and the JS thread. The TSFN finalizer may run
// before the EngineWrap destructor at process exit, so both sides check `alive`.
struct Wakeup {
  std::mutex mu;
  bool alive = false;
  Napi::ThreadSafeFunction tsfn;
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod("apply", &EngineWrap::Apply), InstanceMethod("addServer", &EngineWrap::AddServer),
                        InstanceMethod("removeServer", &EngineWrap::RemoveServer),
                        InstanceMethod("updateServer", &EngineWrap::UpdateServer),
                        InstanceMethod("setHosts", &EngineWrap::SetHosts),
                        InstanceMethod("selectReply", &EngineWrap::SelectReply),
                        InstanceMethod("requestStats", &EngineWrap::RequestStats),
                        InstanceMethod("pendingApplies", &EngineWrap::PendingApplies),
                        InstanceMethod("takeEvents", &EngineWrap::TakeEvents),
                        InstanceMethod("stop", &EngineWrap::Stop), InstanceMethod("close", &EngineWrap::Close),
                        InstanceMethod("ref", &EngineWrap::Ref), InstanceMethod("unref", &EngineWrap::Unref)});
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw_type(env, "new Engine(onEvents, options) needs a function");
      return;
    }
    GroupOptions options;
    if (info.Length() > 1 && !read_group_options(info[1], options)) return;
    wakeup_ = std::make_shared<Wakeup>();
    std::shared_ptr<Wakeup> w = wakeup_;
    engine_ = std::make_shared<EngineGroup>([w] {
      std::lock_guard<std::mutex> lock(w->mu);
      if (w->alive) w->tsfn.NonBlockingCall();
    });
    // The JS callback runs with no arguments and pulls the batch with takeEvents().
    wakeup_->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "epoxy-engine", 0, 1,
                                                  [w](Napi::Env) {
                                                    std::lock_guard<std::mutex> lock(w->mu);
                                                    w->alive = false;
                                                  });
    wakeup_->alive = true;
    cleanup_ = env.AddCleanupHook(std::function<void()>([this] {
      cleanup_ran_ = true;
      Shutdown();
    }));
    std::string error;
    if (!engine_->start(options, error)) {
      Napi::Error::New(env, "epoxy: cannot start engine: " + error).ThrowAsJavaScriptException();
      Shutdown();
    }
  }

  ~EngineWrap() override {
    if (!cleanup_ran_ && !cleanup_.IsEmpty()) cleanup_.Remove(Env());
    Shutdown();
  }

 private:
  Napi::Value Apply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    SnapshotSpec spec;
    if (!read_snapshot(info[0], spec)) return env.Undefined();
    std::string error;
    if (!engine_->apply(std::move(spec), error)) Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value AddServer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!info[0].IsNumber()) return throw_type(env, "addServer(poolUid, server)"), env.Undefined();
    ServerSpec s;
    if (!read_server(info[1], s, "server")) return env.Undefined();
    std::string error;
    if (!engine_->add_server(info[0].As<Napi::Number>().Uint32Value(), std::move(s), error)) {
      Napi::Error::New(env, error).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value RemoveServer(const Napi::CallbackInfo& info) {
    if (Usable(info.Env()) && info[0].IsNumber()) engine_->remove_server(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value UpdateServer(const Napi::CallbackInfo& info) {
    ServerUpdate u;
    if (Usable(info.Env()) && read_update(info[0], u)) engine_->update_server(u);
    return info.Env().Undefined();
  }

  // setHosts(mapUid, batch): checked here, so a bad batch throws and never reaches an engine;
  // every engine thread then applies the same immutable batch to its own map.
  Napi::Value SetHosts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!info[0].IsNumber()) return throw_type(env, "setHosts(mapUid, batch) needs a map uid"), env.Undefined();
    double uid = info[0].As<Napi::Number>().DoubleValue();
    if (uid < 0 || uid > 4294967295.0 || uid != static_cast<double>(static_cast<uint32_t>(uid))) {
      return throw_type(env, "setHosts: mapUid must be a 32-bit unsigned integer"), env.Undefined();
    }
    auto batch = std::make_shared<HostBatch>();
    if (!read_host_batch(info[1], *batch, "batch")) return env.Undefined();
    engine_->set_hosts(static_cast<uint32_t>(uid), std::move(batch));
    return env.Undefined();
  }

  Napi::Value SelectReply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      return throw_type(env, "selectReply needs a Uint32Array of (token, target) pairs"), env.Undefined();
    }
    auto arr = info[0].As<Napi::Uint32Array>();
    engine_->select_replies(std::vector<uint32_t>(arr.Data(), arr.Data() + arr.ElementLength()));
    return env.Undefined();
  }

  Napi::Value RequestStats(const Napi::CallbackInfo& info) {
    if (Usable(info.Env()) && info[0].IsNumber()) engine_->request_stats(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value PendingApplies(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(engine_->pending_applies()));
  }

  Napi::Value TakeEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return Napi::Object::New(env);
    EventBatch batch = engine_->take_events();
    return batch_to_js(env, batch);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (Usable(info.Env())) engine_->stop(info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0);
    return info.Env().Undefined();
  }

  // Joins the engine thread and closes every fd it owned. Call after `stopped` arrived.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(wakeup_->mu);
    if (wakeup_->alive) wakeup_->tsfn.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(wakeup_->mu);
    if (wakeup_->alive) wakeup_->tsfn.Unref(info.Env());
    return info.Env().Undefined();
  }

  bool Usable(Napi::Env env) {
    if (engine_) return true;
    Napi::Error::New(env, "epoxy: engine is closed").ThrowAsJavaScriptException();
    return false;
  }

  void Shutdown() {
    if (engine_) {
      engine_->stop(0);
      engine_->join();
      engine_.reset();
    }
    if (wakeup_) {
      std::lock_guard<std::mutex> lock(wakeup_->mu);
      if (wakeup_->alive) {
        wakeup_->alive = false;
        wakeup_->tsfn.Release();
      }
    }
  }

  std::shared_ptr<EngineGroup> engine_;
  std::shared_ptr<Wakeup> wakeup_;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  bool cleanup_ran_ = false;
};

}  // namespace
}  // namespace epoxy

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", epoxy::EngineWrap::Define(env));
  exports.Set("HashRing", epoxy::define_hash_ring(env));
  return exports;
}

NODE_API_MODULE(epoxy, Init)
