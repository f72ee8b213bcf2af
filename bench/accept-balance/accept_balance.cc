// accept_balance — how evenly do N epoll engine threads share accepted connections, and what
// does closing one listener do to the clients queued on it?
//
// Evidence for the multi-threaded accept design (see README.md next to this file). It models the
// engine as it is: one edge-triggered epoll loop per thread, every fd registered once with
// EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, accept4 in a loop until EAGAIN with at most 128 per turn,
// accepted connections served (here: echoed) by the thread that accepted them.
//
// Listener modes:
//   A  one SO_REUSEPORT socket per thread (the kernel picks a socket by 4-tuple hash)
//   B  one shared socket in every thread's epoll with EPOLLEXCLUSIVE (the kernel refuses it
//      together with EPOLLRDHUP, so this listener is registered EPOLLIN|EPOLLET|EPOLLEXCLUSIVE)
//   C  one shared socket in every thread's epoll, no EPOLLEXCLUSIVE (every idle thread wakes)
//
// Scenarios 1-3 count accepts per thread (the figure of merit is the largest share); scenario 4
// closes one of four reuseport sockets while clients are queued on it and counts the clients
// that get reset, with and without draining first, and with net.ipv4.tcp_migrate_req=1.
// Clients run in the same process on their own threads with blocking sockets and timeouts;
// a SIGALRM watchdog ends the whole run if anything still hangs.
//
// Build: g++ -std=c++20 -O2 -pthread -o accept_balance accept_balance.cc
// Run:   ./accept_balance --help

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kEngineEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr int kAcceptBatch = 128;
constexpr int kBacklog = 1024;  // well above any burst here, so no SYN is ever dropped
constexpr int kClientTimeoutSec = 5;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "accept_balance: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// ---------------------------------------------------------------------------------------------
// net.ipv4.tcp_migrate_req is machine state shared with other work: whatever happens (normal
// exit, error exit, Ctrl-C, the watchdog), the old value goes back.

constexpr const char* kMigratePath = "/proc/sys/net/ipv4/tcp_migrate_req";
char g_migrate_old[16] = "";  // empty: never changed, nothing to restore

void restore_migrate_req() {  // async-signal-safe: open/write/close only
  if (g_migrate_old[0] == '\0') return;
  int fd = open(kMigratePath, O_WRONLY);
  if (fd >= 0) {
    ssize_t ignored = write(fd, g_migrate_old, strlen(g_migrate_old));
    (void)ignored;
    close(fd);
  }
}

