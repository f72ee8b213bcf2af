// Stats and logs: the engine's records for the control plane, as JSON.
#include <string.h>
#include <time.h>

#include "../core/json.h"
#include "engine.h"

namespace epoxy {

namespace {
constexpr uint32_t kLogsPerSecond = 200;

void write_histogram(JsonWriter& w, std::string_view key, const LatencyHistogram& h) {
  w.key(key).begin_object().key("counts").begin_array();
  for (uint64_t c : h.counts) w.value(c);
  w.end_array().field("sumMs", h.sum_ms).end_object();
}

// Outcomes of the PROXY header and the ClientHello, by listener.
void write_preface(JsonWriter& w, const PrefaceCounters& p) {
  w.key("proxy").begin_object().field("accepted", p.proxy_accepted).field("local", p.proxy_local);
  w.field("untrusted", p.proxy_untrusted).field("invalid", p.proxy_invalid).field("timeouts", p.proxy_timeouts).end_object();
  w.key("tls").begin_object().field("sni", p.tls_sni).field("noSni", p.tls_no_sni).field("notTls", p.not_tls);
  w.field("malformed", p.tls_malformed).field("tooLarge", p.tls_too_large).field("timeouts", p.inspect_timeouts);
  w.field("noRoute", p.no_route).end_object();
}

void write_traffic(JsonWriter& w, const TrafficCounters& t) {
  w.field("bytesIn", t.bytes_in)
      .field("bytesOut", t.bytes_out)
      .field("bytesSpliced", t.bytes_spliced)
      .field("bytesCopied", t.bytes_copied);
}
// One word for what a server takes now: maint and drain are the operator's, down the active
// checks', ejected the passive observer's.
const char* state_name(const Server& s, int64_t now) {
  if (s.admin == AdminState::Maint) return "maint";
  if (s.admin == AdminState::Drain) return "drain";
  if (!s.check_up) return "down";
  if (s.ejected(now)) return "ejected";
  return "up";
}
}  // namespace

namespace {
// CPU time of the calling thread (stats_json runs on the engine thread): what an operator
// compares across threads to see imbalance.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec) / 1e6;
}
}  // namespace

std::string Engine::stats_json() const {
  JsonWriter w;
  w.begin_object();
  w.key("thread").begin_object().field("id", static_cast<uint64_t>(links_.index));
  w.field("cpuMs", static_cast<uint64_t>(thread_cpu_ms())).end_object();
  w.key("latencyBoundsMs").begin_array();
  for (uint32_t b : LatencyHistogram::kBoundsMs) w.value(b);
  w.end_array();
  w.key("listeners").begin_array();
  for (const auto& l : listeners_) {
    const ListenerCounters& c = *l->counters;
    w.begin_object().field("name", l->name).field("bind", l->bind).field("accepted", c.accepted);
    w.field("active", c.active).field("maxconn", l->maxconn).field("acceptErrors", c.accept_errors);
    w.field("paused", l->paused);
    w.field("requests", c.requests);
    w.key("responses").begin_object();
    static const char* const kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < c.responses.size(); ++i) w.field(kClasses[i], c.responses[i]);
    w.end_object();
    write_histogram(w, "totalMs", c.total_ms);
    write_traffic(w, c.traffic);
    write_preface(w, c.preface);
    w.end_object();
  }
  w.end_array();
  w.key("pools").begin_array();
  if (snapshot_) {
    for (const auto& p : snapshot_->pools) {
      w.begin_object().field("name", p->name).field("sessions", p->sessions).field("active", p->active);
      w.field("noServer", p->no_server).field("retries", p->retried).field("queued", p->queued).field("queuedTotal", p->queued_total);
      w.field("queueTimeouts", p->queue_timeouts).field("queueFull", p->queue_full);
      w.key("servers").begin_array();
      for (const auto& s : p->servers) {
        w.begin_object().field("uid", s->uid).field("address", s->address).field("weight", s->lb.weight);
        w.field("state", state_name(*s, now_)).field("maxconn", s->maxconn);
        w.field("active", static_cast<uint64_t>(s->active())).field("sessions", s->sessions).field("connectFailures", s->connect_failures);
        w.field("resets", s->resets).field("responses5xx", s->responses_5xx).field("ejections", s->ejections);
        w.field("requests", s->requests).field("idleConnections", static_cast<uint64_t>(s->idle_conns.size()));
        write_histogram(w, "responseMs", s->response_ms);
        write_traffic(w, s->traffic);
        w.end_object();
      }
      w.end_array().end_object();
    }
  }
  w.end_array();
  // Host maps of the snapshot in force: this thread's lookups (the JS side sums the threads).
  w.key("hostMaps").begin_array();
  if (snapshot_) {
    for (const auto& m : snapshot_->host_maps) {
      w.begin_object().field("name", m->name).field("hosts", static_cast<uint64_t>(m->hosts()));
      w.field("hits", m->hits).field("misses", m->misses).field("empty", m->empty).end_object();
    }
  }
  w.end_array();
  w.key("totals").begin_object();
  w.field("accepted", totals_.accepted).field("active", totals_.active).field("aborts", totals_.aborts);
  w.field("bytesSpliced", totals_.bytes_spliced).field("bytesCopied", totals_.bytes_copied);
  w.field("selectTimeouts", totals_.select_timeouts).field("logsSuppressed", totals_.logs_suppressed);
  w.field("logsDropped", totals_.logs_dropped);
  w.field("loopIterations", totals_.loop_iterations).field("coalescePauses", totals_.coalesce_pauses).field("coalescedEvents", totals_.coalesced_events).field("jsWakeups", totals_.js_wakeups);
  w.end_object();
  w.key("pipes").begin_object().field("inUse", static_cast<uint64_t>(pipes_.in_use()));
  w.field("free", static_cast<uint64_t>(pipes_.free_count())).field("failures", static_cast<uint64_t>(pipes_.failures()));
  w.end_object();
  w.key("buffers").begin_object().field("inUse", static_cast<uint64_t>(buffers_.in_use()));
  w.field("free", static_cast<uint64_t>(buffers_.free_count())).end_object();
  w.end_object();
  return w.take();
}

// Logs cross to JS with the next batch. A storm (every connect to a dead server failing) is
// capped per second; the number dropped is counted and reported with the next record.
void Engine::log(const char* level, const std::string& fields) {
  if (now_ - log_window_start_ >= 1000) {
    log_window_start_ = now_;
    logs_in_window_ = 0;
  }
  if (++logs_in_window_ > kLogsPerSecond) {
    ++totals_.logs_suppressed;
    return;
  }
  std::string rec = std::string("{\"level\":\"") + level + "\"," + fields;
  if (totals_.logs_suppressed > 0) rec += ",\"suppressedSoFar\":" + std::to_string(totals_.logs_suppressed);
  rec += "}";
  pending_.logs.push_back(std::move(rec));
}

void Engine::log_session(const char* level, const char* msg, const Session& s, int err) {
  JsonWriter w;
  w.field("msg", msg);
  const Snapshot& snap = s.snapshot();
  if (s.listener_index() < snap.listeners.size()) w.field("listener", snap.listeners[s.listener_index()].name);
  if (s.pool()) w.field("pool", s.pool()->name);
  if (s.server()) w.field("server", s.server()->address);
  w.field("client", s.peer().to_string());
  if (err) w.field("error", strerror(err));
  log(level, w.take());
}

}  // namespace epoxy
