#include "convert.h"

#include <cstdint>

namespace epoxy {

bool throw_type(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, "epoxy native: " + msg).ThrowAsJavaScriptException();
  return false;
}

namespace {

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

}  // namespace

bool read_server(Napi::Value v, ServerSpec& s, const std::string& where) {
  Napi::Object o;
  uint32_t admin = 0;
  uint32_t proxy_protocol = 0;
  if (!read_object(v, o, where) || !read_u32(o, "uid", s.uid, where) || !read_string(o, "address", s.address, where) ||
      !read_u32(o, "weight", s.weight, where) || !read_u32(o, "maxconn", s.maxconn, where) ||
      !read_u32(o, "admin", admin, where) || !read_u32(o, "proxyProtocol", proxy_protocol, where)) {
    return false;
  }
  if (admin > 2) return throw_type(v.Env(), where + ".admin is unknown");
  if (proxy_protocol > 2) return throw_type(v.Env(), where + ".proxyProtocol must be 0, 1 or 2");
  s.proxy_protocol = static_cast<uint8_t>(proxy_protocol);
  s.admin = static_cast<AdminState>(admin);
  s.check_up = o.Get("up").ToBoolean().Value();
  return true;
}

namespace {

bool read_passive(Napi::Value v, PassiveSpec& p, const std::string& where) {
  Napi::Object o;
  if (!read_object(v, o, where) || !read_u32(o, "errors", p.errors, where) ||
      !read_u32(o, "windowMs", p.window_ms, where) || !read_u32(o, "ejectMs", p.eject_ms, where)) {
    return false;
  }
  p.count_5xx = o.Get("count5xx").ToBoolean().Value();
  return true;
}

bool read_pool(Napi::Value v, PoolSpec& p, const std::string& where) {
  Napi::Object o;
  Napi::Array servers;
  uint32_t balance = 0;
  uint32_t hash_key = 0;
  if (!read_object(v, o, where) || !read_u32(o, "uid", p.uid, where) || !read_string(o, "name", p.name, where) ||
      !read_u32(o, "balance", balance, where) || !read_u32(o, "hashKey", hash_key, where) ||
      !read_string(o, "hashHeader", p.hash_header, where) || !read_u32(o, "retries", p.retries, where) ||
      !read_u32(o, "queueTimeoutMs", p.queue_timeout_ms, where) || !read_u32(o, "queueLimit", p.queue_limit, where) ||
      !read_passive(o.Get("passive"), p.passive, where + ".passive") ||
      !read_string(o, "congestion", p.congestion, where) || !read_array(o, "servers", servers, where)) {
    return false;
  }
  if (balance > 3) return throw_type(v.Env(), where + ".balance is unknown");
  if (hash_key > 3) return throw_type(v.Env(), where + ".hashKey is unknown");
  p.balance = static_cast<lb::Algorithm>(balance);
  p.hash_key = static_cast<HashKey>(hash_key);
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
      !read_string(o, "alpn", r.alpn, where) || !read_u32(o, "pool", pool, where)) {
    return false;
  }
  r.pool = static_cast<int32_t>(pool);
  if (o.Get("hostMap").IsUndefined()) return true;
  uint32_t host_map = 0;
  if (!read_u32(o, "hostMap", host_map, where)) return false;
  if (host_map > INT32_MAX) return throw_type(v.Env(), where + ".hostMap is out of range");
  r.host_map = static_cast<int32_t>(host_map);
  return true;
}

bool read_u32_array(Napi::Object o, const char* key, std::vector<uint32_t>& out, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    return throw_type(o.Env(), where + "." + key + " must be a Uint32Array");
  }
  auto arr = v.As<Napi::Uint32Array>();
  out.assign(arr.Data(), arr.Data() + arr.ElementLength());
  return true;
}

bool read_host_map(Napi::Value v, HostMapSpec& m, const std::string& where) {
  Napi::Object o;
  uint32_t pool = 0;
  uint32_t balance = 0;
  if (!read_object(v, o, where) || !read_u32(o, "uid", m.uid, where) || !read_string(o, "name", m.name, where) ||
      !read_u32(o, "pool", pool, where) || !read_u32(o, "balance", balance, where)) {
    return false;
  }
  std::string named = where + " (\"" + m.name + "\")";
  if (balance == 3) return throw_type(v.Env(), named + ".balance: hash is not a host map balancer (roundrobin, leastconn or p2c)");
  if (balance > 3) return throw_type(v.Env(), named + ".balance is unknown");
  if (pool > INT32_MAX) return throw_type(v.Env(), named + ".pool is out of range");
  m.pool = static_cast<int32_t>(pool);
  m.balance = static_cast<lb::Algorithm>(balance);
  Napi::Value initial = o.Get("initial");
  if (initial.IsUndefined() || initial.IsNull()) return true;
  return read_host_batch(initial, m.initial, named + ".initial");
}

