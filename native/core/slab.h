// Slab: owned objects addressed by 64-bit keys that stay unique over time. A key is
// (generation << 32 | index) | tag_bits; freeing a slot bumps its generation, so a key held by a
// stale epoll event or timer finds nothing instead of the slot's next occupant.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace epoxy {

template <typename T>
class Slab {
 public:
  // `generation_bits` bounds the generation so keys stay clear of the caller's tag bits;
  // `tag` is ORed into every key (e.g. a bit that says which slab a key belongs to).
  explicit Slab(unsigned generation_bits, uint64_t tag = 0)
      : generation_mask_((1u << generation_bits) - 1), tag_(tag) {}

  // The key the next insert() will return, so an object can know its key when constructed.
  uint64_t next_key() {
    if (free_.empty()) {
      free_.push_back(static_cast<uint32_t>(slots_.size()));
      slots_.emplace_back();
    }
    uint32_t index = free_.back();
    return tag_ | (static_cast<uint64_t>(slots_[index].generation) << 32) | index;
  }

  // Stores `item` under next_key(); returns it.
  T& insert(std::unique_ptr<T> item) {
    next_key();  // makes sure a free slot exists
    uint32_t index = free_.back();
    free_.pop_back();
    slots_[index].item = std::move(item);
    ++size_;
    return *slots_[index].item;
  }

  T* find(uint64_t key) const {
    uint32_t index = static_cast<uint32_t>(key & 0xffffffffu);
    if (index >= slots_.size()) return nullptr;
    const Slot& s = slots_[index];
    if (!s.item || s.generation != static_cast<uint32_t>((key & ~tag_) >> 32)) return nullptr;
    return s.item.get();
  }

  // Destroys the object under `key` (which must be live).
  void erase(uint64_t key) {
    uint32_t index = static_cast<uint32_t>(key & 0xffffffffu);
    Slot& s = slots_[index];
    s.item.reset();
    s.generation = (s.generation + 1) & generation_mask_;
    free_.push_back(index);
    --size_;
  }

  // Destroys every object (engine shutdown).
  void clear() {
    for (Slot& s : slots_) s.item.reset();
  }

  size_t size() const { return size_; }

  // The keys of every live object, for a walk that may erase some of them.
  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> out;
    out.reserve(size_);
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].item) out.push_back(tag_ | (static_cast<uint64_t>(slots_[i].generation) << 32) | i);
    }
    return out;
  }

 private:
  struct Slot {
    std::unique_ptr<T> item;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint32_t generation_mask_;
  uint64_t tag_;
  size_t size_ = 0;
};

}  // namespace epoxy
