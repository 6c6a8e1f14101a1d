#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace strata {

PrefixAwarePolicy::PrefixAwarePolicy() {
  for (uint32_t uses = 2; uses <= kMaxUses; ++uses) {
    weight_[uses] = std::pow(static_cast<double>(uses - 1), kUsesExponent);
  }
}

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (!h.had_child) return kTail;
  return h.uses >= 2 ? kReused : kInterior;
}

size_t PrefixAwarePolicy::ListOf(const Entry& e) {
  if (e.cls != kReused) return e.cls;
  return std::min(e.history.uses, kMaxUses);  // 2 .. kMaxUses
}

template <typename Change>
void PrefixAwarePolicy::Update(BlockId id, Entry& e, Change change) {
  const bool was_candidate = e.resident_children == 0;
  if (was_candidate) candidates_[ListOf(e)].erase(e.last_use);
  --population_[e.cls];
  change(e);
  e.cls = ClassOf(e.history);
  ++population_[e.cls];
  if (e.resident_children == 0) candidates_[ListOf(e)].emplace(e.last_use, id);
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
  candidates_[ListOf(e)].emplace(e.last_use, id);
  blocks_.emplace(id, e);
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
  if (e.resident_children == 0) candidates_[ListOf(e)].erase(e.last_use);
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

std::optional<BlockId> PrefixAwarePolicy::PickLru(
    size_t list, absl::FunctionRef<bool(BlockId)> can_evict) const {
  for (const auto& [last_use, id] : candidates_[list]) {
    if (can_evict(id)) return id;
  }
  return std::nullopt;
}

std::optional<BlockId> PrefixAwarePolicy::PickReused(
    absl::FunctionRef<bool(BlockId)> can_evict) const {
  // Within a list the oldest candidate has the lowest score, so only list heads compete.
  std::optional<BlockId> best;
  double best_score = 0;
  for (size_t list = 2; list < kNumLists; ++list) {
    for (const auto& [last_use, id] : candidates_[list]) {
      if (!can_evict(id)) continue;
      const double score = weight_[list] / static_cast<double>(clock_ - last_use + 1);
      if (!best || score < best_score) {
        best = id;
        best_score = score;
      }
      break;
    }
  }
  return best;
}

std::optional<BlockId> PrefixAwarePolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  if (auto v = PickLru(kTail, can_evict)) return v;
  const double interior_share = blocks_.empty() ? 0
                                                : static_cast<double>(population_[kInterior]) /
                                                      static_cast<double>(blocks_.size());
  if (interior_share >= kInteriorShare) {
    if (auto v = PickLru(kInterior, can_evict)) return v;
  }
  if (auto v = PickReused(can_evict)) return v;
  return PickLru(kInterior, can_evict);
}

}  // namespace strata
