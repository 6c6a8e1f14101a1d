// GdsfCostPolicy ("cost"): keeps the blocks that save the most recomputation per byte held,
// with aging (GreedyDual-Size-Frequency, Cherkasova 1998).
//
// Each block has a priority  H = L + frequency * tokens / bytes,  where tokens is the
// recomputation the block saves (BlockInfo::tokens; 1 when unknown), bytes what it holds in the
// tier (1 when unknown), frequency the number of inserts and accesses while resident, and L the
// "inflation" value: the priority of the last victim. The victim is the block with the lowest
// H (the oldest on ties). Because L only grows, blocks that stop being used age out even if
// their past value was high, while a cheap block must be used often to stay. Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_COST_H_
#define STRATA_STORAGE_EVICTION_COST_H_

#include <cstdint>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class GdsfCostPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "cost"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return blocks_.size(); }

  double TEST_inflation() const { return inflation_; }
  // The block's current priority H; 0 for an untracked block.
  double TEST_priority(BlockId id) const;

 private:
  struct Entry {
    double value_per_use = 0;  // tokens / bytes
    uint32_t frequency = 0;
    double priority = 0;
    uint64_t seq = 0;  // Tie-break: older first.
  };
  using Key = std::pair<double, uint64_t>;  // (priority, seq)

  void Reprioritize(BlockId id, Entry& e);

  absl::flat_hash_map<BlockId, Entry> blocks_;
  absl::btree_set<std::pair<Key, BlockId>> order_;
  double inflation_ = 0;
  uint64_t seq_ = 0;
  // The last block PickVictim returned; its priority becomes the inflation when it leaves.
  std::optional<BlockId> picked_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_COST_H_
