// DemoteLruPolicy ("demote-lru"): LRU with an admission signal learned online. New blocks of a
// kind that the tier's own recent traffic shows rarely returns are admitted on probation and
// leave before any other block; everything else is plain LRU.
//
// Why: in prefix-cache traffic most distinct blocks are used once (conversations that end,
// one-shot RAG suffixes, document scans, a prompt's partial last block, whose hash changes as
// soon as the prompt grows). LRU holds each of them for a whole tier lifetime. Which kinds of
// block return differs between workloads, so the policy measures it instead of assuming it.
//
// Kinds (the class of a block, fixed when it is inserted), from what is known at insertion:
//   - partial: it saves fewer tokens than the most any block of this tier saved (a prompt's
//     partial last block), or full;
//   - seen: its key hash is in the doorkeeper (inserted within about the last
//     kDoorkeeperTurnovers x the tier's high-water mark insertions: a block that left and came
//     back), or new.
// Four classes: {full, partial} x {new, seen}.
//
// Learning. A spatial sample of keys (a hash of key_hash below 2^-s of the hash space, the rate
// chosen so that at most kMaxShadow sampled insertions are being watched) is watched for
// kHorizonTurnovers x (the high-water mark) insertions after each insertion: a sampled block
// referenced again within that horizon (a hit or a re-insertion, whether or not it was evicted
// meanwhile) counts as reused for the class it was inserted in, one that is not counts as not
// reused. Counts decay (each outcome multiplies a class's counts by 1 - 1/kDecayOutcomes), so
// the estimate follows traffic that changes.
//
// Admission. A class is demoted while it has at least kMinOutcomes (decayed) outcomes and its
// reuse rate is below kDemoteRatio x the reuse rate of all sampled insertions. A block inserted
// in a demoted class joins the probation list; others join the main list. A hit on a probation
// block promotes it to main. The victim is the least recently used evictable probation block,
// else the least recently used evictable main block.
//
// Bounds. Memory per tracked block: its map slot (24 bytes) and list node (16 bytes), 40-65
// bytes with the map's load factor and the node vector's growth (40-65 MB per million blocks);
// the doorkeeper, two bitmaps of 16-32 bits per block of the high-water mark (4-8 bytes per
// block); the shadow, at
// most about 2 x kMaxShadow watched keys (the rate is re-chosen when the high-water mark
// doubles; ~40 bytes each, under 0.4 MB) whatever the tier's size. CPU: O(1) per event plus one
// 64-bit hash of the key; PickVictim visits rejected blocks only.
//
// Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_DEMOTE_LRU_H_
#define STRATA_STORAGE_EVICTION_DEMOTE_LRU_H_

#include <array>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class DemoteLruPolicy final : public EvictionPolicy {
 public:
  enum Class : uint8_t { kFullNew = 0, kFullSeen = 1, kPartialNew = 2, kPartialSeen = 3 };
  static constexpr size_t kNumClasses = 4;
  static constexpr double kHorizonTurnovers = 1;
  static constexpr double kDoorkeeperTurnovers = 4;
  static constexpr size_t kMaxShadow = 4096;
  static constexpr double kDecayOutcomes = 2048;
  static constexpr double kMinOutcomes = 32;
  static constexpr double kDemoteRatio = 0.25;

  std::string_view name() const override { return "demote-lru"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return blocks_.size(); }

  // Whether class `c` is demoted now, and its (decayed) reuse rate and outcome count.
  bool demoted(Class c) const;
  double reuse_rate(Class c) const;
  double outcomes(Class c) const { return total_[c]; }
  bool TEST_on_probation(BlockId id) const;
  size_t TEST_shadow_size() const { return shadow_.size(); }
  // Bytes held by the doorkeeper and shadow (not the per-block entries).
  size_t TEST_learning_bytes() const;

 private:
  struct Entry {
    uint64_t key_hash = 0;
    uint32_t node = 0;  // index in nodes_
    bool probation = false;
  };
  // The two recency lists, doubly linked through indices into one vector (no allocation per
  // block once the vector has grown): nodes_[kMain] and nodes_[kProbation] are the heads, whose
  // `next` is the most recent block and `prev` the least recent.
  struct Node {
    BlockId id = 0;
    uint32_t prev = 0;
    uint32_t next = 0;
  };
  static constexpr uint32_t kMain = 0;
  static constexpr uint32_t kProbation = 1;
  struct Watch {
    uint64_t since = 0;  // insertion clock when watched
    Class cls = kFullNew;
  };

  bool Sampled(uint64_t mixed) const;
  bool DoorkeeperHas(uint64_t mixed) const;
  void DoorkeeperAdd(uint64_t mixed);
  void Outcome(Class c, bool reused);
  // A reference (insertion or hit) to a sampled key closes its watch as reused.
  // REQUIRES: mixed == MixKeyHash(key_hash).
  void Referenced(uint64_t key_hash, uint64_t mixed);
  void Expire();
  void Grow();
  // Links a new node for `id` at the front (most recent) of list `head`; returns its index.
  uint32_t PushFront(uint32_t head, BlockId id);
  void Unlink(uint32_t node);
  void LinkFront(uint32_t head, uint32_t node);

  absl::flat_hash_map<BlockId, Entry> blocks_;
  std::vector<Node> nodes_ = {Node{}, Node{0, kProbation, kProbation}};
  std::vector<uint32_t> free_nodes_;
  size_t max_tracked_ = 0;
  uint32_t max_tokens_ = 0;
  uint64_t inserts_ = 0;

  // Doorkeeper: two generations of a 2-hash bitmap; the older is dropped when the newer has
  // taken kDoorkeeperTurnovers x max_tracked_ insertions.
  std::array<std::vector<uint64_t>, 2> door_;
  size_t door_current_ = 0;
  uint64_t door_adds_ = 0;

  // Shadow: sampled keys watched since their insertion, oldest first in shadow_order_.
  int shift_ = 0;
  absl::flat_hash_map<uint64_t, Watch> shadow_;
  std::deque<std::pair<uint64_t, uint64_t>> shadow_order_;  // (key hash, since)
  std::array<double, kNumClasses> reused_{};
  std::array<double, kNumClasses> total_{};
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_DEMOTE_LRU_H_
