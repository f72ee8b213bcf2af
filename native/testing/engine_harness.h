// Test-only: drives an epoxy::Engine from C++ the way native/addon does from JS (specs in,
// event batches out through the wake callback; the plumbing is EventDriver, event_driver.h),
// plus small blocking backends run by helper threads and a minimal JSON reader for the engine's
// stats. No Node anywhere.
#pragma once

#include <dirent.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/model.h"
#include "testing/event_driver.h"
#include "testing/net_sockets.h"

namespace epoxy::testing {

// ---- a minimal JSON reader (the engine writes no escapes beyond \" and \\ in stats) ----

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  static const Json& null() {
    static const Json n;
    return n;
  }
  const Json& operator[](std::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return v;
    }
    return null();
  }
  const Json& operator[](size_t i) const { return i < array.size() ? array[i] : null(); }
  size_t size() const { return type == Type::Array ? array.size() : object.size(); }
  bool is_null() const { return type == Type::Null; }
  uint64_t u64() const { return static_cast<uint64_t>(number); }
  const std::string& str() const { return string; }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  // False when the text is not one well-formed JSON value.
  bool read(Json& out) {
    if (!value(out)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool str(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        char e = s_[i_++];
        switch (e) {
          case 'n': out.push_back('\n'); break;
          case 't': out.push_back('\t'); break;
          case 'r': out.push_back('\r'); break;
          case 'u':
            if (i_ + 4 > s_.size()) return false;
            out.push_back(static_cast<char>(strtol(std::string(s_.substr(i_, 4)).c_str(), nullptr, 16)));
            i_ += 4;
            break;
          default: out.push_back(e);
        }
      } else {
        out.push_back(c);
      }
    }
    if (i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  bool value(Json& out) {
    ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      out.type = Json::Type::Object;
      ws();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      for (;;) {
        ws();
        std::string k;
        if (!str(k)) return false;
        ws();
        if (i_ >= s_.size() || s_[i_++] != ':') return false;
        Json v;
        if (!value(v)) return false;
        out.object.emplace_back(std::move(k), std::move(v));
        ws();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
        return false;
      }
    }
    if (c == '[') {
      ++i_;
      out.type = Json::Type::Array;
      ws();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      for (;;) {
        Json v;
        if (!value(v)) return false;
        out.array.push_back(std::move(v));
        ws();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
        return false;
      }
    }
    if (c == '"') {
      out.type = Json::Type::String;
      return str(out.string);
    }
    if (lit("true")) { out.type = Json::Type::Bool; out.boolean = true; return true; }
    if (lit("false")) { out.type = Json::Type::Bool; return true; }
    if (lit("null")) return true;
    size_t start = i_;
    while (i_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '+' ||
                              s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
    }
    if (i_ == start) return false;
    out.type = Json::Type::Number;
    out.number = strtod(std::string(s_.substr(start, i_ - start)).c_str(), nullptr);
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

inline Json parse_json(std::string_view text) {
  Json j;
  JsonReader r(text);
  if (!r.read(j)) return Json{};
  return j;
}

// ---- backends: a blocking loopback server, one helper thread per connection ----

// A listening socket on 127.0.0.1 and what a test asks of it. Backend (below) and Greeter
// (engine_group_harness.h) differ in what they do with the connections accept_one() gives.
class LoopbackServer {
 public:
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 protected:
  explicit LoopbackServer(Fd listener) : listener_(std::move(listener)) {
    port_ = listener_ ? local_port(listener_.get()) : 0;
  }
  ~LoopbackServer() = default;

  // A connection that came within 20 ms, counted and with the test timeouts set; none otherwise.
  Fd accept_one() {
    if (!wait_readable(listener_.get(), 20)) return Fd();
    Fd c(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c) return c;
    set_io_timeouts(c.get());
    ++accepted_;
    return c;
  }

  Fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
};

class Backend : public LoopbackServer {
 public:
  // Runs on the connection's own thread with a blocking socket (test timeouts set); the
  // connection closes when it returns.
  using Handler = std::function<void(int fd)>;

  explicit Backend(Handler handler) : LoopbackServer(listen_loopback()), handler_(std::move(handler)) {
    if (listener_) acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Backend() { stop(); }

  int finished() const { return finished_.load(); }

  // Closes the listener (later connects are refused), cuts live connections, joins every thread.
  void stop() {
    if (stopping_.exchange(true)) {
      if (acceptor_.joinable()) acceptor_.join();
      return;
    }
    if (acceptor_.joinable()) acceptor_.join();
    listener_.reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : conns_) {
        if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
      }
    }
    for (auto& c : conns_) {
      if (c->thread.joinable()) c->thread.join();
    }
    conns_.clear();
  }

 private:
  struct Conn {
    int fd = -1;  // closed (and set to -1) under mu_ when the handler returns
    std::thread thread;
  };

  void accept_loop() {
    while (!stopping_.load()) {
      Fd conn = accept_one();
      if (!conn) continue;
      int fd = conn.release();
      auto c = std::make_unique<Conn>();
      Conn* raw = c.get();
      raw->fd = fd;
      std::lock_guard<std::mutex> lock(mu_);
      raw->thread = std::thread([this, raw, fd] {
        handler_(fd);
        std::lock_guard<std::mutex> l(mu_);
        ::close(fd);
        raw->fd = -1;
        ++finished_;
      });
      conns_.push_back(std::move(c));
    }
  }

  Handler handler_;
  std::atomic<int> finished_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// Greets with "<name>\n", echoes until the client's EOF, then says "bye from <name>\n" (bytes
// sent after the client's half-close) and closes.
inline Backend::Handler name_echo(std::string name) {
  return [name](int fd) {
    if (!write_all(fd, name + "\n")) return;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;
      if (n == 0) break;
      if (!write_all(fd, buf, static_cast<size_t>(n))) return;
    }
    write_all(fd, "bye from " + name + "\n");
  };
}

// Sends `bytes` of the test pattern, half-closes, then waits for the client's EOF.
inline Backend::Handler bulk_source(size_t bytes) {
  return [bytes](int fd) {
    std::vector<uint8_t> chunk(256 * 1024);
    for (size_t off = 0; off < bytes;) {
      size_t n = std::min(chunk.size(), bytes - off);
      fill_pattern(chunk.data(), n, off);
      if (!write_all(fd, chunk.data(), n)) return;
      off += n;
    }
    ::shutdown(fd, SHUT_WR);
    std::string rest;
    read_to_end(fd, rest);
  };
}

// Reads until EOF checking the test pattern, then answers "<bytes> <first bad offset or -1>\n".
inline Backend::Handler bulk_sink() {
  return [](int fd) {
    std::vector<uint8_t> buf(256 * 1024);
    uint64_t total = 0;
    int64_t bad = -1;
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;
      if (n == 0) break;
      size_t at = check_pattern(buf.data(), static_cast<size_t>(n), total);
      if (bad < 0 && at != static_cast<size_t>(n)) bad = static_cast<int64_t>(total + at);
      total += static_cast<uint64_t>(n);
    }
    write_all(fd, std::to_string(total) + " " + std::to_string(bad) + "\n");
  };
}

