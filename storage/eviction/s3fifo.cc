#include "storage/eviction/s3fifo.h"

#include <algorithm>

#include "storage/eviction/node_slots.h"

namespace strata {

void S3FifoPolicy::Unlink(uint32_t node) {
  Node& n = nodes_[node];
  nodes_[n.prev].next = n.next;
  nodes_[n.next].prev = n.prev;
  (n.queue == Queue::kSmall ? small_size_ : main_size_)--;
}

void S3FifoPolicy::LinkFront(uint32_t head, uint32_t node) {
  Node& n = nodes_[node];
  n.queue = head == kSmallHead ? Queue::kSmall : Queue::kMain;
  n.prev = head;
  n.next = nodes_[head].next;
  nodes_[n.next].prev = node;
  nodes_[head].next = node;
  (n.queue == Queue::kSmall ? small_size_ : main_size_)++;
}

void S3FifoPolicy::OnInsert(BlockId id, const BlockInfo& info) {
  auto [slot, inserted] = blocks_.try_emplace(id, 0);
  if (!inserted) return;  // REQUIRES violated; keep the existing entry.
  const uint32_t n = eviction_internal::TakeNode(nodes_, free_nodes_);
  slot->second = n;
  nodes_[n].id = id;
  nodes_[n].key_hash = info.key_hash;
  nodes_[n].freq = 0;
  auto ghost = ghost_.find(info.key_hash);
  if (ghost != ghost_.end() && ghost->second.live) {
    // Seen recently and evicted from small too early: admit to main.
    ghost->second.live = false;
    LinkFront(kMainHead, n);
  } else {
    LinkFront(kSmallHead, n);
  }
}

void S3FifoPolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Node& n = nodes_[it->second];
  n.freq = std::min<uint8_t>(n.freq + 1, kMaxFreq);
}

void S3FifoPolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  const uint32_t node = it->second;
  Unlink(node);
  // Left from small: remember it, so that a quick return goes to main. The ghost's bound counts
  // the leaving block.
  if (nodes_[node].queue == Queue::kSmall) AddGhost(nodes_[node].key_hash);
  blocks_.erase(it);
  free_nodes_.push_back(node);
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
  return it != blocks_.end() && nodes_[it->second].queue == Queue::kMain;
}

std::optional<BlockId> S3FifoPolicy::PickFromSmall(absl::FunctionRef<bool(BlockId)> can_evict) {
  // Walk from the tail (oldest); `it` is one past the block examined (the head: none yet).
  // Moving a promoted block to main leaves `it` where it is.
  uint32_t it = kSmallHead;
  while (nodes_[it].prev != kSmallHead) {
    const uint32_t cur = nodes_[it].prev;
    Node& n = nodes_[cur];
    if (n.freq > 0) {
      Unlink(cur);
      LinkFront(kMainHead, cur);
      n.freq = 0;
      continue;
    }
    if (can_evict(n.id)) return n.id;
    it = cur;
  }
  return std::nullopt;
}

std::optional<BlockId> S3FifoPolicy::PickFromMain(absl::FunctionRef<bool(BlockId)> can_evict) {
  // CLOCK over main: a block with a non-zero counter is decremented and moved to the head. Each
  // block is offered again after at most kMaxFreq trips, so this budget offers every block.
  size_t budget = main_size_ * (kMaxFreq + 2);
  uint32_t it = kMainHead;
  while (budget-- > 0 && main_size_ > 0) {
    // Past the newest block: wrap around to the tail.
    if (it == nodes_[kMainHead].next) it = kMainHead;
    const uint32_t cur = nodes_[it].prev;
    Node& n = nodes_[cur];
    if (n.freq > 0) {
      --n.freq;
      Unlink(cur);
      LinkFront(kMainHead, cur);
      continue;
    }
    if (can_evict(n.id)) return n.id;
    it = cur;
  }
  return std::nullopt;
}

std::optional<BlockId> S3FifoPolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  const bool small_over =
      static_cast<double>(small_size_) > kSmallShare * static_cast<double>(blocks_.size());
  if (small_over || main_size_ == 0) {
    if (auto v = PickFromSmall(can_evict)) return v;
    return PickFromMain(can_evict);
  }
  if (auto v = PickFromMain(can_evict)) return v;
  return PickFromSmall(can_evict);
}

}  // namespace strata
