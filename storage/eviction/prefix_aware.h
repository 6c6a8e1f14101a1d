// PrefixAwarePolicy ("prefix-aware"): leaf-only eviction that predicts reuse from what the cache
// has seen of each block. The recommended default for prefix caches.
//
// Why: in LLM prefix-cache traces most blocks are used once, and which ones is predictable from
// the block's history (measured on Mooncake's synthetic trace, docs/prefix.md):
//   - a block that never had a child is the tail of a prompt (the newest user message, a partial
//     last block). Later turns re-send the history but replace that tail, so it is almost never
//     reused (about 4% of the time, even when it was already seen twice);
//   - an interior block seen in one request is reused when its conversation continues: a third
//     to two thirds of the time, but mostly long after LRU would have dropped it;
//   - an interior block already seen in two or more requests belongs to a live conversation or a
//     shared prompt and is reused about 80% of the time.
// LRU treats the three alike and spends its capacity on tails and first turns.
//
// How: each block is in one reuse class, from its history:
//   kTail      never had a resident child;
//   kInterior  had a resident child, used by one request;
//   kReused    had a resident child, used (inserted or accessed) by two or more requests.
// History survives eviction in a ghost table keyed by BlockInfo::key_hash (uses and whether the
// block had a child), bounded to kGhostPerBlock entries per tracked block and at least
// kMinGhost: a block that returns after eviction resumes its history (a "ghost hit"), so the
// second turn of a conversation promotes its prefix to kReused even if the first turn's blocks
// were evicted.
// Only blocks with no resident child are candidates (as in leaf-lru: a parent never leaves under
// a resident child, and the tier stays prefix-closed). The victim is the least recently used
// candidate of, in order: kTail; kInterior while that class holds at least kInteriorShare of the
// tracked blocks (a small window in which a quickly continued conversation still hits); kReused;
// kInterior.
//
// Costs: O(log n) per event; PickVictim visits rejected candidates only. Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
#define STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_

#include <array>
#include <cstdint>
#include <deque>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

// The policy name to use when none is configured.
inline constexpr char kRecommendedEvictionPolicy[] = "prefix-aware";

class PrefixAwarePolicy final : public EvictionPolicy {
 public:
  enum ReuseClass : uint8_t { kTail = 0, kInterior = 1, kReused = 2 };
  static constexpr size_t kNumClasses = 3;
  static constexpr double kInteriorShare = 0.05;
  static constexpr size_t kGhostPerBlock = 8;
  static constexpr size_t kMinGhost = 1 << 16;

  std::string_view name() const override { return "prefix-aware"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  void OnResidentChildren(BlockId id, uint32_t resident_children) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return blocks_.size(); }

  // The class of a tracked block; nullopt when untracked.
  std::optional<ReuseClass> TEST_class(BlockId id) const;
  size_t TEST_ghost_size() const { return ghost_.size(); }

 private:
  struct History {
    uint32_t uses = 0;
    bool had_child = false;
  };
  struct Entry {
    uint64_t key_hash = 0;
    History history;
    uint32_t resident_children = 0;
    uint64_t last_use = 0;
    ReuseClass cls = kTail;
  };

  static ReuseClass ClassOf(const History& h);
  // Moves `e` to the class its history says, keeping population_ and candidates_ in step.
  void Reclassify(BlockId id, Entry& e);
  void AddCandidate(BlockId id, const Entry& e);
  void RemoveCandidate(const Entry& e);
  std::optional<BlockId> PickFrom(ReuseClass c, absl::FunctionRef<bool(BlockId)> can_evict) const;
  void Remember(uint64_t key_hash, const History& h);

  absl::flat_hash_map<BlockId, Entry> blocks_;
  // Per class: candidates (no resident child) by last use, oldest first.
  std::array<absl::btree_map<uint64_t, BlockId>, kNumClasses> candidates_;
  // Per class: every tracked block, candidate or not.
  std::array<size_t, kNumClasses> population_{};
  // Ghost history of blocks that left. ghost_order_ is oldest first and may name a hash more
  // than once (it left, returned and left again); ghost_ holds the newest history.
  absl::flat_hash_map<uint64_t, History> ghost_;
  std::deque<uint64_t> ghost_order_;
  uint64_t clock_ = 0;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
