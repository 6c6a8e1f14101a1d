// DemoteLruPolicy: the admission signal is learned from the traffic (whichever kind does not
// return is demoted, not a fixed one), demoted blocks leave first, and the learning state stays
// within its bound.
#include <cstdint>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "storage/eviction/demote_lru.h"

namespace strata {
namespace {

constexpr uint32_t kFull = 512;
constexpr uint32_t kPartial = 100;

// Drives a tier of `capacity` blocks: a key already resident is accessed, else inserted (after
// evicting one block when full). Returns the id of the key's block.
class Tier {
 public:
  explicit Tier(size_t capacity) : capacity_(capacity) {}

  BlockId Reference(uint64_t key, uint32_t tokens) {
    auto it = resident_.find(key);
    if (it != resident_.end()) {
      policy.OnAccess(it->second);
      return it->second;
    }
    if (policy.size() >= capacity_) {
      const std::optional<BlockId> victim = policy.PickVictim([](BlockId) { return true; });
      EXPECT_TRUE(victim.has_value());
      policy.OnErase(*victim);
      resident_.erase(keys_[*victim]);
      keys_.erase(*victim);
    }
    const BlockId id = ++next_;
    BlockInfo info;
    info.key_hash = key;
    info.tokens = tokens;
    info.bytes = 1;
    policy.OnInsert(id, info);
    resident_[key] = id;
    keys_[id] = key;
    return id;
  }

  DemoteLruPolicy policy;

