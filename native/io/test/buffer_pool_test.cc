// BufferPool: fixed-size buffers for the copy path. A buffer is held by one user or sits in the
// free list; the free list is capped so idle memory stays bounded.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "io/buffer_pool.h"

using epoxy::Buffer;
using epoxy::BufferPool;

TEST_CASE("buffer pool: buffers are 16 KiB by default, distinct, and counted while held") {
  BufferPool pool;
  CHECK(pool.buffer_size() == 16384);
  Buffer a = pool.acquire();
  Buffer b = pool.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a.get() != b.get());
  a[0] = 1;
  a[16383] = 2;  // the whole size is usable (ASan checks the bound)
  CHECK(pool.in_use() == 2);
  CHECK(pool.free_count() == 0);
  pool.release(std::move(a));
  pool.release(std::move(b));
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 2);
}

TEST_CASE("buffer pool: a released buffer is handed out again before any new one") {
  BufferPool pool(4096);
  Buffer a = pool.acquire();
  uint8_t* where = a.get();
  pool.release(std::move(a));
  Buffer again = pool.acquire();
  CHECK(again.get() == where);
  CHECK(pool.free_count() == 0);
  CHECK(pool.in_use() == 1);
  pool.release(std::move(again));
}

TEST_CASE("buffer pool: the free list never exceeds max_free (idle memory is bounded)") {
  BufferPool pool(1024, 2);
  std::vector<Buffer> held;
  for (int i = 0; i < 5; ++i) held.push_back(pool.acquire());
  CHECK(pool.in_use() == 5);
  for (Buffer& b : held) pool.release(std::move(b));
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 2);  // three were freed for good

  for (int i = 0; i < 3; ++i) held[static_cast<size_t>(i)] = pool.acquire();
  CHECK(pool.free_count() == 0);
  CHECK(pool.in_use() == 3);
  for (Buffer& b : held) pool.release(std::move(b));  // two already empty: ignored
  CHECK(pool.in_use() == 0);
}

TEST_CASE("buffer pool: releasing nothing is harmless and counts nothing") {
  BufferPool pool;
  Buffer held = pool.acquire();
  pool.release(Buffer());
  CHECK(pool.in_use() == 1);
  CHECK(pool.free_count() == 0);
  pool.release(std::move(held));
  CHECK(pool.in_use() == 0);
}

TEST_CASE("buffer pool: a custom size is honoured") {
  BufferPool pool(65536, 1);
  CHECK(pool.buffer_size() == 65536);
  Buffer b = pool.acquire();
  b[65535] = 7;
  pool.release(std::move(b));
  CHECK(pool.free_count() == 1);
}
