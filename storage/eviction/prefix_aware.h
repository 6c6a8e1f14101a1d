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
// block had a child): a block that returns while its ghost is remembered resumes its history (a
// "ghost hit"), so the second turn of a conversation promotes its prefix to kReused even if the
// first turn's blocks were evicted. The ghost remembers the last kGhostPerBlock x (the most
// blocks ever tracked) departures, at least kMinGhost: about twice the tier's capacity, as ARC
// and S3-FIFO size their ghosts by the cache. A block that returns after longer than that starts
// a new history. This forgetting matters: a conversation that comes back only after the tier
// has turned over twice is likely to pause as long again, and keeping its old use count would
// let it displace conversations that return within the tier's reach (on Mooncake's synthetic
// trace an unbounded history loses 1-4 points of hit ratio at 5-13% capacity, docs/prefix.md).
// Only blocks with no resident child are candidates (as in leaf-lru: a parent never leaves under
// a resident child, and the tier stays prefix-closed). The victim is, in order:
//   - the least recently used kTail candidate;
//   - the least recently used kInterior candidate, while that class holds at least
//     kInteriorShare of the tracked blocks (a small window in which a quickly continued
//     conversation still hits);
//   - the least recently used kReused candidate;
//   - the least recently used kInterior candidate.
//
// Candidates of a class are kept oldest first in two sorted parts: a list linked by index
// through one vector (no allocation per block), which a block joins when its last use is newer
// than the list's newest (every insertion and hit) or when its place is among the list's
// kListProbe oldest nodes, and a btree for the rest: parents re-listed at their old last use
// when their last child leaves. PickVictim merges the two, so the order is exactly "least
// recently used first".
//
// Costs: O(1) per insertion and hit, O(kListProbe + log n) per re-listing; PickVictim
// visits rejected candidates only. Memory per tracked block: its map slot (48 bytes) and list
// node (24 bytes), 75-120 bytes with the map's load factor and the vector's growth, plus the
// ghost (2 entries of about 40 bytes per block of the high-water mark). Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
#define STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class PrefixAwarePolicy final : public EvictionPolicy {
 public:
  enum ReuseClass : uint8_t { kTail = 0, kInterior = 1, kReused = 2 };
  static constexpr size_t kNumClasses = 3;
  static constexpr double kInteriorShare = 0.05;
  // Ghost entries per block of the tier's high-water mark, and the floor for small tiers.
  static constexpr size_t kGhostPerBlock = 2;
  static constexpr size_t kMinGhost = 1024;
  // Oldest list nodes searched for the position of a block re-listed at an older last use.
  static constexpr size_t kListProbe = 8;

  PrefixAwarePolicy() = default;

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
  bool TEST_in_ghost(uint64_t key_hash) const;
  // Candidates kept in the side btrees (re-listed at an older last use than their list's newest
  // and not found among its kListProbe oldest nodes).
  size_t TEST_side_candidates() const;

 private:
  struct History {
    uint32_t uses = 0;
    bool had_child = false;
  };
  // Where a candidate is kept (see the header comment).
  enum Where : uint8_t { kNotCandidate = 0, kInList = 1, kInSide = 2 };
  struct Entry {
    uint64_t key_hash = 0;
    History history;
    uint32_t resident_children = 0;
    uint64_t last_use = 0;
    ReuseClass cls = kTail;
    Where where = kNotCandidate;
    uint32_t node = 0;  // index in nodes_ while kInList
  };
  // nodes_[c] for c < kNumClasses is class c's list head: `next` is its oldest candidate, `prev`
  // its newest.
  struct Node {
    BlockId id = 0;
    uint64_t last_use = 0;
    uint32_t prev = 0;
    uint32_t next = 0;
  };

  struct Ghost {
    History history;
    // Departure number (departures_ when it left); matches its newest ghost_order_ entry.
    uint64_t seq = 0;
  };

  static ReuseClass ClassOf(const History& h);
  // Applies `change` to `e`, keeping its class, population_ and candidate list in step.
  template <typename Change>
  void Update(BlockId id, Entry& e, Change change);
  // Makes `id` (not a candidate) a candidate of class e.cls at e.last_use, and the reverse.
  void AddCandidate(BlockId id, Entry& e);
  void RemoveCandidate(Entry& e);
  std::optional<BlockId> PickLru(ReuseClass cls, absl::FunctionRef<bool(BlockId)> can_evict) const;
  void Remember(uint64_t key_hash, const History& h);
  size_t ghost_limit() const;

  absl::flat_hash_map<BlockId, Entry> blocks_;
  // Most blocks ever tracked at once: the tier's capacity, as far as the policy can tell.
  size_t max_tracked_ = 0;
  // Per class: candidates (no resident child) by last use, in the list (appended in order of
  // last use) or in the side btree (re-listed at an older last use).
  std::vector<Node> nodes_ = {Node{0, 0, 0, 0}, Node{0, 0, 1, 1}, Node{0, 0, 2, 2}};
  std::vector<uint32_t> free_nodes_;
  std::array<absl::btree_map<uint64_t, BlockId>, kNumClasses> side_;
  // Per class: every tracked block, candidate or not.
  std::array<size_t, kNumClasses> population_{};
  // Ghost history of blocks that left, and (hash, seq) of each departure, oldest first; a hash
  // that left twice is queued twice, and only the entry matching ghost_[hash].seq expires it.
  absl::flat_hash_map<uint64_t, Ghost> ghost_;
  std::deque<std::pair<uint64_t, uint64_t>> ghost_order_;
  uint64_t departures_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_PREFIX_AWARE_H_
