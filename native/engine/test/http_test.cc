// The engine in HTTP mode: routing by Host, generated 5xx responses, the select hook with
// request strings. Real loopback sockets, blocking helper-thread backends.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "testing/engine_harness.h"

using namespace epoxy;
using namespace epoxy::testing;

namespace {

RouteSpec route(std::string host, int32_t pool, std::string path = "") {
  RouteSpec r;
  r.host = std::move(host);
  r.path = std::move(path);
  r.pool = pool;
  return r;
}

uint16_t start_http(EngineHarness& h, SnapshotSpec spec, std::vector<RouteSpec> routes) {
  std::string error;
  REQUIRE_MESSAGE(h.start(error), error);
  spec.listeners.push_back(http_listener("web", 0, std::move(routes)));
  spec.listeners.back().bind.clear();
  std::vector<uint16_t> ports = h.apply_on_free_ports(spec, error);
  REQUIRE_MESSAGE(ports.size() == 1, error);
  return ports[0];
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

// One request on a fresh connection; the response, and when `end` is given, how the
// connection ended after it (a keep-alive connection would not: leave `end` null there).
HttpResponse one_shot(uint16_t port, const std::string& request, End* end = nullptr) {
  Fd c = connect_loopback(port);
  REQUIRE(c);
  REQUIRE(write_all(c.get(), request));
  HttpResponse r = read_response(c.get());
  if (end) {
    std::string rest;
    *end = read_to_end(c.get(), rest);
    CHECK(rest.empty());
  }
  return r;
}

bool all_sessions_closed(EngineHarness& h) {
  return eventually([&] {
    Json s = h.stats_json();
    return !s.is_null() && s["totals"]["active"].u64() == 0;
  });
}

}  // namespace

TEST_CASE("http: a listener routes by Host to two pools over one keep-alive connection") {
  auto log_a = std::make_shared<HttpLog>();
  auto log_b = std::make_shared<HttpLog>();
  Backend a(http_named("A", log_a));
  Backend b(http_named("B", log_b));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(1, "a", {server_spec(1, a.address())}));
  spec.pools.push_back(pool_spec(2, "b", {server_spec(2, b.address())}));
  uint16_t port = start_http(h, spec,
                             {route("a.test", 0), route("b.test", 1), route("*.wild.test", 1), route("", 0, "/api/")});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  struct Case {
    std::string host, path, body;
  };
  // Hosts are normalized (lowercase, port and trailing dot dropped) before routing.
  std::vector<Case> cases = {{"a.test", "/", "A"},       {"B.TEST.", "/", "B"},      {"a.test:8080", "/x", "A"},
                             {"x.wild.test", "/", "B"},  {"other.test", "/api/v1", "A"}, {"b.test", "/api/", "B"}};
  for (const Case& k : cases) {
    INFO("Host: " << k.host << " path " << k.path);
    REQUIRE(write_all(c.get(), get_request(k.host, k.path)));
    HttpResponse r = read_response(c.get());
    CHECK(r.status == 200);
    CHECK(r.body == k.body);
  }
  // No route matches: 404, and the connection closes after it.
  REQUIRE(write_all(c.get(), get_request("other.test", "/")));
  HttpResponse r = read_response(c.get());
  CHECK(r.status == 404);
  CHECK(r.body.find("no route") != std::string::npos);
  std::string rest;
  CHECK(read_to_end(c.get(), rest) == End::Eof);
  c.reset();

  std::vector<std::string> heads_a = log_a->all();
  REQUIRE(heads_a.size() == 3);
  CHECK(heads_a[0].find("GET / HTTP/1.1\r\n") == 0);
  CHECK(lower(heads_a[0]).find("\r\nhost: a.test\r\n") != std::string::npos);
  CHECK(lower(heads_a[0]).find("\r\nx-forwarded-for: 127.0.0.1\r\n") != std::string::npos);
  CHECK(lower(heads_a[0]).find("\r\nvia: 1.1 epoxy\r\n") != std::string::npos);
  CHECK(log_b->all().size() == 3);
  // Keep-alive to the servers too: one connection each.
  CHECK(a.accepted() == 1);
  CHECK(b.accepted() == 1);

  REQUIRE(all_sessions_closed(h));
  Json s = h.stats_json();
  const Json& l = s["listeners"][0];
  CHECK(l["requests"].u64() == 7);
  CHECK(l["responses"]["2xx"].u64() == 6);
  CHECK(l["responses"]["4xx"].u64() == 1);
  CHECK(s["pools"][0]["servers"][0]["requests"].u64() == 3);
  CHECK(s["pools"][0]["servers"][0]["idleConnections"].u64() == 1);
}

