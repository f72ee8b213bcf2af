// A connection's preface: the PROXY header a load balancer in front sends before the client's
// bytes (accepted), and the one epoxy sends to a server before the client's bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../core/json.h"

#include "engine.h"
#include "session.h"

namespace epoxy {

namespace {
constexpr int64_t kRefusalLogIntervalMs = 1000;

// A listener bound to one address (not 0.0.0.0 or ::) gives every connection that address.
bool specific(const SockAddr& a) {
  if (a.family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr != htonl(INADDR_ANY);
  if (a.family() == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
    return !IN6_IS_ADDR_UNSPECIFIED(&v6);
  }
  return false;
}
}  // namespace

proxyproto::ParseStatus Session::take_proxy_header(std::string_view data, size_t& consumed) {
  proxyproto::Header h;
  std::string why;
  proxyproto::ParseStatus st = proxyproto::parse(data, h, &why);
  PrefaceCounters& c = listener_counters_->preface;
  switch (st) {
    case proxyproto::ParseStatus::NeedMore:
      return st;
    case proxyproto::ParseStatus::Invalid:
    case proxyproto::ParseStatus::TooLarge:
      note_refused_preface("invalid PROXY protocol header; closing", c.proxy_invalid, why);
      return st;
    case proxyproto::ParseStatus::Done:
      break;
  }
  awaiting_proxy_ = false;
  consumed = h.length;
  if (h.local) {
    ++c.proxy_local;
    return st;
  }
  ++c.proxy_accepted;
  peer_ = h.src;
  local_ = h.dst;
  local_known_ = true;
  return st;
}

Session::ProxyStep Session::advance_proxy_header(std::string_view data, bool client_ended, size_t& consumed) {
  proxyproto::ParseStatus st = data.empty() ? proxyproto::ParseStatus::NeedMore : take_proxy_header(data, consumed);
  if (st == proxyproto::ParseStatus::Done) return ProxyStep::Done;
  if (st != proxyproto::ParseStatus::NeedMore) return ProxyStep::Refused;
  if (!client_ended) return ProxyStep::Wait;
  note_refused_preface("connection closed before its PROXY header ended; closing", listener_counters_->preface.proxy_invalid);
  return ProxyStep::Refused;
}

void Session::note_refused_preface(const char* msg, uint64_t& counter, const std::string& detail) {
  engine_.note_refused_preface(*listener_counters_, listener().name, peer_, msg, counter, detail);
}

void Engine::note_refused_preface(ListenerCounters& lc, const std::string& listener, const SockAddr& client,
                                  const char* msg, uint64_t& counter, const std::string& detail) {
  ++counter;
  if (lc.preface_log_at != 0 && now_ - lc.preface_log_at < kRefusalLogIntervalMs) {
    ++lc.preface_unlogged;
    return;
  }
  lc.preface_log_at = now_;
  JsonWriter w;
  w.field("msg", msg).field("listener", listener).field("client", client.to_string());
  if (!detail.empty()) w.field("reason", detail);
  if (lc.preface_unlogged > 0) w.field("notLoggedSince", lc.preface_unlogged);
  lc.preface_unlogged = 0;
  log("warn", w.take());
}

// The PROXY header's destination: known from the bind when it names one address, so only
// wildcard listeners pay a getsockname() per connection.
const SockAddr& Session::local_address() {
  if (!local_known_) {
    local_known_ = true;
    if (specific(listener().bind_addr)) {
      local_ = listener().bind_addr;
    } else {
      local_.len = sizeof local_.storage;
      if (getsockname(client_.fd.get(), local_.get(), &local_.len) != 0) local_ = SockAddr{};
    }
  }
  return local_;
}

void Session::append_proxy_header(std::string& out, const Server& server, const TlsInfo* tls, std::string_view alpn) {
  if (server.proxy_protocol == 0) return;
  const SockAddr& dst = local_address();
  bool known = (peer_.family() == AF_INET || peer_.family() == AF_INET6) &&
               (dst.family() == AF_INET || dst.family() == AF_INET6);
  const SockAddr* src = known ? &peer_ : nullptr;
  const SockAddr* to = known ? &dst : nullptr;
  if (server.proxy_protocol == 1) {
    proxyproto::append_v1(out, src, to);
    return;
  }
  std::string_view authority = tls && tls->has_sni ? std::string_view(tls->sni) : std::string_view();
  proxyproto::append_v2(out, src, to, authority, alpn);
}

}  // namespace epoxy
