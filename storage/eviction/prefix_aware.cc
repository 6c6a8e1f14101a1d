#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cstdint>

namespace strata {

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (!h.had_child) return kTail;
  return h.uses >= 2 ? kReused : kInterior;
}

template <typename Change>
void PrefixAwarePolicy::Update(BlockId id, Entry& e, Change change) {
  const bool was_candidate = e.resident_children == 0;
  if (was_candidate) candidates_[e.cls].erase(e.last_use);
  --population_[e.cls];
  change(e);
  e.cls = ClassOf(e.history);
  ++population_[e.cls];
  if (e.resident_children == 0) candidates_[e.cls].emplace(e.last_use, id);
}

void PrefixAwarePolicy::OnInsert(BlockId id, const BlockInfo& info) {
  if (blocks_.contains(id)) return;  // REQUIRES violated; keep the existing entry.
  Entry e;
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
  candidates_[e.cls].emplace(e.last_use, id);
  blocks_.emplace(id, e);
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
  const Entry& e = it->second;
  if (e.resident_children == 0) candidates_[e.cls].erase(e.last_use);
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

std::optional<BlockId> PrefixAwarePolicy::PickLru(
    ReuseClass cls, absl::FunctionRef<bool(BlockId)> can_evict) const {
  for (const auto& [last_use, id] : candidates_[cls]) {
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
