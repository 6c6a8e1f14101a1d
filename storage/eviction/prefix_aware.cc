#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cstdint>

namespace strata {

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (h.uses >= 2) return kReused;
  return h.had_child ? kInterior : kTail;
}

void PrefixAwarePolicy::AddCandidate(BlockId id, const Entry& e) {
  candidates_[e.cls].emplace(e.last_use, id);
}

void PrefixAwarePolicy::RemoveCandidate(const Entry& e) { candidates_[e.cls].erase(e.last_use); }

void PrefixAwarePolicy::OnInsert(BlockId id, const BlockInfo& info) {
  if (blocks_.contains(id)) return;  // REQUIRES violated; keep the existing entry.
  Entry e;
  e.key_hash = info.key_hash;
  auto ghost = ghost_.find(info.key_hash);
  if (ghost != ghost_.end()) {
    e.history = ghost->second;
    // The stale ghost_order_ entry is skipped when it reaches the front.
    ghost_.erase(ghost);
  }
  ++e.history.uses;
  e.cls = ClassOf(e.history);
  e.last_use = ++clock_;
  AddCandidate(id, e);
  blocks_.emplace(id, e);
}

void PrefixAwarePolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool candidate = e.resident_children == 0;
  if (candidate) RemoveCandidate(e);
  if (e.history.uses < UINT32_MAX) ++e.history.uses;
  e.cls = ClassOf(e.history);
  e.last_use = ++clock_;
  if (candidate) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool was_candidate = e.resident_children == 0;
  const bool is_candidate = resident_children == 0;
  if (was_candidate) RemoveCandidate(e);
  e.resident_children = resident_children;
  if (resident_children > 0) e.history.had_child = true;
  e.cls = ClassOf(e.history);
  if (is_candidate) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  if (it->second.resident_children == 0) RemoveCandidate(it->second);
  Remember(it->second.key_hash, it->second.history);
  blocks_.erase(it);
}

void PrefixAwarePolicy::Remember(uint64_t key_hash, const History& h) {
  ghost_[key_hash] = h;
  ghost_order_.push_back(key_hash);
  const size_t limit = std::max(kMinGhost, kGhostPerBlock * blocks_.size());
  while (ghost_order_.size() > limit) {
    // A hash queued more than once is dropped with its oldest copy; the history is an estimate
    // and losing it only costs a misclassification.
    ghost_.erase(ghost_order_.front());
    ghost_order_.pop_front();
  }
}

std::optional<PrefixAwarePolicy::ReuseClass> PrefixAwarePolicy::TEST_class(BlockId id) const {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return std::nullopt;
  return it->second.cls;
}

std::optional<BlockId> PrefixAwarePolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  for (const auto& by_use : candidates_) {
    for (const auto& [last_use, id] : by_use) {
      if (can_evict(id)) return id;
    }
  }
  return std::nullopt;
}

}  // namespace strata
