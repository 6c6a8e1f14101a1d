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
// a resident child, and the tier stays prefix-closed). The victim is, in order:
//   - the least recently used kTail candidate;
//   - the least recently used kInterior candidate, while that class holds at least
//     kInteriorShare of the tracked blocks (a small window in which a quickly continued
//     conversation still hits);
//   - among kReused candidates, the one with the lowest weight(uses) / age, where age counts
//     policy events since the last use and weight(u) = (u - 1)^kUsesExponent with uses capped at
//     kMaxUses: least recently used within equal uses, and blocks with many uses aged a little
//     faster, because their reuse probability falls faster with age (a conversation with many
//     turns behind it is nearer its end);
//   - the least recently used kInterior candidate.
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
  static constexpr double kUsesExponent = -0.25;
  static constexpr uint32_t kMaxUses = 8;
  static constexpr size_t kGhostPerBlock = 8;
  static constexpr size_t kMinGhost = 1 << 16;

  PrefixAwarePolicy();

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

  // kTail and kInterior candidates are in one list each; kReused ones in one list per use count
  // (2 .. kMaxUses).
  static constexpr size_t kNumLists = 2 + kMaxUses - 1;

  static ReuseClass ClassOf(const History& h);
  static size_t ListOf(const Entry& e);
  // Applies `change` to `e`, keeping its class, population_ and candidate list in step.
  template <typename Change>
  void Update(BlockId id, Entry& e, Change change);
  std::optional<BlockId> PickLru(size_t list, absl::FunctionRef<bool(BlockId)> can_evict) const;
  std::optional<BlockId> PickReused(absl::FunctionRef<bool(BlockId)> can_evict) const;
  void Remember(uint64_t key_hash, const History& h);

  absl::flat_hash_map<BlockId, Entry> blocks_;
  // Per list: candidates (no resident child) by last use, oldest first.
  std::array<absl::btree_map<uint64_t, BlockId>, kNumLists> candidates_;
  // weight(uses) of kReused lists, indexed by list.
  std::array<double, kNumLists> weight_{};
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
