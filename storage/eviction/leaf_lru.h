// LeafFirstLru ("leaf-lru"): least recently used among the blocks with no resident child.
//
// In a prefix cache a block is only useful together with every block above it: evicting a parent
// while one of its children stays resident strands the child (no lookup can reach it). This policy
// therefore only offers blocks whose resident-children count is zero; a parent becomes a
// candidate again, at the recency it had, when its last resident child leaves. As SGLang's radix
// cache does, eviction thus peels chains from the leaves up, and a tier managed by it stays
// prefix-closed (every resident block's parent is resident) as long as the store reports
// OnResidentChildren for every parent.
//
// PickVictim returns nullopt when every leaf is rejected, even if some non-leaf could be evicted:
// stranding a child is never the policy's choice. Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_LEAF_LRU_H_
#define STRATA_STORAGE_EVICTION_LEAF_LRU_H_

#include <cstdint>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class LeafFirstLru final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "leaf-lru"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  void OnResidentChildren(BlockId id, uint32_t resident_children) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return blocks_.size(); }

  // Number of blocks that are currently candidates (no resident child).
  size_t TEST_leaf_count() const { return leaves_.size(); }

 private:
  struct Entry {
    uint64_t last_use = 0;  // Value of clock_ at the last insert or access.
    uint32_t resident_children = 0;
  };

  // Every tracked block.
  absl::flat_hash_map<BlockId, Entry> blocks_;
  // Candidates (resident_children == 0), oldest use first.
  absl::btree_map<uint64_t, BlockId> leaves_;
  uint64_t clock_ = 0;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_LEAF_LRU_H_
