#include <doctest/doctest.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <fstream>
#include <string>

#include "net/address.h"
#include "net/socket.h"
#include "testing/net_sockets.h"

using epoxy::ConnectStart;
using epoxy::Fd;
using epoxy::SockAddr;
namespace t = epoxy::testing;

namespace {

SockAddr addr(const std::string& text) {
  SockAddr a;
  std::string error;
  REQUIRE_MESSAGE(epoxy::parse_address(text, a, error), error);
  return a;
}

std::string congestion_of(int fd) {
  char name[64] = {0};
  socklen_t len = sizeof name;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) != 0) return "<error>";
  return std::string(name);
}

std::string system_congestion() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_congestion_control");
  std::string name;
  in >> name;
  return name;
}

// Accepts one connection from a non-blocking listener, waiting for it up to the test timeout.
Fd accept_one(int listener) {
  if (!t::wait_readable(listener, t::kIoTimeoutMs)) return Fd();
  return Fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
}

// Starts a connect and waits for its outcome through epoll, as the engine does; returns the
// result connect_result() reads from the event, and the events seen.
int connect_via_epoll(const SockAddr& to, Fd& fd, uint32_t& events) {
  int err = 0;
  ConnectStart r = epoxy::start_connect(to, "", fd, err);
  if (r == ConnectStart::Failed) return err;
  REQUIRE(fd);
  if (r == ConnectStart::Connected) {
    events = EPOLLOUT;
    return 0;
  }
  Fd ep(epoll_create1(EPOLL_CLOEXEC));
  REQUIRE(ep);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  REQUIRE(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev) == 0);
  epoll_event got{};
  int n = epoll_wait(ep.get(), &got, 1, t::kIoTimeoutMs);
  REQUIRE(n == 1);
  events = got.events;
  return epoxy::connect_result(fd.get(), got.events);
}

}  // namespace

TEST_CASE("socket: open_listener makes a non-blocking close-on-exec reusable listener") {
  std::string error;
  Fd l = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(t::free_port())), 4096, "", error);
  REQUIRE_MESSAGE(l, error);
  CHECK(error.empty());
  CHECK(t::fd_nonblocking(l.get()));
  CHECK(t::fd_cloexec(l.get()));
  CHECK(t::int_sockopt(l.get(), SOL_SOCKET, SO_REUSEADDR) == 1);
  CHECK(t::int_sockopt(l.get(), SOL_SOCKET, SO_ACCEPTCONN) == 1);
  CHECK(t::int_sockopt(l.get(), SOL_SOCKET, SO_TYPE) == SOCK_STREAM);
  CHECK(t::int_sockopt(l.get(), IPPROTO_TCP, TCP_NODELAY) == 1);
  // Non-blocking: accept with nothing queued returns at once.
  errno = 0;
  CHECK(accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK) == -1);
  CHECK((errno == EAGAIN || errno == EWOULDBLOCK));
}

TEST_CASE("socket: accepted sockets inherit TCP_NODELAY from the listener") {
  std::string error;
  Fd l = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(t::free_port())), 16, "", error);
  REQUIRE_MESSAGE(l, error);
  Fd c = t::connect_loopback(t::local_port(l.get()));
  REQUIRE(c);
  Fd s = accept_one(l.get());
  REQUIRE(s);
  CHECK(t::int_sockopt(s.get(), IPPROTO_TCP, TCP_NODELAY) == 1);
}

TEST_CASE("socket: open_listener names the failing call") {
  std::string error;
  Fd first = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(t::free_port())), 16, "", error);
  REQUIRE_MESSAGE(first, error);
  uint16_t port = t::local_port(first.get());

  SUBCASE("bind: a port already listening") {
    Fd second = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(port)), 16, "", error);
    CHECK_FALSE(second);
    CHECK(error == std::string("bind: ") + strerror(EADDRINUSE));
  }
  SUBCASE("bind: an address that is not local") {
    Fd other = epoxy::open_listener(addr("192.0.2.1:" + std::to_string(port)), 16, "", error);
    CHECK_FALSE(other);
    CHECK(error == std::string("bind: ") + strerror(EADDRNOTAVAIL));
  }
  SUBCASE("setsockopt: an unknown congestion control") {
    Fd other = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(t::free_port())), 16, "no-such-cc", error);
    CHECK_FALSE(other);
    CHECK(error.find("setsockopt(TCP_CONGESTION, no-such-cc)") == 0);
  }
}

