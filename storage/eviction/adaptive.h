// AdaptivePolicy ("adaptive"): runs whichever candidate policy did best on the tier's recent
// traffic, chosen by miniature simulations (Waldspurger et al., "Cache Modeling and Optimization
// using Miniature Simulations", USENIX ATC 2017).
//
// Miniatures. Keys are sampled spatially: a block is in the sample when a hash of its key_hash
// falls below 2^-s of the hash space (rate R = 2^-s), so a sampled key is sampled on every
// reference and the sample keeps the traffic's reuse structure. Each candidate policy (a real
// EvictionPolicy made by name, whose block ids are the sampled key hashes) runs over the sampled
// references in a miniature cache of R x (the most blocks the tier ever held) blocks: the tier's
// capacity scaled by the same rate. A reference is an insert (the block was missing) or an
// access. The rate starts at 2^-min_shift and halves (dropping the keys that leave the sample)
// whenever the miniature would exceed target_sample_blocks, so each miniature holds between
// target/2 and target blocks once the tier is that large (SHARDS with a fixed sample size). A
// block gaining a child in the tier tells each miniature holding it "had a child"
// (OnResidentChildren(1), then (0)), so history-based classes work there while the miniature's
// own blocks stay evictable.
//
// Choice. Each miniature counts its hits with exponential decay (half-life:
// half_life_turnovers x the miniature's capacity in sampled references). Every quarter of a
// miniature's capacity of sampled references, the best candidate replaces the running one if
// its decayed hits exceed the running one's by switch_margin (relative), by switch_sigmas x
// sqrt(the decayed count of references only one of the two hit) (McNemar's test: the noise of
// the difference when neither is better) and by 2 hits, at least
// min_turnovers_between_switches x capacity sampled references passed since the last switch (a
// switch needs a lead that lasts, so noise on a stationary trace does not flip it; the first
// switch, away from the starting guess, is not spaced), and the tier
// is full (the store asked for a victim) and has not grown by more than 1/16 for one miniature
// capacity of sampled references (while the tier fills, the miniatures model a smaller cache
// than the one that will run). Starts on the first candidate: demote-lru, which never fell
// below LRU on the workload suite.
//
// Running. The running candidate sees every event of the tier and picks every victim. On a
// switch the new candidate is built from the resident blocks, inserted in order of last use and
// each touched once per later use it had (up to kMaxReplayedUses), with their resident-children
// counts, so frequencies and reuse classes carry over; ghost histories start afresh.
//
// Admission signal. demote-lru learns which kinds of new block return and admits the others on
// probation (demote_lru.h); cost (frequency-weighted) and prefix-aware (tail and interior
// classes, ghost history) make other bets; the miniatures decide which pays on this traffic,
// which is where fixed policies lose (issue 14).
//
// Bounds. Memory: the resident table (key hash, tokens, bytes, depth, children, uses, sample
// level, last use: a 48-byte slot, 55-110 bytes per block with the hash map's load factor, so
// 55-110 MB per million blocks), the running policy's own state, and the miniatures: at most
// candidates x target_sample_blocks blocks with their policies' ghosts, independent of the
// tier's size (under 1 MB with the defaults). CPU per access: one resident-table operation (and
// one 64-bit hash per insertion: the sample level is kept), the running policy's own work
// and, for the sampled fraction R of references, one reference in each miniature; a switch
// costs O(B log B) for B resident blocks, at most once per min_turnovers_between_switches x
// target / R references.
//
// Thread-compatible, like every policy.
#ifndef STRATA_STORAGE_EVICTION_ADAPTIVE_H_
#define STRATA_STORAGE_EVICTION_ADAPTIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "storage/eviction_policy.h"

namespace strata {

class AdaptivePolicy final : public EvictionPolicy {
 public:
  struct Options {
    // Policies by name (EvictionPolicyNames(), not "adaptive"); the first one starts.
    std::vector<std::string> candidates = {"demote-lru", "prefix-aware", "cost", "s3fifo"};
    // Most blocks of one miniature; the rate halves until the scaled capacity fits.
    size_t target_sample_blocks = 512;
    // Highest sample rate: 2^-min_shift.
    int min_shift = 2;
    double half_life_turnovers = 8;
    double switch_margin = 0.02;
    double switch_sigmas = 3;
    double min_turnovers_between_switches = 4;
  };
  // Lowest sample rate: 2^-kMaxShift.
  static constexpr int kMaxShift = 20;
  // Uses remembered per resident block (replayed on a switch).
  static constexpr uint32_t kMaxReplayedUses = 4;

