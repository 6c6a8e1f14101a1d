// PrefixAwarePolicy ("prefix-aware"): leaf-only eviction that predicts reuse from the block's
// history. The recommended default for prefix caches.
//
// Why: in LLM prefix-cache traces (Mooncake) most blocks are used once, and which ones is
// predictable from what the cache has already seen:
//   - a block that never had a child is the tail of a prompt (the user's latest message, a
//     partial last block): it is almost never reused (about 4% on the Mooncake trace);
//   - an interior block seen in one request is reused when its conversation continues
//     (about a third to two thirds of the time, more for long prompts);
//   - a block already seen in two or more requests belongs to a live conversation or a shared
//     prompt and is reused about 80% of the time.
// LRU mixes the three; what it loses is the blocks of live conversations whose next turn comes
// after LRU's horizon.
//
// How: every block is in one reuse class, from its history:
//   kTail      used by one request and never had a resident child,
//   kInterior  used by one request and had a resident child at some point,
//   kReused    used (inserted or accessed) by two or more requests.
// History survives eviction in a ghost table keyed by BlockInfo::key_hash (uses and whether the
// block had a child), bounded to kGhostPerBlock entries per tracked block (at least kMinGhost):
// a block that returns after eviction resumes its class (a "ghost hit").
// Only blocks with no resident child are candidates (as leaf-lru: a parent never leaves under a
// resident child). The victim is the least recently used candidate of the lowest non-empty class.
// Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
#define STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_

#include <array>
#include <cstdint>
#include <deque>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class PrefixAwarePolicy final : public EvictionPolicy {
 public:
  enum ReuseClass : uint8_t { kTail = 0, kInterior = 1, kReused = 2 };
  static constexpr size_t kNumClasses = 3;
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

 private:
  struct History {
    uint32_t uses = 0;
    bool had_child = false;
    uint64_t last_use = 0;
    double gap = 0;
  };
  struct Entry {
    uint64_t key_hash = 0;
    History history;
    uint32_t resident_children = 0;
    uint64_t last_use = 0;
    ReuseClass cls = kTail;
  };

  static ReuseClass ClassOf(const History& h);
  void AddCandidate(BlockId id, const Entry& e);
  void RemoveCandidate(BlockId id, const Entry& e);
  void Touch(Entry& e);
  void Remember(uint64_t key_hash, const History& h);

  absl::flat_hash_map<BlockId, Entry> blocks_;
  // Per class, candidates (no resident child) by last use, oldest first.
  std::array<absl::btree_map<uint64_t, BlockId>, kNumClasses> candidates_;
  absl::btree_map<uint64_t, BlockId> lru_;
  absl::btree_set<std::pair<uint64_t, BlockId>> by_pred_;
  absl::btree_set<std::pair<uint64_t, BlockId>> by_deadline_;
  // Ghost history of blocks that left, oldest first in ghost_order_ (a hash may appear more
  // than once there; ghost_ holds the newest history).
  absl::flat_hash_map<uint64_t, History> ghost_;
  std::deque<uint64_t> ghost_order_;
  uint64_t clock_ = 0;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