TEST_CASE("socket: SO_REUSEADDR lets a listener rebind while a closed connection is in TIME_WAIT") {
  std::string error;
  uint16_t port = t::free_port();
  REQUIRE(port != 0);
  SockAddr a = addr("127.0.0.1:" + std::to_string(port));
  {
    Fd l = epoxy::open_listener(a, 16, "", error);
    REQUIRE_MESSAGE(l, error);
    Fd c = t::connect_loopback(port);
    REQUIRE(c);
    Fd s = accept_one(l.get());
    REQUIRE(s);
    // The server side closes first: its end (port `port`) goes to TIME_WAIT.
    s.reset();
    std::string rest;
    CHECK(t::read_to_end(c.get(), rest) == t::End::Eof);
  }
  // Control: without SO_REUSEADDR the kernel refuses the port now.
  Fd plain(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(plain);
  CHECK(::bind(plain.get(), a.get(), a.len) == -1);
  CHECK(errno == EADDRINUSE);
  plain.reset();

  Fd again = epoxy::open_listener(a, 16, "", error);
  CHECK_MESSAGE(again, error);
}

TEST_CASE("socket: congestion control on listeners and sockets") {
  std::string error;
  Fd l = epoxy::open_listener(addr("127.0.0.1:" + std::to_string(t::free_port())), 16, "reno", error);
  REQUIRE_MESSAGE(l, error);
  CHECK(congestion_of(l.get()) == "reno");

  // Empty: back to the system's default.
  REQUIRE(epoxy::set_congestion(l.get(), "", error));
  CHECK(congestion_of(l.get()) == system_congestion());

  CHECK_FALSE(epoxy::set_congestion(l.get(), "no-such-cc", error));
  CHECK(error.find("setsockopt(TCP_CONGESTION, no-such-cc): ") == 0);
  CHECK(congestion_of(l.get()) == system_congestion());  // unchanged by the failure
}

TEST_CASE("socket: start_connect reaches a real 127.0.0.1 listener") {
  Fd l = t::listen_loopback();
  REQUIRE(l);
  uint16_t port = t::local_port(l.get());

  Fd fd;
  uint32_t events = 0;
  int err = connect_via_epoll(addr("127.0.0.1:" + std::to_string(port)), fd, events);
  CHECK(err == 0);
  CHECK((events & EPOLLOUT) != 0);
  CHECK((events & (EPOLLERR | EPOLLHUP)) == 0);
  CHECK(epoxy::take_socket_error(fd.get()) == 0);
  CHECK(t::fd_nonblocking(fd.get()));
  CHECK(t::fd_cloexec(fd.get()));
  CHECK(t::int_sockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY) == 1);

  // The peer sees our address, and bytes flow.
  Fd s = accept_one(l.get());
  REQUIRE(s);
  t::set_io_timeouts(s.get());
  SockAddr peer;
  peer.len = sizeof peer.storage;
  REQUIRE(getpeername(s.get(), peer.get(), &peer.len) == 0);
  CHECK(peer.host() == "127.0.0.1");
  CHECK(peer.port() == t::local_port(fd.get()));
  REQUIRE(t::wait_writable(fd.get(), t::kIoTimeoutMs));
  CHECK(::send(fd.get(), "ping", 4, MSG_NOSIGNAL) == 4);
  CHECK(t::read_n(s.get(), 4) == "ping");
}