int read_migrate_req() {  // -1: the kernel has no such sysctl (< 5.14)
  FILE* f = std::fopen(kMigratePath, "r");
  if (!f) return -1;
  int v = -1;
  if (std::fscanf(f, "%d", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

bool set_migrate_req(int value) {
  if (g_migrate_old[0] == '\0') {
    int old = read_migrate_req();
    if (old < 0) return false;
    std::snprintf(g_migrate_old, sizeof g_migrate_old, "%d\n", old);
  }
  FILE* f = std::fopen(kMigratePath, "w");
  if (!f) return false;
  bool ok = std::fprintf(f, "%d\n", value) > 0;
  ok = (std::fclose(f) == 0) && ok;
  return ok && read_migrate_req() == value;
}

extern "C" void on_fatal_signal(int sig) {
  restore_migrate_req();
  const char msg[] = "accept_balance: watchdog/signal, tcp_migrate_req restored, exiting\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(sig == SIGALRM ? 3 : 2);
}

// TcpExt counters of this network namespace: TCPMigrateReqSuccess / TCPMigrateReqFailure count
// queued connections moved (or not) to another socket of the reuseport group.
uint64_t tcpext_counter(const char* name) {
  FILE* f = std::fopen("/proc/net/netstat", "r");
  if (!f) return 0;
  char names[8192], values[8192];
  uint64_t result = 0;
  while (std::fgets(names, sizeof names, f) && std::fgets(values, sizeof values, f)) {
    if (std::strncmp(names, "TcpExt:", 7) != 0) continue;
    char *sn, *sv;
    char* n = strtok_r(names, " \n", &sn);
    char* v = strtok_r(values, " \n", &sv);
    for (; n && v; n = strtok_r(nullptr, " \n", &sn), v = strtok_r(nullptr, " \n", &sv))
      if (std::strcmp(n, name) == 0) result = std::strtoull(v, nullptr, 10);
  }
  std::fclose(f);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Sockets

int make_listener(uint16_t port, bool reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) die("SO_REUSEPORT");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
  if (listen(fd, kBacklog) != 0) die("listen");
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) die("getsockname");
  return ntohs(a.sin_port);
}

// For a listener, Linux reports the accept queue length in tcpi_unacked.
int accept_queue_len(int listener) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(listener, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
  return static_cast<int>(ti.tcpi_unacked);
}

// ---------------------------------------------------------------------------------------------
// The engine model

struct ThreadStats {
  uint64_t accepted = 0;
  uint64_t accept_calls = 0;    // accept4 syscalls
  uint64_t accept_eagain = 0;   // accept4 returning EAGAIN
  uint64_t listener_wakeups = 0;  // epoll events reported for a listener
  uint64_t empty_wakeups = 0;   // ...whose very first accept4 already said EAGAIN: a lost race
  uint64_t epoll_waits = 0;
  uint64_t drained = 0;         // accepted while retiring a listener (reload scenario)
  uint64_t queued_at_close = 0; // its accept queue just before close(), summed over retirements
  // A thread woken for a connection another thread already took usually never returns from
  // epoll_wait: epoll re-polls the listener, finds nothing and sleeps again. So the herd is only
  // visible as context switches and CPU time, taken from getrusage(RUSAGE_THREAD).
  uint64_t voluntary_switches = 0;
  uint64_t cpu_us = 0;
};

// What an epoll event points at. Plain tagged struct: the engine's own dispatch is a key, and
// this model only needs three kinds.
struct Source {
  enum class Kind { kListener, kControl, kConn } kind;
  int fd = -1;
  bool owned = true;       // listener: does this thread close it (mode A) or the server (B, C)?
  bool registered = false; // listener: in this thread's epoll (false = "stopped accepting")
  bool ready = false;      // listener: the 128 budget ran out before EAGAIN; ET will not repeat it
  bool eof = false;        // connection: peer finished sending
  std::string out;         // connection: echo bytes not yet written
};

// kReplace only lets one run repeat the close many times: the thread first joins a fresh socket
// to the reuseport group, then retires the old one.
enum Command : int { kStop = 1, kRetireClose = 2, kRetireDrain = 4, kReplace = 8 };

class Worker {
 public:
  explicit Worker(int index) : index_(index) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1");
    control_.kind = Source::Kind::kControl;
    control_.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (control_.fd < 0) die("eventfd");
    watch(control_.fd, EPOLLIN | EPOLLET, &control_);
  }
  ~Worker() {
    if (listener_.owned && listener_.fd >= 0) close(listener_.fd);
    close(control_.fd);
    close(ep_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Returns the epoll_ctl errno (0 on success) so the caller can report what the kernel refuses.
  int set_listener(int fd, uint32_t events, bool owned, bool registered) {
    listener_.kind = Source::Kind::kListener;
    listener_.fd = fd;
    listener_.owned = owned;
    listener_.registered = registered;
    if (!registered) return 0;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &listener_;
    return epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
  }

  void start() { thread_ = std::thread([this] { run(); }); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // The only cross-thread entry, as in the engine: a command word plus an eventfd write.
  void post(Command c) {
    commands_.fetch_or(c, std::memory_order_release);
    uint64_t one = 1;
    ssize_t ignored = write(control_.fd, &one, sizeof one);
    (void)ignored;
  }
  int retirements() const { return retirements_.load(std::memory_order_acquire); }

  // Written only by this worker's thread; read by main after join().
  ThreadStats stats;

 private:
  void watch(int fd, uint32_t events, Source* s) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = s;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl ADD");
  }

  void run() {
    std::string name = "engine-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    rusage before{};
    getrusage(RUSAGE_THREAD, &before);
    epoll_event events[64];
    while (!stopping_) {
      // Timeout only as a safety net; every wake-up that matters comes through an fd.
      int n = epoll_wait(ep_, events, 64, listener_.ready ? 0 : 1000);
      ++stats.epoll_waits;
      if (n < 0 && errno != EINTR) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        auto* s = static_cast<Source*>(events[i].data.ptr);
        switch (s->kind) {
          case Source::Kind::kListener:
            ++stats.listener_wakeups;
            accept_ready(/*from_event=*/true);
            break;
          case Source::Kind::kControl:
            on_control();
            break;
          case Source::Kind::kConn:
            serve(s, events[i].events);
            break;
        }
      }
      if (listener_.ready && listener_.registered) accept_ready(/*from_event=*/false);
    }
    rusage after{};
    getrusage(RUSAGE_THREAD, &after);
    stats.voluntary_switches = static_cast<uint64_t>(after.ru_nvcsw - before.ru_nvcsw);
    auto us = [](const timeval& t) { return static_cast<int64_t>(t.tv_sec) * 1000000 + t.tv_usec; };
    stats.cpu_us = static_cast<uint64_t>(us(after.ru_utime) - us(before.ru_utime) + us(after.ru_stime) -
                                         us(before.ru_stime));
    for (Source* c : conns_) {
      close(c->fd);
      delete c;
    }
    conns_.clear();
  }

  void accept_ready(bool from_event) {
    if (!listener_.registered) return;  // an event already queued before a retire
    for (int i = 0; i < kAcceptBatch; ++i) {
      int fd = accept_one();
      if (fd == -EAGAIN) {
        if (i == 0 && from_event) ++stats.empty_wakeups;
        listener_.ready = false;
        return;
      }
      if (fd < 0) continue;  // ECONNABORTED etc.; EMFILE never happens at this scale
      ++stats.accepted;
      adopt(fd);
    }
    listener_.ready = true;  // budget spent, more may be queued: come back next turn
  }

  int accept_one() {
    ++stats.accept_calls;
    int fd = accept4(listener_.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ++stats.accept_eagain;
      return -EAGAIN;
    }
    return -errno;
  }

  void adopt(int fd) {
    auto* c = new Source{Source::Kind::kConn, fd, true, false, false, false, {}};
    conns_.insert(c);
    watch(fd, kEngineEvents, c);
  }

  void on_control() {
    uint64_t v;
    while (read(control_.fd, &v, sizeof v) > 0) {
    }
    int cmd = commands_.exchange(0, std::memory_order_acquire);
    if (cmd & (kRetireClose | kRetireDrain)) retire(cmd & kRetireDrain, cmd & kReplace);
    if (cmd & kStop) stopping_ = true;
  }

  // A reload that removes this thread's listener. Without the drain, close() resets whatever the
  // kernel already queued on the socket (unless tcp_migrate_req moves it to a sibling); with it,
  // the thread first takes and serves everything queued at that instant — connections still in
  // their handshake, or landing between the last EAGAIN and close(), are not covered.
  void retire(bool drain, bool replace) {
    int next = replace ? make_listener(local_port(listener_.fd), true) : -1;
    if (listener_.registered) epoll_ctl(ep_, EPOLL_CTL_DEL, listener_.fd, nullptr);
    listener_.registered = false;
    listener_.ready = false;
    if (drain) {
      for (;;) {
        int fd = accept_one();
        if (fd == -EAGAIN) break;
        if (fd < 0) continue;
        ++stats.accepted;
        ++stats.drained;
        adopt(fd);
      }
    }
    stats.queued_at_close += static_cast<uint64_t>(std::max(0, accept_queue_len(listener_.fd)));
    close(listener_.fd);
    listener_.fd = next;
    if (next >= 0) {
      // EPOLL_CTL_ADD polls the socket once, so connections queued on it meanwhile still fire.
      epoll_event ev{};
      ev.events = kEngineEvents;
      ev.data.ptr = &listener_;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, next, &ev) != 0) die("epoll_ctl ADD replacement");
      listener_.registered = true;
    }
    retirements_.fetch_add(1, std::memory_order_release);
  }

  void serve(Source* c, uint32_t ev) {
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      char buf[4096];
      for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          c->out.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r == 0) c->eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK) return drop(c);
        break;
      }
    }
    while (!c->out.empty()) {
      ssize_t w = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // EPOLLOUT's edge resumes us
        return drop(c);
      }
      c->out.erase(0, static_cast<size_t>(w));
    }
    if (c->eof && c->out.empty()) drop(c);
  }

  void drop(Source* c) {
    close(c->fd);  // also removes it from the epoll set
    conns_.erase(c);
    delete c;
  }

  int index_;
  int ep_ = -1;
  Source control_{Source::Kind::kControl, -1, true, false, false, false, {}};
  Source listener_{Source::Kind::kListener, -1, true, false, false, false, {}};
  std::unordered_set<Source*> conns_;
  std::atomic<int> commands_{0};
  std::atomic<int> retirements_{0};
  bool stopping_ = false;
  std::thread thread_;
};