// { trusted: string[] (ranges; empty: every source), timeoutMs }, or absent/false: off.
bool read_accept_proxy(Napi::Value v, AcceptProxySpec& ap, const std::string& where) {
  if (v.IsUndefined() || v.IsNull() || (v.IsBoolean() && !v.As<Napi::Boolean>().Value())) return true;
  Napi::Object o;
  Napi::Array trusted;
  if (!read_object(v, o, where) || !read_array(o, "trusted", trusted, where) ||
      !read_u32(o, "timeoutMs", ap.timeout_ms, where)) {
    return false;
  }
  ap.enabled = true;
  for (uint32_t i = 0; i < trusted.Length(); ++i) {
    Napi::Value t = trusted.Get(i);
    std::string at = where + ".trusted[" + std::to_string(i) + "]";
    if (!t.IsString()) return throw_type(v.Env(), at + " must be a string");
    Cidr c;
    std::string why;
    if (!parse_cidr(t.As<Napi::String>().Utf8Value(), c, why)) return throw_type(v.Env(), at + ": " + why);
    ap.trusted.push_back(c);
  }
  return true;
}

bool read_listener(Napi::Value v, ListenerSpec& l, const std::string& where) {
  Napi::Object o;
  uint32_t backlog = 0;
  uint32_t pool = 0;
  std::string mode;
  Napi::Array routes;
  if (!read_object(v, o, where) || !read_string(o, "name", l.name, where) || !read_string(o, "bind", l.bind, where) ||
      !read_u32(o, "backlog", backlog, where) || !read_u32(o, "maxconn", l.maxconn, where) ||
      !read_string(o, "mode", mode, where) || !read_string(o, "congestion", l.congestion, where)) {
    return false;
  }
  l.backlog = static_cast<int>(backlog > 65535 ? 65535 : backlog);
  if (!read_accept_proxy(o.Get("acceptProxy"), l.accept_proxy, where + ".acceptProxy")) return false;
  if (mode == "tcp") {
    l.mode = ListenerMode::Tcp;
    // `pool`, or `routes` (by SNI/ALPN) with no pool.
    if (o.Get("pool").IsUndefined()) {
      l.pool = -1;
    } else {
      if (!read_u32(o, "pool", pool, where)) return false;
      l.pool = static_cast<int32_t>(pool);
    }
  } else if (mode == "http") {
    l.mode = ListenerMode::Http;
  } else {
    return throw_type(v.Env(), where + ".mode must be \"tcp\" or \"http\"");
  }
  if (l.mode == ListenerMode::Tcp && o.Get("routes").IsUndefined()) return true;
  if (!read_array(o, "routes", routes, where)) return false;
  for (uint32_t i = 0; i < routes.Length(); ++i) {
    RouteSpec r;
    if (!read_route(routes.Get(i), r, where + ".routes[" + std::to_string(i) + "]")) return false;
    l.routes.push_back(std::move(r));
  }
  return true;
}

}  // namespace

