// LruPolicy: least recently inserted or accessed block leaves first. Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_LRU_H_
#define STRATA_STORAGE_EVICTION_LRU_H_

#include <list>

#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return pos_.size(); }

 private:
  // Front = most recent.
  std::list<BlockId> order_;
  absl::flat_hash_map<BlockId, std::list<BlockId>::iterator> pos_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_LRU_H_