enum class Mode { kReusePort, kExclusive, kShared };

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kReusePort: return "A reuseport";
    case Mode::kExclusive: return "B exclusive";
    case Mode::kShared: return "C shared";
  }
  return "?";
}

// EPOLLEXCLUSIVE accepts only EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLWAKEUP/EPOLLET beside it; the
// engine's uniform registration includes EPOLLRDHUP. Found out once at start-up (and reported).
uint32_t g_exclusive_events = kEngineEvents | EPOLLEXCLUSIVE;
int g_exclusive_engine_flags_errno = 0;

void probe_exclusive_flags() {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int l = make_listener(0, false);
  epoll_event ev{};
  ev.events = kEngineEvents | EPOLLEXCLUSIVE;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) != 0) {
    g_exclusive_engine_flags_errno = errno;
    g_exclusive_events = EPOLLIN | EPOLLET | EPOLLEXCLUSIVE;
  }
  close(l);
  close(ep);
}

// N workers and their listening socket(s) on a fresh 127.0.0.1 port.
class Server {
 public:
  Server(Mode mode, int threads, bool pause_last = false) {
    int shared = -1;
    if (mode != Mode::kReusePort) {
      shared = make_listener(0, false);
      shared_fd_ = shared;
      port_ = local_port(shared);
    }
    for (int i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Worker>(i));
      Worker& w = *workers_.back();
      int err = 0;
      if (mode == Mode::kReusePort) {
        // The group is keyed by port; the first socket picks the port, the others join it.
        int fd = make_listener(port_, true);
        if (i == 0) port_ = local_port(fd);
        listeners_.push_back(fd);
        err = w.set_listener(fd, kEngineEvents, /*owned=*/true, !(pause_last && i == threads - 1));
      } else {
        uint32_t ev = mode == Mode::kExclusive ? g_exclusive_events : kEngineEvents;
        err = w.set_listener(shared, ev, /*owned=*/false, true);
      }
      if (err != 0) {
        errno = err;
        die("epoll_ctl ADD listener");
      }
    }
    for (auto& w : workers_) w->start();
  }
  ~Server() {
    stop();
    if (shared_fd_ >= 0) close(shared_fd_);
  }

  uint16_t port() const { return port_; }
  Worker& worker(int i) { return *workers_[static_cast<size_t>(i)]; }
  int listener(int i) const { return listeners_[static_cast<size_t>(i)]; }

  std::vector<ThreadStats> stop() {
    if (!stopped_) {
      for (auto& w : workers_) w->post(kStop);
      for (auto& w : workers_) w->join();
      stopped_ = true;
    }
    std::vector<ThreadStats> s;
    for (auto& w : workers_) s.push_back(w->stats);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<int> listeners_;  // mode A, owned by the workers
  int shared_fd_ = -1;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------------------
// Clients: blocking sockets with send/receive timeouts (SO_SNDTIMEO also bounds connect), so a
// lost connection shows up as a counted timeout rather than a hang.

enum class Outcome { kEchoed, kReset, kEof, kTimeout, kConnectRefused, kConnectReset, kConnectFailed, kError, kCount };
const char* outcome_name(Outcome o) {
  static const char* names[] = {"echoed",           "reset",         "eof",           "timeout",
                                "connect-refused", "connect-reset", "connect-failed", "error"};
  return names[static_cast<int>(o)];
}

struct Outcomes {
  std::atomic<int> n[static_cast<int>(Outcome::kCount)] = {};
  void add(Outcome o) { n[static_cast<int>(o)].fetch_add(1, std::memory_order_relaxed); }
  int get(Outcome o) const { return n[static_cast<int>(o)].load(); }
  int total() const {
    int t = 0;
    for (auto& x : n) t += x.load();
    return t;
  }
  std::string str() const {
    std::string s;
    for (int i = 0; i < static_cast<int>(Outcome::kCount); ++i)
      if (n[i]) s += std::string(s.empty() ? "" : " ") + outcome_name(Outcome(i)) + "=" + std::to_string(n[i].load());
    return s.empty() ? "none" : s;
  }
};

int dial(uint16_t port) {  // fd, or -errno (connect failed or timed out)
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("client socket");
  timeval tv{kClientTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

bool send_byte(int fd) {
  char b = 'x';
  return send(fd, &b, 1, MSG_NOSIGNAL) == 1;
}

Outcome await_echo(int fd) {
  char b;
  ssize_t r = recv(fd, &b, 1, 0);
  if (r == 1) return Outcome::kEchoed;
  if (r == 0) return Outcome::kEof;
  if (errno == ECONNRESET || errno == EPIPE) return Outcome::kReset;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Outcome::kTimeout;
  return Outcome::kError;
}

Outcome round_trip(int fd) {
  if (!send_byte(fd)) return errno == ECONNRESET || errno == EPIPE ? Outcome::kReset : Outcome::kError;
  return await_echo(fd);
}

Outcome dial_failure(int err) {
  return err == -ECONNREFUSED ? Outcome::kConnectRefused
         : err == -ECONNRESET ? Outcome::kConnectReset
                              : Outcome::kConnectFailed;
}

Outcome short_connection(uint16_t port) {
  int fd = dial(port);
  if (fd < 0) return dial_failure(fd);
  Outcome o = round_trip(fd);
  close(fd);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Balance scenarios 1–3

struct BalanceRun {
  std::vector<ThreadStats> threads;
  std::string outcomes;
  int failures = 0;  // client connections that did not get their echo
  double seconds = 0;

  uint64_t sum(uint64_t ThreadStats::*f) const {
    uint64_t t = 0;
    for (auto& s : threads) t += s.*f;
    return t;
  }
  double max_share() const {
    uint64_t total = sum(&ThreadStats::accepted), mx = 0;
    for (auto& s : threads) mx = std::max(mx, s.accepted);
    return total ? 100.0 * static_cast<double>(mx) / static_cast<double>(total) : 0;
  }
  double per_accept(uint64_t ThreadStats::*f) const {
    uint64_t a = sum(&ThreadStats::accepted);
    return a ? static_cast<double>(sum(f)) / static_cast<double>(a) : 0;
  }
};

constexpr const char* kScenarioNames[] = {"", "1: 1000 sequential short", "2: 1000 short, 50 clients",
                                          "3: 100 long x 50 round trips"};

BalanceRun run_balance(Mode mode, int threads, int scenario) {
  Server server(mode, threads);
  uint16_t port = server.port();
  Outcomes outcomes;
  auto t0 = Clock::now();

  if (scenario == 1) {
    for (int i = 0; i < 1000; ++i) outcomes.add(short_connection(port));
  } else if (scenario == 2) {
    std::vector<std::thread> clients;
    std::barrier start(50);
    for (int c = 0; c < 50; ++c)
      clients.emplace_back([&] {
        start.arrive_and_wait();  // so all 50 really compete from the first connection
        for (int i = 0; i < 20; ++i) outcomes.add(short_connection(port));
      });
    for (auto& t : clients) t.join();
  } else {
    std::vector<std::thread> clients;
    std::barrier start(100), all_open(100);
    for (int c = 0; c < 100; ++c)
      clients.emplace_back([&] {
        start.arrive_and_wait();
        int fd = dial(port);
        all_open.arrive_and_wait();  // every thread arrives, even a failed one: nothing hangs
        if (fd < 0) return outcomes.add(dial_failure(fd));
        Outcome o = Outcome::kEchoed;
        for (int i = 0; i < 50 && o == Outcome::kEchoed; ++i) o = round_trip(fd);
        outcomes.add(o);
        close(fd);
      });
    for (auto& t : clients) t.join();
  }

  BalanceRun r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.threads = server.stop();
  r.outcomes = outcomes.str();
  r.failures = outcomes.total() - outcomes.get(Outcome::kEchoed);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: a reload that retires one of four reuseport sockets

struct ReloadRun {
  int closes = 1;    // listener close() calls in this run
  int clients = 0;
  int queued = 0;    // on the retired socket(s) just before close(), summed
  uint64_t drained = 0;
  uint64_t migrated = 0, migrate_failed = 0;
  std::string outcomes;
  int reset = 0, lost = 0;  // lost = anything but an echo
};

// Paused: the retiring thread never accepted; 200 clients connect and wait for their echo, the
// ones hashed to its socket sit in its accept queue; then the socket is retired.
ReloadRun run_reload_paused(bool drain) {
  constexpr int kClients = 200;
  Server server(Mode::kReusePort, 4, /*pause_last=*/true);
  uint16_t port = server.port();
  int retiring = server.listener(3);
  Outcomes outcomes;
  std::atomic<int> waiting{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&] {
      int fd = dial(port);
      if (fd < 0 || !send_byte(fd)) {
        waiting.fetch_add(1);
        outcomes.add(fd < 0 ? dial_failure(fd) : Outcome::kError);
        if (fd >= 0) close(fd);
        return;
      }
      waiting.fetch_add(1);
      outcomes.add(await_echo(fd));
      close(fd);
    });

  // Wait until every client is connected and the served ones are done, so exactly the clients
  // hashed to the paused socket are left in its queue.
  ReloadRun r;
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline &&
         !(waiting.load() == kClients && outcomes.total() + accept_queue_len(retiring) >= kClients))
    std::this_thread::sleep_for(1ms);

  server.worker(3).post(drain ? kRetireDrain : kRetireClose);
  for (auto& t : clients) t.join();
  auto stats = server.stop();
  r.clients = kClients;
  r.drained = stats[3].drained;
  r.queued = static_cast<int>(stats[3].queued_at_close);
  r.outcomes = outcomes.str();
  r.reset = outcomes.get(Outcome::kReset);
  r.lost = outcomes.total() - outcomes.get(Outcome::kEchoed);
  return r;
}

// Under load: all four sockets accepting, kLoadClients client threads opening short connections
// back to back, and thread 3 closing its socket kCloses times (each time after joining a fresh one
// to the group, so there is always a socket to close next). This is the realistic reload:
// connections keep arriving between the last accept and close().
constexpr int kLoadClients = 32;
constexpr int kCloses = 20;

ReloadRun run_reload_under_load(bool drain) {
  Server server(Mode::kReusePort, 4);
  uint16_t port = server.port();
  Outcomes outcomes;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kLoadClients; ++c)
    clients.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) outcomes.add(short_connection(port));
    });
  std::this_thread::sleep_for(100ms);
  for (int i = 1; i <= kCloses; ++i) {
    server.worker(3).post(static_cast<Command>((drain ? kRetireDrain : kRetireClose) | kReplace));
    auto deadline = Clock::now() + 5s;
    while (server.worker(3).retirements() < i && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);  // let the new socket's queue fill like any other
  }
  std::this_thread::sleep_for(100ms);
  stop = true;
  for (auto& t : clients) t.join();
  auto stats = server.stop();
  ReloadRun r;
  r.closes = server.worker(3).retirements();
  r.clients = outcomes.total();
  r.drained = stats[3].drained;
  r.queued = static_cast<int>(stats[3].queued_at_close);
  r.outcomes = outcomes.str();
  r.reset = outcomes.get(Outcome::kReset);
  r.lost = r.clients - outcomes.get(Outcome::kEchoed);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Reporting

