// PipePool: kernel pipes for splice. Sized with F_SETPIPE_SZ, non-blocking, bounded in number,
// and never reused while holding bytes (stale bytes would leak one session's data into another).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "io/pipe_pool.h"

using epoxy::Pipe;
using epoxy::PipePool;

namespace {

bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

Pipe take(PipePool& pool) {
  Pipe p;
  REQUIRE(pool.acquire(p));
  REQUIRE(p);
  return p;
}

void put_bytes(const Pipe& p, size_t n) {
  std::vector<char> bytes(n, 'x');
  REQUIRE(::write(p.write_end.get(), bytes.data(), n) == static_cast<ssize_t>(n));
}

}  // namespace

TEST_CASE("pipe pool: a new pipe is non-blocking, close-on-exec, and has the configured capacity") {
  PipePool pool(131072, 4);
  Pipe p = take(pool);
  for (int fd : {p.read_end.get(), p.write_end.get()}) {
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  CHECK(fcntl(p.write_end.get(), F_GETPIPE_SZ) == 131072);
  CHECK(p.capacity == 131072);
  CHECK(pool.in_use() == 1);
  pool.release(std::move(p), true);
}

TEST_CASE("pipe pool: capacity is what the kernel granted (sizes round up to a power of two pages)") {
  PipePool pool(100000, 4);  // not a power of two
  Pipe p = take(pool);
  int granted = fcntl(p.write_end.get(), F_GETPIPE_SZ);
  CHECK(granted == 131072);
  CHECK(p.capacity == static_cast<size_t>(granted));
  pool.release(std::move(p), true);
}

TEST_CASE("pipe pool: an empty pipe returns to the pool and is handed out again") {
  PipePool pool(65536, 4);
  Pipe p = take(pool);
  int read_fd = p.read_end.get();
  pool.release(std::move(p), true);
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 1);
  CHECK(is_open(read_fd));
  Pipe again = take(pool);
  CHECK(again.read_end.get() == read_fd);
  CHECK(pool.free_count() == 0);
  pool.release(std::move(again), true);
}

TEST_CASE("pipe pool: a pipe released with bytes in it is closed, never reused") {
  PipePool pool(65536, 4);
  Pipe dirty = take(pool);
  put_bytes(dirty, 100);
  int read_fd = dirty.read_end.get();
  int write_fd = dirty.write_end.get();
  pool.release(std::move(dirty), false);
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 0);
  CHECK_FALSE(is_open(read_fd));
  CHECK_FALSE(is_open(write_fd));
}

TEST_CASE("pipe pool: at most max_pipes in use, and acquire says no instead of opening more") {
  PipePool pool(65536, 2);
  Pipe a = take(pool);
  Pipe b = take(pool);
  Pipe c;
  CHECK_FALSE(pool.acquire(c));
  CHECK_FALSE(c);
  CHECK(pool.failures() == 0);  // the limit is not a kernel failure
  pool.release(std::move(a), true);
  CHECK(pool.acquire(c));
  pool.release(std::move(b), true);
  pool.release(std::move(c), true);
  CHECK(pool.free_count() == 2);

  PipePool none(65536, 0);  // max_pipes 0: splice disabled
  Pipe d;
  CHECK_FALSE(none.acquire(d));
}

TEST_CASE("pipe pool: in use plus free never exceeds max_pipes, even after max_pipes shrinks") {
  PipePool pool(65536, 3);
  std::vector<Pipe> held;
  for (int i = 0; i < 3; ++i) held.push_back(take(pool));
  pool.configure(65536, 1);  // lowered while all three are out
  for (Pipe& p : held) pool.release(std::move(p), true);
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 1);

  pool.configure(65536, 4);
  std::vector<Pipe> four;
  for (int i = 0; i < 4; ++i) four.push_back(take(pool));
  for (Pipe& p : four) pool.release(std::move(p), true);
  CHECK(pool.free_count() == 4);
  pool.configure(65536, 2);
  CHECK(pool.free_count() == 2);  // surplus free pipes closed at once
}

TEST_CASE("pipe pool: a new pipe size drops free pipes of the old size") {
  PipePool pool(65536, 4);
  Pipe p = take(pool);
  int old_fd = p.read_end.get();
  pool.release(std::move(p), true);
  REQUIRE(pool.free_count() == 1);
  pool.configure(262144, 4);
  CHECK(pool.free_count() == 0);
  CHECK_FALSE(is_open(old_fd));
  Pipe bigger = take(pool);
  CHECK(bigger.capacity == 262144);
  CHECK(fcntl(bigger.write_end.get(), F_GETPIPE_SZ) == 262144);
  pool.release(std::move(bigger), true);

  pool.configure(262144, 4);  // same size: free pipes are kept
  CHECK(pool.free_count() == 1);
}

TEST_CASE("pipe pool: bytes written out of pipes are summed for the engine") {
  PipePool pool;
  CHECK(pool.bytes_out() == 0);
  pool.count_out(100);
  pool.count_out(23);
  CHECK(pool.bytes_out() == 123);
}