// What an HTTP backend saw, for assertions (thread-safe).
struct HttpLog {
  std::mutex mu;
  std::vector<std::string> heads;
  void add(std::string h) {
    std::lock_guard<std::mutex> lock(mu);
    heads.push_back(std::move(h));
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock(mu);
    return heads;
  }
};

inline size_t content_length_of(std::string_view head) {
  // Case-insensitive search for "\r\ncontent-length:".
  std::string lower(head);
  for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return static_cast<size_t>(strtoull(lower.c_str() + at + 17, nullptr, 10));
}

// A keep-alive HTTP/1.1 server answering every request with 200 and body `name`.
inline Backend::Handler http_named(std::string name, std::shared_ptr<HttpLog> log = nullptr) {
  return [name, log](int fd) {
    for (;;) {
      std::string head = read_until(fd, "\r\n\r\n");
      if (head.empty()) return;
      size_t body = content_length_of(head);
      if (body > 0 && read_n(fd, body).size() != body) return;
      if (log) log->add(head);
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(name.size()) + "\r\n\r\n" + name;
      if (!write_all(fd, resp)) return;
    }
  };
}

// Reads a request head and closes without a byte of response.
inline Backend::Handler http_hang_up() {
  return [](int fd) { read_until(fd, "\r\n\r\n"); };
}

