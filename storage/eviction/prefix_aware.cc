#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cstdint>

namespace strata {

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (!h.had_child) return kTail;
  return h.uses >= 2 ? kReused : kInterior;
}

void PrefixAwarePolicy::AddCandidate(BlockId id, const Entry& e) {
  candidates_[e.cls].emplace(e.last_use, id);
}

void PrefixAwarePolicy::RemoveCandidate(const Entry& e) { candidates_[e.cls].erase(e.last_use); }

void PrefixAwarePolicy::Reclassify(BlockId id, Entry& e) {
  const bool candidate = e.resident_children == 0;
  if (candidate) RemoveCandidate(e);
  --population_[e.cls];
  e.cls = ClassOf(e.history);
  ++population_[e.cls];
  if (candidate) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnInsert(BlockId id, const BlockInfo& info) {
  if (blocks_.contains(id)) return;  // REQUIRES violated; keep the existing entry.
  Entry e;
  e.key_hash = info.key_hash;
  auto ghost = ghost_.find(info.key_hash);
  if (ghost != ghost_.end()) {
    e.history = ghost->second;
    // Its ghost_order_ entry stays; dropping it later erases nothing or a newer copy (harmless).
    ghost_.erase(ghost);
  }
  if (e.history.uses < UINT32_MAX) ++e.history.uses;
  e.cls = ClassOf(e.history);
  e.last_use = ++clock_;
  ++population_[e.cls];
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
  e.last_use = ++clock_;
  if (candidate) AddCandidate(id, e);
  Reclassify(id, e);
}

void PrefixAwarePolicy::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  if (e.resident_children == 0) RemoveCandidate(e);
  e.resident_children = resident_children;
  if (resident_children > 0) e.history.had_child = true;
  if (e.resident_children == 0) AddCandidate(id, e);
  Reclassify(id, e);
}

void PrefixAwarePolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  const Entry& e = it->second;
  if (e.resident_children == 0) RemoveCandidate(e);
  --population_[e.cls];
  Remember(e.key_hash, e.history);
  blocks_.erase(it);
}

void PrefixAwarePolicy::Remember(uint64_t key_hash, const History& h) {
  ghost_[key_hash] = h;
  ghost_order_.push_back(key_hash);
  const size_t limit = std::max(kMinGhost, kGhostPerBlock * blocks_.size());
  while (ghost_order_.size() > limit) {
    // When a hash is queued twice this drops its newer history early; the history is only an
    // estimate, and losing it costs one misclassification.
    ghost_.erase(ghost_order_.front());
    ghost_order_.pop_front();
  }
}

std::optional<PrefixAwarePolicy::ReuseClass> PrefixAwarePolicy::TEST_class(BlockId id) const {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return std::nullopt;
  return it->second.cls;
}

std::optional<BlockId> PrefixAwarePolicy::PickFrom(
    ReuseClass c, absl::FunctionRef<bool(BlockId)> can_evict) const {
  for (const auto& [last_use, id] : candidates_[c]) {
    if (can_evict(id)) return id;
  }
  return std::nullopt;
}

std::optional<BlockId> PrefixAwarePolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  if (auto v = PickFrom(kTail, can_evict)) return v;
  const double interior_share = blocks_.empty() ? 0
                                                : static_cast<double>(population_[kInterior]) /
                                                      static_cast<double>(blocks_.size());
  if (interior_share >= kInteriorShare) {
    if (auto v = PickFrom(kInterior, can_evict)) return v;
  }
  if (auto v = PickFrom(kReused, can_evict)) return v;
  return PickFrom(kInterior, can_evict);
}

}  // namespace strata
