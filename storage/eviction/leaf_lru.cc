#include "storage/eviction/leaf_lru.h"

namespace strata {

void LeafFirstLru::OnInsert(BlockId id, const BlockInfo& /*info*/) {
  Entry& e = blocks_[id];
  e.last_use = ++clock_;
  e.resident_children = 0;
  leaves_.emplace(e.last_use, id);
}

void LeafFirstLru::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool leaf = e.resident_children == 0;
  if (leaf) leaves_.erase(e.last_use);
  e.last_use = ++clock_;
  if (leaf) leaves_.emplace(e.last_use, id);
}

void LeafFirstLru::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  if (it->second.resident_children == 0) leaves_.erase(it->second.last_use);
  blocks_.erase(it);
}

void LeafFirstLru::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  const bool was_leaf = e.resident_children == 0;
  const bool is_leaf = resident_children == 0;
  e.resident_children = resident_children;
  if (was_leaf && !is_leaf) leaves_.erase(e.last_use);
  if (!was_leaf && is_leaf) leaves_.emplace(e.last_use, id);
}

std::optional<BlockId> LeafFirstLru::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  for (const auto& [last_use, id] : leaves_) {
    if (can_evict(id)) return id;
  }
  return std::nullopt;
}

}  // namespace strata
