#include "storage/eviction/s3fifo.h"

#include <algorithm>
#include <iterator>

namespace strata {

void S3FifoPolicy::OnInsert(BlockId id, const BlockInfo& info) {
  Entry e;
  e.key_hash = info.key_hash;
  auto ghost = ghost_.find(info.key_hash);
  if (ghost != ghost_.end() && ghost->second.live) {
    // Seen recently and evicted from small too early: admit to main.
    ghost->second.live = false;
    e.queue = Queue::kMain;
    main_.push_front(id);
    e.pos = main_.begin();
  } else {
    e.queue = Queue::kSmall;
    small_.push_front(id);
    e.pos = small_.begin();
  }
  blocks_[id] = e;
}

void S3FifoPolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  it->second.freq = std::min<uint8_t>(it->second.freq + 1, kMaxFreq);
}

void S3FifoPolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  if (e.queue == Queue::kSmall) {
    small_.erase(e.pos);
    // Left from small: remember it, so that a quick return goes to main.
    AddGhost(e.key_hash);
  } else {
    main_.erase(e.pos);
  }
  blocks_.erase(it);
}

void S3FifoPolicy::AddGhost(uint64_t key_hash) {
  Ghost& g = ghost_[key_hash];
  ++g.copies;
  g.live = true;
  ghost_order_.push_back(key_hash);
  const size_t limit = std::max<size_t>(blocks_.size(), 1);
  while (ghost_order_.size() > limit) {
    auto old = ghost_.find(ghost_order_.front());
    ghost_order_.pop_front();
    // Forgetting the oldest copy forgets the hash only when no newer copy is queued.
    if (old != ghost_.end() && --old->second.copies == 0) ghost_.erase(old);
  }
}

bool S3FifoPolicy::TEST_in_ghost(uint64_t key_hash) const {
  auto it = ghost_.find(key_hash);
  return it != ghost_.end() && it->second.live;
}

bool S3FifoPolicy::TEST_in_main(BlockId id) const {
  auto it = blocks_.find(id);
  return it != blocks_.end() && it->second.queue == Queue::kMain;
}

std::optional<BlockId> S3FifoPolicy::PickFromSmall(absl::FunctionRef<bool(BlockId)> can_evict) {
  // Walk from the tail (oldest); `it` is one past the block examined. Splicing a promoted block
  // into main keeps every other iterator valid.
  auto it = small_.end();
  while (it != small_.begin()) {
    auto cur = std::prev(it);
    const BlockId id = *cur;
    Entry& e = blocks_[id];
    if (e.freq > 0) {
      main_.splice(main_.begin(), small_, cur);
      e.queue = Queue::kMain;
      e.freq = 0;
      e.pos = main_.begin();
      continue;
    }
    if (can_evict(id)) return id;
    it = cur;
  }
  return std::nullopt;
}

std::optional<BlockId> S3FifoPolicy::PickFromMain(absl::FunctionRef<bool(BlockId)> can_evict) {
  // CLOCK over main: a block with a non-zero counter is decremented and moved to the head. Each
  // block is offered again after at most kMaxFreq trips, so this budget offers every block.
  size_t budget = main_.size() * (kMaxFreq + 2);
  auto it = main_.end();
  while (budget-- > 0 && !main_.empty()) {
    if (it == main_.begin()) it = main_.end();
    auto cur = std::prev(it);
    const BlockId id = *cur;
    Entry& e = blocks_[id];
    if (e.freq > 0) {
      --e.freq;
      main_.splice(main_.begin(), main_, cur);
      e.pos = main_.begin();
      continue;
    }
    if (can_evict(id)) return id;
    it = cur;
  }
  return std::nullopt;
}

std::optional<BlockId> S3FifoPolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  const bool small_over =
      static_cast<double>(small_.size()) > kSmallShare * static_cast<double>(blocks_.size());
  if (small_over || main_.empty()) {
    if (auto v = PickFromSmall(can_evict)) return v;
    return PickFromMain(can_evict);
  }
  if (auto v = PickFromMain(can_evict)) return v;
  return PickFromSmall(can_evict);
}

}  // namespace strata
