// Fd: sole owner of one descriptor. Closed exactly once: on destruction, on reset, and when a
// move assigns a new descriptor over it; never when ownership was moved away or released.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/fd.h"

using epoxy::Fd;

namespace {

// Whether `fd` is an open descriptor of this process. (The test binary runs its cases on one
// thread, so no other code can reuse a number between the close and this check.)
bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

// A fresh descriptor (one end of a pipe; the other end is closed at once).
int open_one() {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  ::close(p[1]);
  return p[0];
}

}  // namespace

TEST_CASE("fd: an empty Fd is invalid and closes nothing") {
  Fd none;
  CHECK_FALSE(none.valid());
  CHECK_FALSE(static_cast<bool>(none));
  CHECK(none.get() == -1);
  CHECK(none.release() == -1);
  none.reset();  // no close(-1) to worry about, nothing to check but that it is harmless
  CHECK(none.get() == -1);
}

TEST_CASE("fd: the descriptor is closed when the Fd is destroyed") {
  int raw = open_one();
  {
    Fd fd(raw);
    CHECK(fd.valid());
    CHECK(fd.get() == raw);
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("fd: move construction transfers ownership and the source closes nothing") {
  int raw = open_one();
  Fd a(raw);
  Fd b(std::move(a));
  CHECK(a.get() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  CHECK(b.get() == raw);
  a.reset();
  CHECK(is_open(raw));
  b.reset();
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("fd: move assignment closes the target's old descriptor and takes the new one") {
  int old_raw = open_one();
  int new_raw = open_one();
  Fd target(old_raw);
  Fd source(new_raw);
  target = std::move(source);
  CHECK_FALSE(is_open(old_raw));
  CHECK(is_open(new_raw));
  CHECK(target.get() == new_raw);
  CHECK(source.get() == -1);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("fd: self move assignment keeps the descriptor open") {
  int raw = open_one();
  Fd fd(raw);
  Fd& alias = fd;
  fd = std::move(alias);
  CHECK(fd.get() == raw);
  CHECK(is_open(raw));
}

TEST_CASE("fd: release gives up ownership without closing") {
  int raw = open_one();
  int released = -1;
  {
    Fd fd(raw);
    released = fd.release();
    CHECK_FALSE(fd.valid());
  }
  CHECK(released == raw);
  CHECK(is_open(raw));
  ::close(raw);
}

TEST_CASE("fd: reset closes the old descriptor and owns the new one") {
  int first = open_one();
  int second = open_one();
  Fd fd(first);
  fd.reset(second);
  CHECK_FALSE(is_open(first));
  CHECK(fd.get() == second);
  fd.reset();
  CHECK_FALSE(is_open(second));
  CHECK_FALSE(fd.valid());
}
