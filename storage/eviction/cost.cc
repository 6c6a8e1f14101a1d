#include "storage/eviction/cost.h"

#include <algorithm>

namespace strata {

void GdsfCostPolicy::OnInsert(BlockId id, const BlockInfo& info) {
  Entry e;
  const double tokens = info.tokens == 0 ? 1.0 : static_cast<double>(info.tokens);
  const double bytes = info.bytes == 0 ? 1.0 : static_cast<double>(info.bytes);
  e.value_per_use = tokens / bytes;
  e.frequency = 0;
  auto [it, inserted] = blocks_.emplace(id, e);
  if (!inserted) return;  // REQUIRES violated; keep the existing entry.
  Reprioritize(id, it->second);
}

void GdsfCostPolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  order_.erase({{it->second.priority, it->second.seq}, id});
  Reprioritize(id, it->second);
}

void GdsfCostPolicy::Reprioritize(BlockId id, Entry& e) {
  ++e.frequency;
  e.priority = inflation_ + static_cast<double>(e.frequency) * e.value_per_use;
  e.seq = ++seq_;
  order_.insert({{e.priority, e.seq}, id});
}

void GdsfCostPolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  if (picked_ == id) {
    // Evicted as a victim: age everyone else by raising the floor. Removals that were not
    // picked (explicit deletes, promotions) do not age the cache.
    inflation_ = std::max(inflation_, it->second.priority);
    picked_.reset();
  }
  order_.erase({{it->second.priority, it->second.seq}, id});
  blocks_.erase(it);
}

double GdsfCostPolicy::TEST_priority(BlockId id) const {
  auto it = blocks_.find(id);
  return it == blocks_.end() ? 0 : it->second.priority;
}

std::optional<BlockId> GdsfCostPolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  for (const auto& [key, id] : order_) {
    if (can_evict(id)) {
      picked_ = id;
      return id;
    }
  }
  return std::nullopt;
}

}  // namespace strata
