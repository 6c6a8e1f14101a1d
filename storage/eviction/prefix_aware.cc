#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cstdint>

#include "storage/eviction/node_slots.h"

namespace strata {

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (!h.had_child) return kTail;
  return h.uses >= 2 ? kReused : kInterior;
}

void PrefixAwarePolicy::AddCandidate(BlockId id, Entry& e) {
  const uint32_t head = e.cls;
  const uint32_t newest = nodes_[head].prev;
  // The list position: after the newest node older than the block. Appending is the common
  // case; a re-listed block is looked for among the kListProbe oldest nodes, else it goes to
  // the side btree.
  uint32_t before = newest;
  if (newest != head && nodes_[newest].last_use > e.last_use) {
    before = head;
    for (size_t probe = 0;; ++probe) {
      const uint32_t next = nodes_[before].next;
      if (next == head || nodes_[next].last_use > e.last_use) break;
      if (probe == kListProbe) {
        side_[e.cls].emplace(e.last_use, id);
        e.where = kInSide;
        return;
      }
      before = next;
    }
  }
  const uint32_t n = eviction_internal::TakeNode(nodes_, free_nodes_);
  const uint32_t after = nodes_[before].next;
  nodes_[n] = Node{id, e.last_use, before, after};
  nodes_[before].next = n;
  nodes_[after].prev = n;
  e.where = kInList;
  e.node = n;
}

void PrefixAwarePolicy::RemoveCandidate(Entry& e) {
  if (e.where == kInList) {
    const Node& n = nodes_[e.node];
    nodes_[n.prev].next = n.next;
    nodes_[n.next].prev = n.prev;
    free_nodes_.push_back(e.node);
  } else if (e.where == kInSide) {
    side_[e.cls].erase(e.last_use);
  }
  e.where = kNotCandidate;
}

template <typename Change>
void PrefixAwarePolicy::Update(BlockId id, Entry& e, Change change) {
  RemoveCandidate(e);
  --population_[e.cls];
  change(e);
  e.cls = ClassOf(e.history);
  ++population_[e.cls];
  if (e.resident_children == 0) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnInsert(BlockId id, const BlockInfo& info) {
  auto [slot, inserted] = blocks_.try_emplace(id);
  if (!inserted) return;  // REQUIRES violated; keep the existing entry.
  Entry& e = slot->second;
  e.key_hash = info.key_hash;
  auto ghost = ghost_.find(info.key_hash);
  if (ghost != ghost_.end()) {
    e.history = ghost->second.history;
    // Its ghost_order_ entry stays and is skipped when it expires (its seq no longer matches).
    ghost_.erase(ghost);
  }
  if (e.history.uses < UINT32_MAX) ++e.history.uses;
  e.cls = ClassOf(e.history);
  e.last_use = ++clock_;
  ++population_[e.cls];
  AddCandidate(id, e);
  max_tracked_ = std::max(max_tracked_, blocks_.size());
}

void PrefixAwarePolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Update(id, it->second, [this](Entry& e) {
    if (e.history.uses < UINT32_MAX) ++e.history.uses;
    e.last_use = ++clock_;
  });
}

void PrefixAwarePolicy::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Update(id, it->second, [resident_children](Entry& e) {
    e.resident_children = resident_children;
    if (resident_children > 0) e.history.had_child = true;
  });
}

void PrefixAwarePolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  RemoveCandidate(e);
  --population_[e.cls];
  Remember(e.key_hash, e.history);
  blocks_.erase(it);
}

size_t PrefixAwarePolicy::ghost_limit() const {
  return std::max(kMinGhost, kGhostPerBlock * max_tracked_);
}

void PrefixAwarePolicy::Remember(uint64_t key_hash, const History& h) {
  const uint64_t seq = ++departures_;
  ghost_[key_hash] = Ghost{h, seq};
  ghost_order_.push_back({key_hash, seq});
  while (ghost_order_.size() > ghost_limit()) {
    const auto [old_hash, old_seq] = ghost_order_.front();
    ghost_order_.pop_front();
    // A hash that left, returned and left again is queued twice: only its newest departure
    // expires its history.
    auto old = ghost_.find(old_hash);
    if (old != ghost_.end() && old->second.seq == old_seq) ghost_.erase(old);
  }
}

std::optional<PrefixAwarePolicy::ReuseClass> PrefixAwarePolicy::TEST_class(BlockId id) const {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return std::nullopt;
  return it->second.cls;
}

bool PrefixAwarePolicy::TEST_in_ghost(uint64_t key_hash) const {
  return ghost_.contains(key_hash);
}

size_t PrefixAwarePolicy::TEST_side_candidates() const {
  size_t n = 0;
  for (const auto& side : side_) n += side.size();
  return n;
}

std::optional<BlockId> PrefixAwarePolicy::PickLru(
    ReuseClass cls, absl::FunctionRef<bool(BlockId)> can_evict) const {
  // Merge the list and the side btree, both oldest first, into one last-use order.
  const uint32_t head = cls;
  uint32_t n = nodes_[head].next;
  auto side = side_[cls].begin();
  while (n != head || side != side_[cls].end()) {
    BlockId id;
    if (side == side_[cls].end() || (n != head && nodes_[n].last_use < side->first)) {
      id = nodes_[n].id;
      n = nodes_[n].next;
    } else {
      id = side->second;
      ++side;
    }
    if (can_evict(id)) return id;
  }
  return std::nullopt;
}

std::optional<BlockId> PrefixAwarePolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  if (auto v = PickLru(kTail, can_evict)) return v;
  const double interior_share = blocks_.empty() ? 0
                                                : static_cast<double>(population_[kInterior]) /
                                                      static_cast<double>(blocks_.size());
  if (interior_share >= kInteriorShare) {
    if (auto v = PickLru(kInterior, can_evict)) return v;
  }
  if (auto v = PickLru(kReused, can_evict)) return v;
  return PickLru(kInterior, can_evict);
}

}  // namespace strata
