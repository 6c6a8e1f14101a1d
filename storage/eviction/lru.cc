#include "storage/eviction/lru.h"

namespace strata {

void LruPolicy::OnInsert(BlockId id, const BlockInfo& /*info*/) {
  order_.push_front(id);
  pos_[id] = order_.begin();
}

void LruPolicy::OnAccess(BlockId id) {
  auto it = pos_.find(id);
  if (it == pos_.end()) return;
  order_.splice(order_.begin(), order_, it->second);
}

void LruPolicy::OnErase(BlockId id) {
  auto it = pos_.find(id);
  if (it == pos_.end()) return;
  order_.erase(it->second);
  pos_.erase(it);
}

std::optional<BlockId> LruPolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (can_evict(*it)) return *it;
  }
  return std::nullopt;
}

}  // namespace strata
