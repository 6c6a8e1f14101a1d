#include "storage/eviction/prefix_aware.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace strata {

static double Knob(const char* name, double d) {
  const char* v = getenv(name);
  return v ? atof(v) : d;
}
static const double kAlpha = Knob("PA_ALPHA", 0.5);
static const double kK = Knob("PA_K", 3);
static const int kMode = static_cast<int>(Knob("PA_MODE", 1));

PrefixAwarePolicy::ReuseClass PrefixAwarePolicy::ClassOf(const History& h) {
  if (h.uses >= 2) return kReused;
  return h.had_child ? kInterior : kTail;
}

void PrefixAwarePolicy::AddCandidate(BlockId id, const Entry& e) {
  if (e.cls != kReused) {
    candidates_[e.cls].emplace(e.last_use, id);
    return;
  }
  lru_.emplace(e.last_use, id);
  const double g = std::max(1.0, e.history.gap);
  by_pred_.insert({e.last_use + static_cast<uint64_t>(g), id});
  by_deadline_.insert({e.last_use + static_cast<uint64_t>(kK * g), id});
}

void PrefixAwarePolicy::RemoveCandidate(BlockId id, const Entry& e) {
  if (e.cls != kReused) {
    candidates_[e.cls].erase(e.last_use);
    return;
  }
  lru_.erase(e.last_use);
  const double g = std::max(1.0, e.history.gap);
  by_pred_.erase({e.last_use + static_cast<uint64_t>(g), id});
  by_deadline_.erase({e.last_use + static_cast<uint64_t>(kK * g), id});
}

void PrefixAwarePolicy::Touch(Entry& e) {
  const uint64_t now = ++clock_;
  if (e.history.uses > 0) {
    const double g = static_cast<double>(now - e.history.last_use);
    e.history.gap = e.history.gap == 0 ? g : kAlpha * g + (1 - kAlpha) * e.history.gap;
  }
  if (e.history.uses < UINT32_MAX) ++e.history.uses;
  e.history.last_use = now;
  e.last_use = now;
  e.cls = ClassOf(e.history);
}

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
  Touch(e);
  AddCandidate(id, e);
  blocks_.emplace(id, e);
}

void PrefixAwarePolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool candidate = e.resident_children == 0;
  if (candidate) RemoveCandidate(id, e);
  Touch(e);
  if (candidate) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool was_candidate = e.resident_children == 0;
  const bool is_candidate = resident_children == 0;
  if (was_candidate) RemoveCandidate(id, e);
  e.resident_children = resident_children;
  if (resident_children > 0) e.history.had_child = true;
  e.cls = ClassOf(e.history);
  if (is_candidate) AddCandidate(id, e);
}

void PrefixAwarePolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  if (it->second.resident_children == 0) RemoveCandidate(id, it->second);
  Remember(it->second.key_hash, it->second.history);
  blocks_.erase(it);
}

void PrefixAwarePolicy::Remember(uint64_t key_hash, const History& h) {
  ghost_[key_hash] = h;
  ghost_order_.push_back(key_hash);
  const size_t limit = std::max(kMinGhost, kGhostPerBlock * blocks_.size());
  while (ghost_order_.size() > limit) {
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
  for (size_t c = 0; c < 2; ++c) {
    for (const auto& [last_use, id] : candidates_[c]) {
      if (can_evict(id)) return id;
    }
  }
  if (kMode == 0) {
    for (const auto& [last_use, id] : lru_) {
      if (can_evict(id)) return id;
    }
    return std::nullopt;
  }
  for (const auto& [deadline, id] : by_deadline_) {
    if (deadline >= clock_) break;
    if (can_evict(id)) return id;
  }
  for (auto it = by_pred_.rbegin(); it != by_pred_.rend(); ++it) {
    if (can_evict(it->second)) return it->second;
  }
  return std::nullopt;
}

}  // namespace strata