std::string spread(std::vector<double> v, const char* fmt) {
  std::sort(v.begin(), v.end());
  char buf[128];
  if (v.size() == 1) {
    std::snprintf(buf, sizeof buf, fmt, v[0]);
    return buf;
  }
  char lo[32], mid[32], hi[32];
  std::snprintf(lo, sizeof lo, fmt, v.front());
  std::snprintf(mid, sizeof mid, fmt, v[v.size() / 2]);
  std::snprintf(hi, sizeof hi, fmt, v.back());
  std::snprintf(buf, sizeof buf, "%s (%s–%s)", mid, lo, hi);  // median (min–max)
  return buf;
}

std::string counts(const std::vector<ThreadStats>& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.size(); ++i) s += (i ? " " : "") + std::to_string(t[i].accepted);
  return s + "]";
}

struct Options {
  std::vector<int> threads = {4};
  int reps = 3;
  std::string modes = "ABC";
  std::string scenarios = "1234";
  bool migrate = false;
  int timeout = 600;
};

void usage() {
  std::puts(
      "usage: accept_balance [--threads 4[,2...]] [--reps 3] [--modes ABC] [--scenarios 1234]\n"
      "                      [--migrate-req] [--timeout 600]\n"
      "  scenarios 1-3: accept balance per mode and thread count; 4: reload in mode A (4 sockets)\n"
      "  --migrate-req: also run scenario 4 with net.ipv4.tcp_migrate_req=1 (needs root; the old\n"
      "                 value is restored on exit, on Ctrl-C and when the --timeout watchdog fires)");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads.clear();
      std::string v = next();
      for (size_t p = 0; p < v.size();) {
        o.threads.push_back(std::atoi(v.c_str() + p));
        p = v.find(',', p);
        if (p == std::string::npos) break;
        ++p;
      }
    } else if (a == "--reps") o.reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "--modes") o.modes = next();
    else if (a == "--scenarios") o.scenarios = next();
    else if (a == "--migrate-req") o.migrate = true;
    else if (a == "--timeout") o.timeout = std::atoi(next().c_str());
    else {
      usage();
      std::exit(a == "--help" || a == "-h" ? 0 : 1);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGALRM, on_fatal_signal);
  alarm(static_cast<unsigned>(opt.timeout));  // the watchdog: nothing may hang a CI box

  probe_exclusive_flags();
  std::printf("cpus online: %u, reps: %d, tcp_migrate_req: %d\n", std::thread::hardware_concurrency(),
              opt.reps, read_migrate_req());
  if (g_exclusive_engine_flags_errno)
    std::printf("note: EPOLLEXCLUSIVE with the engine's flags (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET): %s;\n"
                "      mode B registers its listener with EPOLLIN|EPOLLET|EPOLLEXCLUSIVE\n",
                std::strerror(g_exclusive_engine_flags_errno));

  // ---- scenarios 1-3. Reps are the outer loop so a burst of other work on the machine smears
  // over all cells instead of ruining one.
  std::vector<int> balance;
  for (char c : opt.scenarios)
    if (c >= '1' && c <= '3') balance.push_back(c - '0');
  std::vector<Mode> modes;
  for (char c : opt.modes)
    modes.push_back(c == 'A' ? Mode::kReusePort : c == 'B' ? Mode::kExclusive : Mode::kShared);

  struct Key {
    int scenario, threads;
    Mode mode;
    bool operator<(const Key& o) const {
      return std::tie(scenario, threads, mode) < std::tie(o.scenario, o.threads, o.mode);
    }
  };
  std::map<Key, std::vector<BalanceRun>> results;
  for (int rep = 1; rep <= opt.reps && !balance.empty(); ++rep) {
    std::printf("\n== rep %d ==\n", rep);
    for (int threads : opt.threads)
      for (int sc : balance)
        for (Mode m : modes) {
          BalanceRun r = run_balance(m, threads, sc);
          std::printf("S%d N=%d %-11s accepted %-22s max %5.1f%%  per conn: accept4 %.2f, listener events %.2f,"
                      " empty %.2f, ctx switches %.2f, server CPU %.0f us  | %.2fs  clients: %s\n",
                      sc, threads, mode_name(m), counts(r.threads).c_str(), r.max_share(),
                      r.per_accept(&ThreadStats::accept_calls), r.per_accept(&ThreadStats::listener_wakeups),
                      r.per_accept(&ThreadStats::empty_wakeups), r.per_accept(&ThreadStats::voluntary_switches),
                      r.per_accept(&ThreadStats::cpu_us), r.seconds, r.outcomes.c_str());
          std::fflush(stdout);
          results[{sc, threads, m}].push_back(std::move(r));
        }
  }

  if (!results.empty()) {
    std::printf("\n## Balance: max share of accepts, median (min–max) over %d runs\n\n", opt.reps);
    std::printf("| scenario | N | mode | max share | accept4/conn | empty wakeups/conn | ctx switches/conn "
                "| server CPU us/conn | failed clients |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (auto& [k, runs] : results) {
      std::vector<double> share, calls, empty, csw, cpu, fails;
      for (auto& r : runs) {
        share.push_back(r.max_share());
        calls.push_back(r.per_accept(&ThreadStats::accept_calls));
        empty.push_back(r.per_accept(&ThreadStats::empty_wakeups));
        csw.push_back(r.per_accept(&ThreadStats::voluntary_switches));
        cpu.push_back(r.per_accept(&ThreadStats::cpu_us));
        fails.push_back(r.failures);
      }
      std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", kScenarioNames[k.scenario], k.threads,
                  mode_name(k.mode), spread(share, "%.1f%%").c_str(), spread(calls, "%.2f").c_str(),
                  spread(empty, "%.2f").c_str(), spread(csw, "%.2f").c_str(), spread(cpu, "%.0f").c_str(),
                  spread(fails, "%.0f").c_str());
    }
  }

  // ---- scenario 4
  if (opt.scenarios.find('4') != std::string::npos) {
    std::vector<int> migrate_values = {0};
    int current = read_migrate_req();
    if (current < 0) std::printf("\nnet.ipv4.tcp_migrate_req: not on this kernel (< 5.14)\n");
    else if (opt.migrate) migrate_values.push_back(1);
    struct Variant {
      const char* name;
      bool under_load, drain;
    };
    const Variant variants[] = {{"paused, close", false, false},
                                {"paused, drain then close", false, true},
                                {"under load, close x20", true, false},
                                {"under load, drain then close x20", true, true}};
    std::printf("\n## Reload (mode A, 4 reuseport sockets, thread 3 retires its socket)\n\n");
    std::printf("| variant | tcp_migrate_req | rep | clients | queued at close() | drained | migrated/failed "
                "| client outcomes |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int mig : migrate_values) {
      if (current >= 0 && !set_migrate_req(mig)) {
        std::printf("| (cannot set tcp_migrate_req=%d: %s) |\n", mig, std::strerror(errno));
        continue;
      }
      for (const Variant& v : variants)
        for (int rep = 1; rep <= opt.reps; ++rep) {
          uint64_t ok0 = tcpext_counter("TCPMigrateReqSuccess"), bad0 = tcpext_counter("TCPMigrateReqFailure");
          ReloadRun r = v.under_load ? run_reload_under_load(v.drain) : run_reload_paused(v.drain);
          r.migrated = tcpext_counter("TCPMigrateReqSuccess") - ok0;
          r.migrate_failed = tcpext_counter("TCPMigrateReqFailure") - bad0;
          std::printf("| %s | %d | %d | %d | %d | %llu | %llu/%llu | %s |\n", v.name, mig, rep, r.clients, r.queued,
                      static_cast<unsigned long long>(r.drained), static_cast<unsigned long long>(r.migrated),
                      static_cast<unsigned long long>(r.migrate_failed), r.outcomes.c_str());
          std::fflush(stdout);
        }
    }
    restore_migrate_req();
    if (current >= 0) std::printf("\ntcp_migrate_req now %d (was %d)\n", read_migrate_req(), current);
  }
  return 0;
}