bool read_host_batch(Napi::Value v, HostBatch& b, const std::string& where) {
  Napi::Object o;
  Napi::Array hosts;
  if (!read_object(v, o, where) || !read_array(o, "hosts", hosts, where) ||
      !read_u32_array(o, "counts", b.counts, where) || !read_u32_array(o, "servers", b.servers, where)) {
    return false;
  }
  // Lengths first: a wrong batch fails before 100k strings are copied.
  if (b.counts.size() != hosts.Length()) {
    return throw_type(v.Env(), where + ": counts has " + std::to_string(b.counts.size()) + " entries for " +
                                   std::to_string(hosts.Length()) + " hosts");
  }
  b.hosts.reserve(hosts.Length());
  for (uint32_t i = 0; i < hosts.Length(); ++i) {
    Napi::Value h = hosts.Get(i);
    if (!h.IsString()) return throw_type(v.Env(), where + ".hosts[" + std::to_string(i) + "] must be a string");
    b.hosts.push_back(h.As<Napi::String>().Utf8Value());
  }
  std::string why;
  if (!check_host_batch(b, why)) return throw_type(v.Env(), where + ": " + why);
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
  // hostMaps: absent reads as none (specs built before host maps existed).
  if (!o.Get("hostMaps").IsUndefined()) {
    Napi::Array maps;
    if (!read_array(o, "hostMaps", maps, "spec")) return false;
    for (uint32_t i = 0; i < maps.Length(); ++i) {
      HostMapSpec m;
      if (!read_host_map(maps.Get(i), m, "spec.hostMaps[" + std::to_string(i) + "]")) return false;
      spec.host_maps.push_back(std::move(m));
    }
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
      !read_u32(t, "selectMs", to.select_ms, "spec.timeouts") || !read_u32(t, "inspectMs", to.inspect_ms, "spec.timeouts") ||
      !read_u32(tu, "pipeSize", tn.pipe_size, "spec.tuning") ||
      !read_u32(tu, "maxPipes", tn.max_pipes, "spec.tuning") ||
      !read_u32(tu, "spliceThreshold", tn.splice_threshold, "spec.tuning") ||
      !read_u32(tu, "maxHeadBytes", tn.max_head, "spec.tuning") ||
      !read_u32(tu, "serverIdleMax", tn.server_idle_max, "spec.tuning") ||
      !read_u32(tu, "serverIdleMs", tn.server_idle_ms, "spec.tuning") ||
      !read_u32(tu, "coalesceUs", tn.coalesce_us, "spec.tuning") ||
      !read_u32(tu, "coalesceSessions", tn.coalesce_sessions, "spec.tuning")) {
    return false;
  }
  spec.select_hook = o.Get("selectHook").ToBoolean().Value();
  spec.access_log = o.Get("accessLog").ToBoolean().Value();
  if (!read_u32(o, "accessLogSample", spec.access_log_sample, "spec")) return false;
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
  if (!b.server_states.empty()) {
    auto arr = Napi::Array::New(env, b.server_states.size());
    for (uint32_t i = 0; i < b.server_states.size(); ++i) {
      auto o = Napi::Object::New(env);
      o.Set("uid", b.server_states[i].uid);
      o.Set("ejected", b.server_states[i].ejected);
      o.Set("reason", b.server_states[i].reason);
      arr.Set(i, o);
    }
    out.Set("serverStates", arr);
  }
  if (b.stopped) out.Set("stopped", true);
  return out;
}

bool read_update(Napi::Value v, ServerUpdate& u) {
  Napi::Object o;
  if (!read_object(v, o, "update") || !read_u32(o, "uid", u.uid, "update")) return false;
  auto optional = [&o](const char* key, int64_t max, int64_t& out) {
    Napi::Value f = o.Get(key);
    if (f.IsUndefined()) return true;
    double d = f.IsNumber() ? f.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d > static_cast<double>(max) || d != static_cast<double>(static_cast<int64_t>(d))) {
      return throw_type(o.Env(), std::string("update.") + key + " must be an integer from 0 to " + std::to_string(max));
    }
    out = static_cast<int64_t>(d);
    return true;
  };
  int64_t admin = -1, up = -1;
  if (!optional("weight", 256, u.weight) || !optional("maxconn", 4294967295LL, u.maxconn) ||
      !optional("admin", 2, admin)) {
    return false;
  }
  Napi::Value upv = o.Get("up");
  if (!upv.IsUndefined()) up = upv.ToBoolean().Value() ? 1 : 0;
  u.admin = static_cast<int>(admin);
  u.check_up = static_cast<int>(up);
  return true;
}

bool read_group_options(Napi::Value v, GroupOptions& options) {
  Napi::Object o;
  if (!read_object(v, o, "options") || !read_u32(o, "threads", options.threads, "options")) return false;
  if (options.threads < 1 || options.threads > EngineGroup::kMaxThreads) {
    return throw_type(v.Env(), "options.threads must be from 1 to " + std::to_string(EngineGroup::kMaxThreads));
  }
  Napi::Value cpus = o.Get("cpus");
  if (cpus.IsUndefined()) return true;
  Napi::Array arr;
  if (!read_array(o, "cpus", arr, "options")) return false;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value c = arr.Get(i);
    double d = c.IsNumber() ? c.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d >= CPU_SETSIZE || d != static_cast<double>(static_cast<int>(d))) {
      return throw_type(v.Env(), "options.cpus[" + std::to_string(i) + "] must be a CPU number");
    }
    options.cpus.push_back(static_cast<int>(d));
  }
  return true;
}

}  // namespace epoxy