 private:
  size_t capacity_;
  BlockId next_ = 0;
  absl::flat_hash_map<uint64_t, BlockId> resident_;
  absl::flat_hash_map<BlockId, uint64_t> keys_;
};

// Each request: three full blocks from a pool that keeps coming back, then a partial block.
// `partial_returns` picks the partial keys from a small pool too (else each is new).
void Drive(Tier& tier, int requests, bool partial_returns, bool full_returns, uint64_t seed) {
  std::mt19937_64 rng(seed);
  uint64_t fresh = uint64_t{1} << 40;
  for (int r = 0; r < requests; ++r) {
    for (int b = 0; b < 3; ++b) tier.Reference(full_returns ? rng() % 600 : ++fresh, kFull);
    tier.Reference(partial_returns ? (uint64_t{1} << 32) + rng() % 200 : ++fresh, kPartial);
  }
}

TEST(DemoteLruTest, DemotesTheKindThatDoesNotReturn) {
  Tier tier(400);
  Drive(tier, 5000, /*partial_returns=*/false, /*full_returns=*/true, 1);
  const DemoteLruPolicy& p = tier.policy;
  EXPECT_TRUE(p.demoted(DemoteLruPolicy::kPartialNew));
  EXPECT_FALSE(p.demoted(DemoteLruPolicy::kFullNew));
  EXPECT_FALSE(p.demoted(DemoteLruPolicy::kFullSeen));
  EXPECT_LT(p.reuse_rate(DemoteLruPolicy::kPartialNew), 0.01);
  EXPECT_GT(p.reuse_rate(DemoteLruPolicy::kFullSeen), 0.5);
  // A new partial block is admitted on probation (and is the next victim), a hit promotes it; a
  // new full block is admitted to main.
  const BlockId partial = tier.Reference(uint64_t{1} << 50, kPartial);
  EXPECT_TRUE(p.TEST_on_probation(partial));
  EXPECT_EQ(tier.Reference(uint64_t{1} << 50, kPartial), partial);
  EXPECT_FALSE(p.TEST_on_probation(partial));
  EXPECT_FALSE(p.TEST_on_probation(tier.Reference((uint64_t{1} << 50) + 1, kFull)));
}

// The same policy on traffic where the partial blocks are what returns and the full ones are
// one-shot (a cache of short repeated prompts behind a stream of long unique ones): it demotes
// the full kind instead.
TEST(DemoteLruTest, LearnsTheOppositeOnOppositeTraffic) {
  Tier tier(400);
  Drive(tier, 5000, /*partial_returns=*/true, /*full_returns=*/false, 2);
  const DemoteLruPolicy& p = tier.policy;
  EXPECT_TRUE(p.demoted(DemoteLruPolicy::kFullNew));
  EXPECT_FALSE(p.demoted(DemoteLruPolicy::kPartialSeen));
  EXPECT_LT(p.reuse_rate(DemoteLruPolicy::kFullNew), 0.01);
  EXPECT_GT(p.reuse_rate(DemoteLruPolicy::kPartialSeen), 0.3);
  const BlockId full = tier.Reference(uint64_t{1} << 50, kFull);
  EXPECT_TRUE(p.TEST_on_probation(full));
}

// Before any outcome is known (the first tier turnover), nothing is demoted: plain LRU.
TEST(DemoteLruTest, StartsAsLru) {
  Tier tier(100);
  for (uint64_t k = 0; k < 100; ++k) {
    EXPECT_FALSE(tier.policy.TEST_on_probation(tier.Reference(k, k % 2 ? kPartial : kFull)));
  }
  tier.policy.OnAccess(1);  // key 0's block becomes the most recent
  EXPECT_EQ(tier.policy.PickVictim([](BlockId) { return true; }), BlockId{2});
}

// Erased blocks' list slots are reused without disturbing the recency order of the others.
TEST(DemoteLruTest, KeepsRecencyOrderAcrossErasesAndReuse) {
  DemoteLruPolicy p;
  BlockInfo info;
  info.tokens = kFull;
  info.bytes = 1;
  for (BlockId id = 1; id <= 4; ++id) {
    info.key_hash = id;
    p.OnInsert(id, info);
  }
  p.OnErase(2);
  p.OnErase(3);
  p.OnErase(99);  // unknown: ignored
  for (BlockId id = 5; id <= 6; ++id) {
    info.key_hash = id;
    p.OnInsert(id, info);
  }
  p.OnAccess(1);
  std::vector<BlockId> order;
  while (std::optional<BlockId> v = p.PickVictim([](BlockId) { return true; })) {
    order.push_back(*v);
    p.OnErase(*v);
  }
  EXPECT_EQ(order, (std::vector<BlockId>{4, 5, 6, 1}));
  EXPECT_EQ(p.size(), 0u);
}

// Probation blocks leave first, least recent first, then main's least recent; can_evict is
// honoured in both lists.
TEST(DemoteLruTest, ProbationLeavesFirst) {
  Tier tier(400);
  Drive(tier, 5000, false, true, 3);
  DemoteLruPolicy& p = tier.policy;
  ASSERT_TRUE(p.demoted(DemoteLruPolicy::kPartialNew));
  // Make room for two new blocks, then insert them: both on probation.
  for (int i = 0; i < 2; ++i) {
    auto v = p.PickVictim([](BlockId) { return true; });
    ASSERT_TRUE(v.has_value());
    p.OnErase(*v);
  }
  BlockInfo info;
  info.tokens = kPartial;
  info.bytes = 1;
  info.key_hash = uint64_t{1} << 51;
  p.OnInsert(1'000'001, info);
  info.key_hash += 1;
  p.OnInsert(1'000'002, info);
  ASSERT_TRUE(p.TEST_on_probation(1'000'001));
  ASSERT_TRUE(p.TEST_on_probation(1'000'002));
  // Older probation blocks from Drive may remain; skip them to see the order of ours.
  std::optional<BlockId> first = p.PickVictim([](BlockId id) { return id >= 1'000'001; });
  EXPECT_EQ(first, BlockId{1'000'001});
  EXPECT_EQ(p.PickVictim([](BlockId id) { return id == 1'000'002; }), BlockId{1'000'002});
  // With every probation block refused, the victim comes from main.
  std::optional<BlockId> from_main =
      p.PickVictim([&](BlockId id) { return !p.TEST_on_probation(id); });
  ASSERT_TRUE(from_main.has_value());
  EXPECT_FALSE(p.TEST_on_probation(*from_main));
  EXPECT_EQ(p.PickVictim([](BlockId) { return false; }), std::nullopt);
}

// The learning state is bounded: the shadow watches at most about kMaxShadow sampled keys and
// the doorkeeper holds at most 32 bits per block of the high-water mark, whatever the tier.
TEST(DemoteLruTest, LearningStateStaysWithinItsBound) {
  for (size_t capacity : {1000u, 50000u}) {
    SCOPED_TRACE(capacity);
    Tier tier(capacity);
    std::mt19937_64 rng(4);
    size_t max_shadow = 0;
    for (size_t i = 0; i < 4 * capacity; ++i) {
      tier.Reference(rng() % (3 * capacity), i % 4 == 3 ? kPartial : kFull);
      max_shadow = std::max(max_shadow, tier.policy.TEST_shadow_size());
    }
    EXPECT_EQ(tier.policy.size(), capacity);
    EXPECT_LE(max_shadow, 2 * DemoteLruPolicy::kMaxShadow);
    EXPECT_GT(max_shadow, std::min<size_t>(capacity, DemoteLruPolicy::kMaxShadow) / 4);
    EXPECT_LE(tier.policy.TEST_learning_bytes(), 8 * capacity + 96 * DemoteLruPolicy::kMaxShadow);
  }
}

}  // namespace
}  // namespace strata