struct HttpResponse {
  int status = 0;
  std::string head;
  std::string body;
};

// Reads one response framed by Content-Length (status 0 when none arrived).
inline HttpResponse read_response(int fd) {
  HttpResponse r;
  r.head = read_until(fd, "\r\n\r\n");
  if (r.head.size() < 12 || r.head.compare(0, 9, "HTTP/1.1 ") != 0) return r;
  r.status = atoi(r.head.c_str() + 9);
  size_t len = content_length_of(r.head);
  r.body = read_n(fd, len);
  return r;
}

inline std::string get_request(std::string_view host, std::string_view path = "/", std::string_view extra = "") {
  std::string s = "GET ";
  s.append(path).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n").append(extra).append("\r\n");
  return s;
}

// ---- spec builders, as src/ and native/addon/convert.cc build them ----

inline ServerSpec server_spec(uint32_t uid, const std::string& address, uint32_t weight = 1) {
  ServerSpec s;
  s.uid = uid;
  s.address = address;
  s.weight = weight;
  return s;
}

inline PoolSpec pool_spec(uint32_t uid, std::string name, std::vector<ServerSpec> servers,
                          lb::Algorithm balance = lb::Algorithm::RoundRobin) {
  PoolSpec p;
  p.uid = uid;
  p.name = std::move(name);
  p.balance = balance;
  p.servers = std::move(servers);
  return p;
}

inline ListenerSpec tcp_listener(std::string name, uint16_t port, int32_t pool) {
  ListenerSpec l;
  l.name = std::move(name);
  l.bind = "127.0.0.1:" + std::to_string(port);
  l.mode = ListenerMode::Tcp;
  l.pool = pool;
  return l;
}

inline ListenerSpec http_listener(std::string name, uint16_t port, std::vector<RouteSpec> routes) {
  ListenerSpec l;
  l.name = std::move(name);
  l.bind = "127.0.0.1:" + std::to_string(port);
  l.mode = ListenerMode::Http;
  l.routes = std::move(routes);
  return l;
}

// Every wait bounded and short enough that a stuck session ends within a test's timeout.
inline SnapshotSpec base_spec() {
  SnapshotSpec s;
  s.timeouts.connect_ms = 2000;
  s.timeouts.http_request_ms = 5000;
  s.timeouts.client_ms = 10000;
  s.timeouts.server_ms = 10000;
  s.timeouts.tunnel_ms = 10000;
  s.timeouts.select_ms = 1000;
  return s;
}

// ---- the engine, driven as the addon drives it ----

// The plumbing is EventDriver's (event_driver.h); here only how one engine starts, and stats
// read as JSON.
class EngineHarness : public EventDriver<Engine> {
 public:
  Engine& engine() { return core(); }

  bool start(std::string& error) { return core().start(error); }

  Json stats_json() { return parse_json(stats()); }
};

// Calls `each` with the name of every thread of this process (/proc/self/task/*/comm, without
// its newline). False when /proc/self/task could not be read.
inline bool each_thread_name(const std::function<void(std::string_view name)>& each) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    FILE* f = fopen(path.c_str(), "re");
    if (!f) continue;
    char name[64] = {0};
    if (fgets(name, sizeof name, f)) {
      std::string_view n(name);
      while (!n.empty() && n.back() == '\n') n.remove_suffix(1);
      each(n);
    }
    fclose(f);
  }
  closedir(d);
  return true;
}

// Live threads named "epoxy-engine" in this process; -1 when /proc/self/task could not be read.
inline int engine_threads() {
  int n = 0;
  if (!each_thread_name([&](std::string_view name) { n += name.substr(0, 12) == "epoxy-engine"; })) return -1;
  return n;
}

// Server names that answered `count` successive TCP connections to `port`, in order
// ("<none>" for a connection that got no greeting).
inline std::vector<std::string> greetings(uint16_t port, int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    Fd c = connect_loopback(port);
    std::string line = c ? read_until(c.get(), "\n") : "";
    names.push_back(line.empty() ? "<none>" : line.substr(0, line.size() - 1));
  }
  return names;
}

}  // namespace epoxy::testing
