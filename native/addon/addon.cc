// The only code that knows N-API: the JS-facing Engine object, the threadsafe function that
// carries event batches to JS, and the conversion of specs and events. Typed for TS in
// src/native.ts. No C++ exception crosses this boundary (node_addon_api, no-exceptions mode):
// bad input becomes a thrown JS error and the call returns.
#include <napi.h>

#include <memory>
#include <functional>
#include <mutex>
#include <string>

#include "../engine/engine.h"
#include "http_testing.h"

namespace epoxy {
namespace {

// Shared between the engine thread (wake) and the JS thread. The TSFN finalizer may run
// before the EngineWrap destructor at process exit, so both sides check `alive`.
struct Wakeup {
  std::mutex mu;
  bool alive = false;
  Napi::ThreadSafeFunction tsfn;
};

bool throw_type(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, "epoxy native: " + msg).ThrowAsJavaScriptException();
  return false;
}

bool read_u32(Napi::Object o, const char* key, uint32_t& out, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return throw_type(o.Env(), where + "." + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d))) {
    return throw_type(o.Env(), where + "." + key + " must be a 32-bit unsigned integer");
  }
  out = static_cast<uint32_t>(d);
  return true;
}

bool read_string(Napi::Object o, const char* key, std::string& out, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return throw_type(o.Env(), where + "." + key + " must be a string");
  out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool read_array(Napi::Object o, const char* key, Napi::Array& out, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return throw_type(o.Env(), where + "." + key + " must be an array");
  out = v.As<Napi::Array>();
  return true;
}

bool read_object(Napi::Value v, Napi::Object& out, const std::string& where) {
  if (!v.IsObject()) return throw_type(v.Env(), where + " must be an object");
  out = v.As<Napi::Object>();
  return true;
}

bool read_server(Napi::Value v, ServerSpec& s, const std::string& where) {
  Napi::Object o;
  return read_object(v, o, where) && read_u32(o, "uid", s.uid, where) &&
         read_string(o, "address", s.address, where) && read_u32(o, "weight", s.weight, where);
}

bool read_pool(Napi::Value v, PoolSpec& p, const std::string& where) {
  Napi::Object o;
  Napi::Array servers;
  uint32_t balance = 0;
  if (!read_object(v, o, where) || !read_u32(o, "uid", p.uid, where) || !read_string(o, "name", p.name, where) ||
      !read_u32(o, "balance", balance, where) || !read_u32(o, "retries", p.retries, where) ||
      !read_array(o, "servers", servers, where)) {
    return false;
  }
  if (balance > 1) return throw_type(v.Env(), where + ".balance is unknown");
  p.balance = static_cast<lb::Algorithm>(balance);
  for (uint32_t i = 0; i < servers.Length(); ++i) {
    ServerSpec s;
    if (!read_server(servers.Get(i), s, where + ".servers[" + std::to_string(i) + "]")) return false;
    p.servers.push_back(std::move(s));
  }
  return true;
}

bool read_route(Napi::Value v, RouteSpec& r, const std::string& where) {
  Napi::Object o;
  uint32_t pool = 0;
  if (!read_object(v, o, where) || !read_string(o, "host", r.host, where) || !read_string(o, "path", r.path, where) ||
      !read_u32(o, "pool", pool, where)) {
    return false;
  }
  r.pool = static_cast<int32_t>(pool);
  return true;
}

bool read_listener(Napi::Value v, ListenerSpec& l, const std::string& where) {
  Napi::Object o;
  uint32_t backlog = 0;
  uint32_t pool = 0;
  std::string mode;
  Napi::Array routes;
  if (!read_object(v, o, where) || !read_string(o, "name", l.name, where) || !read_string(o, "bind", l.bind, where) ||
      !read_u32(o, "backlog", backlog, where) || !read_string(o, "mode", mode, where)) {
    return false;
  }
  l.backlog = static_cast<int>(backlog > 65535 ? 65535 : backlog);
  if (mode == "tcp") {
    l.mode = ListenerMode::Tcp;
    if (!read_u32(o, "pool", pool, where)) return false;
    l.pool = static_cast<int32_t>(pool);
    return true;
  }
  if (mode != "http") return throw_type(v.Env(), where + ".mode must be \"tcp\" or \"http\"");
  l.mode = ListenerMode::Http;
  if (!read_array(o, "routes", routes, where)) return false;
  for (uint32_t i = 0; i < routes.Length(); ++i) {
    RouteSpec r;
    if (!read_route(routes.Get(i), r, where + ".routes[" + std::to_string(i) + "]")) return false;
    l.routes.push_back(std::move(r));
  }
  return true;
}

bool read_snapshot(Napi::Value v, SnapshotSpec& spec) {
  Napi::Object o, t, tu;
  Napi::Array listeners, pools;
  if (!read_object(v, o, "spec") || !read_array(o, "listeners", listeners, "spec") ||
      !read_array(o, "pools", pools, "spec") || !read_object(o.Get("timeouts"), t, "spec.timeouts") ||
      !read_object(o.Get("tuning"), tu, "spec.tuning")) {
    return false;
  }
  for (uint32_t i = 0; i < pools.Length(); ++i) {
    PoolSpec p;
    if (!read_pool(pools.Get(i), p, "spec.pools[" + std::to_string(i) + "]")) return false;
    spec.pools.push_back(std::move(p));
  }
  for (uint32_t i = 0; i < listeners.Length(); ++i) {
    ListenerSpec l;
    if (!read_listener(listeners.Get(i), l, "spec.listeners[" + std::to_string(i) + "]")) return false;
    spec.listeners.push_back(std::move(l));
  }
  Timeouts& to = spec.timeouts;
  Tuning& tn = spec.tuning;
  if (!read_u32(t, "httpRequestMs", to.http_request_ms, "spec.timeouts") ||
      !read_u32(t, "connectMs", to.connect_ms, "spec.timeouts") || !read_u32(t, "clientMs", to.client_ms, "spec.timeouts") ||
      !read_u32(t, "serverMs", to.server_ms, "spec.timeouts") || !read_u32(t, "tunnelMs", to.tunnel_ms, "spec.timeouts") ||
      !read_u32(t, "selectMs", to.select_ms, "spec.timeouts") || !read_u32(tu, "pipeSize", tn.pipe_size, "spec.tuning") ||
      !read_u32(tu, "maxPipes", tn.max_pipes, "spec.tuning") ||
      !read_u32(tu, "spliceThreshold", tn.splice_threshold, "spec.tuning") ||
      !read_u32(tu, "maxHeadBytes", tn.max_head, "spec.tuning") ||
      !read_u32(tu, "serverIdleMax", tn.server_idle_max, "spec.tuning") ||
      !read_u32(tu, "serverIdleMs", tn.server_idle_ms, "spec.tuning")) {
    return false;
  }
  spec.select_hook = o.Get("selectHook").ToBoolean().Value();
  spec.access_log = o.Get("accessLog").ToBoolean().Value();
  return true;
}

Napi::Object batch_to_js(Napi::Env env, EventBatch& b) {
  Napi::Object out = Napi::Object::New(env);
  if (!b.selects.empty()) {
    auto arr = Napi::Uint32Array::New(env, b.selects.size());
    std::copy(b.selects.begin(), b.selects.end(), arr.Data());
    out.Set("selects", arr);
    auto addrs = Napi::Array::New(env, b.addresses.size());
    for (uint32_t i = 0; i < b.addresses.size(); ++i) addrs.Set(i, b.addresses[i]);
    out.Set("addresses", addrs);
    if (!b.requests.empty()) {
      auto reqs = Napi::Array::New(env, b.requests.size());
      for (uint32_t i = 0; i < b.requests.size(); ++i) {
        // latin1: a head may carry obs-text bytes, which are not UTF-8.
        napi_value str;
        napi_create_string_latin1(env, b.requests[i].data(), b.requests[i].size(), &str);
        reqs.Set(i, Napi::Value(env, str));
      }
      out.Set("requests", reqs);
    }
  }
  if (!b.stats.empty()) {
    auto arr = Napi::Array::New(env, b.stats.size());
    for (uint32_t i = 0; i < b.stats.size(); ++i) {
      auto pair = Napi::Array::New(env, 2);
      pair.Set(0u, b.stats[i].first);
      pair.Set(1u, b.stats[i].second);
      arr.Set(i, pair);
    }
    out.Set("stats", arr);
  }
  if (!b.logs.empty()) {
    auto arr = Napi::Array::New(env, b.logs.size());
    for (uint32_t i = 0; i < b.logs.size(); ++i) arr.Set(i, b.logs[i]);
    out.Set("logs", arr);
  }
  if (b.stopped) out.Set("stopped", true);
  return out;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod("apply", &EngineWrap::Apply), InstanceMethod("addServer", &EngineWrap::AddServer),
                        InstanceMethod("removeServer", &EngineWrap::RemoveServer),
                        InstanceMethod("selectReply", &EngineWrap::SelectReply),
                        InstanceMethod("requestStats", &EngineWrap::RequestStats),
                        InstanceMethod("takeEvents", &EngineWrap::TakeEvents),
                        InstanceMethod("stop", &EngineWrap::Stop), InstanceMethod("close", &EngineWrap::Close),
                        InstanceMethod("ref", &EngineWrap::Ref), InstanceMethod("unref", &EngineWrap::Unref)});
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw_type(env, "new Engine(onEvents) needs a function");
      return;
    }
    wakeup_ = std::make_shared<Wakeup>();
    std::shared_ptr<Wakeup> w = wakeup_;
    engine_ = std::make_shared<Engine>([w] {
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
    if (!engine_->start(error)) {
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

  std::shared_ptr<Engine> engine_;
  std::shared_ptr<Wakeup> wakeup_;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  bool cleanup_ran_ = false;
};

}  // namespace
}  // namespace epoxy

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", epoxy::EngineWrap::Define(env));
  epoxy::register_http_testing(env, exports);
  return exports;
}

NODE_API_MODULE(epoxy, Init)