TEST_CASE("http: 503 when no server of the pool is up") {
  Backend a(http_named("A"));
  uint16_t dead = free_port();
  uint16_t dead2 = free_port();
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  ServerSpec down = server_spec(2, a.address());
  down.check_up = false;
  spec.pools.push_back(pool_spec(1, "down", {down}));
  // Two refusing servers: the retry goes to the other one (a lone server is not tried twice,
  // and then the answer is "no server available").
  PoolSpec refused = pool_spec(2, "refused", {server_spec(3, "127.0.0.1:" + std::to_string(dead)),
                                              server_spec(4, "127.0.0.1:" + std::to_string(dead2))});
  refused.retries = 1;
  spec.pools.push_back(refused);
  spec.pools.push_back(pool_spec(3, "empty", {}));
  uint16_t port = start_http(h, spec, {route("down.test", 0), route("refused.test", 1), route("empty.test", 2)});

  struct Case {
    std::string host, detail;
  };
  for (const Case& k : std::vector<Case>{{"down.test", "no server available"},
                                         {"refused.test", "no server could be reached"},
                                         {"empty.test", "no server available"}}) {
    INFO("Host: " << k.host);
    End end = End::Error;
    HttpResponse r = one_shot(port, get_request(k.host), &end);
    CHECK(r.status == 503);
    CHECK(r.body == "503 Service Unavailable: " + k.detail + "\n");
    CHECK(lower(r.head).find("\r\nconnection: close\r\n") != std::string::npos);
    // The lingering close ends with a FIN, not an RST that could destroy the response.
    CHECK_MESSAGE(end == End::Eof, end_name(end));
  }
  CHECK(a.accepted() == 0);

  // The checks say up again: served.
  ServerUpdate up;
  up.uid = 2;
  up.check_up = 1;
  h.engine().update_server(up);
  REQUIRE(h.sync());
  HttpResponse r = one_shot(port, get_request("down.test"));
  CHECK(r.status == 200);
  CHECK(r.body == "A");

  REQUIRE(all_sessions_closed(h));
  Json s = h.stats_json();
  CHECK(s["listeners"][0]["responses"]["5xx"].u64() == 3);
  // The first try and one retry.
  CHECK(s["pools"][1]["servers"][0]["connectFailures"].u64() + s["pools"][1]["servers"][1]["connectFailures"].u64() == 2);
  CHECK(s["pools"][1]["retries"].u64() == 1);
}

TEST_CASE("http: 502 when the server closes without a response") {
  Backend dropper(http_hang_up());
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.pools.push_back(pool_spec(1, "p", {server_spec(1, dropper.address())}));
  uint16_t port = start_http(h, spec, {route("", 0)});

  SUBCASE("an idempotent request is sent once more on a fresh connection first") {
    End end = End::Error;
    HttpResponse r = one_shot(port, get_request("x.test"), &end);
    CHECK(r.status == 502);
    CHECK(r.body.find("server closed the connection") != std::string::npos);
    CHECK_MESSAGE(end == End::Eof, end_name(end));
    CHECK(eventually([&] { return dropper.accepted() == 2; }));
  }
  SUBCASE("a POST is not replayed") {
    End end = End::Error;
    HttpResponse r = one_shot(port, "POST /f HTTP/1.1\r\nHost: x.test\r\nContent-Length: 2\r\n\r\nhi", &end);
    CHECK(r.status == 502);
    CHECK_MESSAGE(end == End::Eof, end_name(end));
    CHECK(dropper.accepted() == 1);
  }
  REQUIRE(all_sessions_closed(h));
  CHECK(h.stats_json()["listeners"][0]["responses"]["5xx"].u64() == 1);
}

TEST_CASE("http: the select hook sees the request and may override the route") {
  Backend a(http_named("A"));
  Backend b(http_named("B"));
  EngineHarness h;
  SnapshotSpec spec = base_spec();
  spec.select_hook = true;
  spec.pools.push_back(pool_spec(1, "a", {server_spec(1, a.address())}));
  spec.pools.push_back(pool_spec(2, "b", {server_spec(2, b.address())}));
  uint16_t port = start_http(h, spec, {route("a.test", 0), route("b.test", 1)});

  Fd c = connect_loopback(port);
  REQUIRE(c);
  size_t answered = 0;
  auto request_with = [&](const std::string& host, const std::string& path, uint32_t target) {
    REQUIRE(write_all(c.get(), get_request(host, path, "X-Tenant: beta\r\n")));
    size_t want = (answered + 1) * EventBatch::kSelectRecord;
    REQUIRE(h.wait_events([&](EventBatch& ev) { return ev.selects.size() >= want; }));
    const EventBatch& ev = h.seen();
    const uint32_t* rec = &ev.selects[answered * EventBatch::kSelectRecord];
    ++answered;
    REQUIRE(rec[4] != EventBatch::kNoRequest);
    REQUIRE(rec[4] + 3 < ev.requests.size());
    CHECK(ev.requests[rec[4]] == "GET");
    CHECK(ev.requests[rec[4] + 1] == path);
    CHECK(ev.requests[rec[4] + 2] == lower(host));
    CHECK(ev.requests[rec[4] + 3].find("X-Tenant: beta\r\n") != std::string::npos);
    CHECK(ev.addresses[rec[2]] == "127.0.0.1");
    h.engine().select_replies({rec[0], target});
    return read_response(c.get());
  };

  HttpResponse r1 = request_with("A.test", "/one", kTargetServerFlag | 2);
  CHECK(r1.status == 200);
  CHECK(r1.body == "B");  // the hook's server wins over the route
  HttpResponse r2 = request_with("b.test", "/two?q=1", kTargetPoolFlag | 1);
  CHECK(r2.body == "A");
  HttpResponse r3 = request_with("b.test", "/three", kTargetBalancer);
  CHECK(r3.body == "B");  // no answer from the hook: the route decides
  c.reset();
  CHECK(all_sessions_closed(h));
}
