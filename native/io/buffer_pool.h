// Pooled fixed-size byte buffers for the copy path. Invariant: a buffer is either held by exactly
// one channel or sits in the free list; the free list never exceeds `max_free`, so memory held
// by idle buffers is bounded, and channels give their buffer back as soon as they go idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace epoxy {

using Buffer = std::unique_ptr<uint8_t[]>;

class BufferPool {
 public:
  explicit BufferPool(size_t buffer_size = 16384, size_t max_free = 256)
      : size_(buffer_size), max_free_(max_free) {}

  size_t buffer_size() const { return size_; }

  Buffer acquire() {
    ++in_use_;
    if (!free_.empty()) {
      Buffer b = std::move(free_.back());
      free_.pop_back();
      return b;
    }
    return std::make_unique_for_overwrite<uint8_t[]>(size_);
  }

  void release(Buffer b) {
    if (!b) return;
    --in_use_;
    if (free_.size() < max_free_) free_.push_back(std::move(b));
  }

  size_t in_use() const { return in_use_; }
  size_t free_count() const { return free_.size(); }

 private:
  size_t size_;
  size_t max_free_;
  size_t in_use_ = 0;
  std::vector<Buffer> free_;
};

}  // namespace epoxy