  // Most candidates (one membership bit each).
  static constexpr size_t kMaxCandidates = 32;

  // INVALID_ARGUMENT for no candidates or more than kMaxCandidates, an unknown or nested
  // ("adaptive") candidate, or a zero sample size.
  static absl::StatusOr<std::unique_ptr<AdaptivePolicy>> Create(const Options& options);

  std::string_view name() const override { return "adaptive"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  void OnResidentChildren(BlockId id, uint32_t resident_children) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return resident_.size(); }

  // The running candidate's name.
  std::string_view running() const { return candidates_[running_].name; }
  // Switches so far.
  uint64_t switches() const { return switches_; }
  // Current sample rate (2^-shift).
  double sample_rate() const { return 1.0 / static_cast<double>(uint64_t{1} << shift_); }
  // Blocks held by all miniatures together, and the capacity of one.
  size_t sampled_blocks() const;
  size_t sample_capacity() const;
  // Decayed hits of each candidate's miniature, in candidate order.
  std::vector<double> TEST_scores() const;

 private:
  struct Resident {
    BlockInfo info;
    uint32_t children = 0;
    // References (insertion and hits) while resident, saturating at kMaxReplayedUses; replayed
    // into a new running policy so that frequency and reuse classes survive a switch.
    uint8_t uses = 1;
    // SampleLevel(info.key_hash), kept so that an access decides sampling without hashing.
    uint8_t level = 0;
    uint64_t last_use = 0;
  };
  struct Candidate {
    std::string name;
    // The miniature: its policy and its blocks, whose BlockId in `mini` is their key hash (a key
    // names one block, so the id is never reused for another).
    std::unique_ptr<EvictionPolicy> mini;
    size_t held = 0;  // blocks in the miniature
    double score = 0;
    // Decayed count of references this miniature and the running one's disagreed on (one hit,
    // the other missed), since the last switch.
    double discordant = 0;
    bool hit = false;  // on the current reference
  };

  AdaptivePolicy(const Options& options, std::vector<Candidate> candidates,
                 std::unique_ptr<EvictionPolicy> running);
  // The number of leading zero bits of MixKeyHash(key_hash): a key is in the sample at rate
  // 2^-shift exactly when its level is at least shift, so a block's level is computed once.
  static uint8_t SampleLevel(uint64_t key_hash);
  bool Sampled(uint8_t level) const { return level >= shift_; }
  // One reference to a tier block in every miniature. REQUIRES: level == SampleLevel(key hash).
  void Reference(const BlockInfo& info, uint8_t level);
  void Resample();
  void MaybeSwitch();
  void SwitchTo(size_t candidate);

  const Options options_;
  std::vector<Candidate> candidates_;
  size_t running_ = 0;
  std::unique_ptr<EvictionPolicy> policy_;  // the running candidate at full size
  absl::flat_hash_map<BlockId, Resident> resident_;
  // The sampled keys held by any miniature, each with a bit per candidate whose miniature holds
  // it: one lookup per sampled reference decides every miniature's hit or miss.
  absl::flat_hash_map<uint64_t, uint32_t> sampled_;
  size_t max_tracked_ = 0;
  int shift_ = 1;
  double decay_ = 1;
  uint64_t clock_ = 0;
  uint64_t sampled_refs_ = 0;
  uint64_t last_switch_ref_ = 0;
  // max_tracked_ when it last grew by more than 1/16, and sampled_refs_ then.
  size_t growth_base_ = 0;
  // The store asked for a victim: the tier is full, so its capacity is known.
  bool full_ = false;
  uint64_t last_growth_ref_ = 0;
  uint64_t next_check_ref_ = 0;
  uint64_t switches_ = 0;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_ADAPTIVE_H_