TEST_CASE("socket: start_connect applies a congestion control and ignores an unknown one") {
  Fd l = t::listen_loopback();
  REQUIRE(l);
  SockAddr to = addr("127.0.0.1:" + std::to_string(t::local_port(l.get())));
  Fd fd;
  int err = 0;
  CHECK(epoxy::start_connect(to, "reno", fd, err) != ConnectStart::Failed);
  CHECK(congestion_of(fd.get()) == "reno");
  Fd other;
  CHECK(epoxy::start_connect(to, "no-such-cc", other, err) != ConnectStart::Failed);
  CHECK(congestion_of(other.get()) == system_congestion());
}

TEST_CASE("socket: a refused connect reports ECONNREFUSED") {
  uint16_t port = t::free_port();  // nobody listens there now
  REQUIRE(port != 0);
  Fd fd;
  uint32_t events = 0;
  int err = connect_via_epoll(addr("127.0.0.1:" + std::to_string(port)), fd, events);
  CHECK(err == ECONNREFUSED);
  if (fd) {
    CHECK((events & (EPOLLERR | EPOLLHUP)) != 0);
    CHECK(epoxy::take_socket_error(fd.get()) == 0);  // SO_ERROR was consumed by connect_result
  }
}

TEST_CASE("socket: connect_result reads SO_ERROR only on error events") {
  Fd l = t::listen_loopback();
  REQUIRE(l);
  Fd c = t::connect_loopback(t::local_port(l.get()));
  REQUIRE(c);
  CHECK(epoxy::connect_result(c.get(), EPOLLOUT) == 0);
  CHECK(epoxy::connect_result(c.get(), EPOLLOUT | EPOLLIN) == 0);
  // A hang-up with no recorded error is unusable all the same.
  CHECK(epoxy::connect_result(c.get(), EPOLLHUP) == ECONNRESET);
  CHECK(epoxy::connect_result(c.get(), EPOLLERR) == ECONNRESET);
}

TEST_CASE("socket: set_abortive_close makes close() send an RST") {
  Fd l = t::listen_loopback();
  REQUIRE(l);
  Fd c = t::connect_loopback(t::local_port(l.get()));
  REQUIRE(c);
  Fd s = accept_one(l.get());
  REQUIRE(s);
  CHECK(t::write_all(s.get(), "partial"));
  epoxy::set_abortive_close(s.get());
  linger lg{};
  socklen_t len = sizeof lg;
  REQUIRE(getsockopt(s.get(), SOL_SOCKET, SO_LINGER, &lg, &len) == 0);
  CHECK(lg.l_onoff == 1);
  CHECK(lg.l_linger == 0);
  s.reset();
  std::string got;
  t::End end = t::read_to_end(c.get(), got);
  CHECK_MESSAGE(end == t::End::Reset, t::end_name(end));
}

TEST_CASE("socket: set_nodelay sets TCP_NODELAY") {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  CHECK(t::int_sockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY) == 0);
  epoxy::set_nodelay(fd.get());
  CHECK(t::int_sockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY) == 1);
}

TEST_CASE("socket: IPv6 loopback listener and connect") {
  std::string error;
  Fd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_loopback;
  if (!probe || ::bind(probe.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
    MESSAGE("no IPv6 loopback here: skipped");
    return;
  }
  uint16_t port = t::local_port(probe.get());
  probe.reset();
  Fd l = epoxy::open_listener(addr("[::1]:" + std::to_string(port)), 16, "", error);
  REQUIRE_MESSAGE(l, error);
  SockAddr bound;
  bound.len = sizeof bound.storage;
  REQUIRE(getsockname(l.get(), bound.get(), &bound.len) == 0);
  CHECK(bound.to_string() == "[::1]:" + std::to_string(port));

  Fd fd;
  uint32_t events = 0;
  CHECK(connect_via_epoll(addr("[::1]:" + std::to_string(port)), fd, events) == 0);
  Fd s = accept_one(l.get());
  REQUIRE(s);
  SockAddr peer;
  peer.len = sizeof peer.storage;
  REQUIRE(getpeername(s.get(), peer.get(), &peer.len) == 0);
  CHECK(peer.family() == AF_INET6);
  CHECK(peer.host() == "::1");
}
