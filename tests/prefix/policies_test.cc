// Behaviour of each eviction policy through the EvictionPolicy contract, and the registry.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/eviction/cost.h"
#include "storage/eviction/leaf_lru.h"
#include "storage/eviction/lru.h"
#include "storage/eviction/prefix_aware.h"
#include "storage/eviction/s3fifo.h"
#include "storage/eviction_policy.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr auto kAny = [](BlockId) { return true; };

BlockInfo Info(uint64_t key_hash, uint32_t tokens = 512, uint64_t bytes = 1024) {
  BlockInfo info;
  info.key_hash = key_hash;
  info.tokens = tokens;
  info.bytes = bytes;
  return info;
}

TEST(RegistryTest, MakesEveryNamedPolicy) {
  const std::vector<std::string> names = EvictionPolicyNames();
  EXPECT_THAT(names, ::testing::ElementsAre("lru", "s3fifo", "leaf-lru", "cost", "prefix-aware",
                                            "demote-lru", "adaptive"));
  for (const std::string& name : names) {
    auto policy = MakeEvictionPolicy(name);
    ASSERT_TRUE(policy.ok()) << policy.status();
    EXPECT_EQ((*policy)->name(), name);
    EXPECT_EQ((*policy)->size(), 0u);
  }
  EXPECT_EQ(std::string(kRecommendedEvictionPolicy), "adaptive");
}

TEST(RegistryTest, RejectsUnknownNameNamingIt) {
  auto policy = MakeEvictionPolicy("lfu-magic");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(policy.status().message(), HasSubstr("'lfu-magic'"));
  EXPECT_THAT(policy.status().message(), HasSubstr("prefix-aware"));
  EXPECT_EQ(MakeEvictionPolicy("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeEvictionPolicy("LRU").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LruTest, EvictsLeastRecentlyUsedAndSkipsRejected) {
  LruPolicy lru;
  lru.OnInsert(1, Info(1));
  lru.OnInsert(2, Info(2));
  lru.OnInsert(3, Info(3));
  lru.OnAccess(1);
  EXPECT_THAT(lru.PickVictim(kAny), Optional(BlockId{2}));
  EXPECT_THAT(lru.PickVictim([](BlockId id) { return id != 2; }), Optional(BlockId{3}));
  lru.OnErase(2);
  lru.OnErase(99);  // Unknown ids are ignored.
  EXPECT_EQ(lru.size(), 2u);
  EXPECT_EQ(lru.PickVictim([](BlockId) { return false; }), std::nullopt);
}

TEST(LeafLruTest, OnlyBlocksWithoutResidentChildrenAreCandidates) {
  LeafFirstLru policy;
  policy.OnInsert(1, Info(1));  // parent, oldest
  policy.OnInsert(2, Info(2));  // child of 1
  policy.OnResidentChildren(1, 1);
  policy.OnInsert(3, Info(3));  // unrelated, newest
  EXPECT_EQ(policy.TEST_leaf_count(), 2u);
  // 1 is the least recently used, but it has a resident child.
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{2}));
  EXPECT_THAT(policy.PickVictim([](BlockId id) { return id != 2; }), Optional(BlockId{3}));
  EXPECT_EQ(policy.PickVictim([](BlockId id) { return id == 1; }), std::nullopt);
  // When its last child leaves, the parent is a candidate again, at its old recency.
  policy.OnErase(2);
  policy.OnResidentChildren(1, 0);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{1}));
}

TEST(S3FifoTest, OneHitWondersLeaveFromSmallAndGhostsReturnToMain) {
  S3FifoPolicy policy;
  for (BlockId id = 1; id <= 4; ++id) policy.OnInsert(id, Info(100 + id));
  policy.OnAccess(2);  // 2 was reused while in small.
  // Main is empty, so small is examined: 1 was never reused and leaves.
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{1}));
  policy.OnErase(1);
  EXPECT_TRUE(policy.TEST_in_ghost(101));
  // Next: 2 was accessed, so it is promoted to main rather than evicted; 3 leaves.
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{3}));
  EXPECT_TRUE(policy.TEST_in_main(2));
  policy.OnErase(3);
  // 1 comes back while remembered: it goes straight to main.
  policy.OnInsert(5, Info(101));
  EXPECT_TRUE(policy.TEST_in_main(5));
  EXPECT_FALSE(policy.TEST_in_ghost(101));
  EXPECT_FALSE(policy.TEST_in_main(4));
  EXPECT_EQ(policy.size(), 3u);
}

TEST(S3FifoTest, MainIsAClockAndRejectedBlocksStay) {
  S3FifoPolicy policy;
  for (BlockId id = 1; id <= 3; ++id) {
    policy.OnInsert(id, Info(id));
    policy.OnAccess(id);
  }
  // All three get promoted to main while looking for a victim in small; then main's CLOCK
  // clears their counters and offers the oldest.
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{1}));
  EXPECT_TRUE(policy.TEST_in_main(1));
  policy.OnAccess(1);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{2}));
  EXPECT_EQ(policy.PickVictim([](BlockId) { return false; }), std::nullopt);
}

TEST(CostTest, KeepsHighTokensPerByte) {
  GdsfCostPolicy policy;
  policy.OnInsert(1, Info(1, /*tokens=*/512, /*bytes=*/1024));  // 0.5 tokens/byte
  policy.OnInsert(2, Info(2, /*tokens=*/64, /*bytes=*/1024));   // partial block, 1/16
  policy.OnInsert(3, Info(3, /*tokens=*/512, /*bytes=*/4096));  // same tokens, 4x bytes
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{2}));
  policy.OnErase(2);
  EXPECT_DOUBLE_EQ(policy.TEST_inflation(), 64.0 / 1024);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{3}));
}

TEST(CostTest, FrequencyAndAgingLetCheapHotBlocksStay) {
  GdsfCostPolicy policy;
  policy.OnInsert(1, Info(1, 512, 1024));          // H = 0.5
  policy.OnInsert(2, Info(2, 128, 1024));          // H = 0.125
  for (int i = 0; i < 4; ++i) policy.OnAccess(2);  // H = 5 * 0.125 = 0.625
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{1}));
  policy.OnErase(1);
  EXPECT_DOUBLE_EQ(policy.TEST_inflation(), 0.5);
  // A new block starts above the inflation floor: aging makes it comparable to old hot ones.
  policy.OnInsert(3, Info(3, 128, 1024));
  EXPECT_DOUBLE_EQ(policy.TEST_priority(3), 0.5 + 0.125);
  // Removal that was not a pick does not age the cache.
  policy.OnErase(2);
  EXPECT_DOUBLE_EQ(policy.TEST_inflation(), 0.5);
}

TEST(PrefixAwareTest, TailsLeaveBeforeInteriorAndReusedBlocks) {
  PrefixAwarePolicy policy;
  // Request 1: chain 1 -> 2 -> 3 (3 is its tail). Request 2: chain 4 -> 5.
  policy.OnInsert(1, Info(1));
  policy.OnInsert(2, Info(2));
  policy.OnResidentChildren(1, 1);
  policy.OnInsert(3, Info(3));
  policy.OnResidentChildren(2, 1);
  policy.OnInsert(4, Info(4));
  policy.OnInsert(5, Info(5));
  policy.OnResidentChildren(4, 1);
  EXPECT_EQ(policy.TEST_class(1), PrefixAwarePolicy::kInterior);
  EXPECT_EQ(policy.TEST_class(3), PrefixAwarePolicy::kTail);
  // Request 3 re-sends chain 1 -> 2: they become reused.
  policy.OnAccess(1);
  policy.OnAccess(2);
  EXPECT_EQ(policy.TEST_class(1), PrefixAwarePolicy::kReused);
  // 3 is the oldest leaf and a tail; then 5, the newer tail; then the interior 4 (its share is
  // above the window), and only then the reused chain, leaf first.
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{3}));
  policy.OnErase(3);
  policy.OnResidentChildren(2, 0);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{5}));
  policy.OnErase(5);
  policy.OnResidentChildren(4, 0);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{4}));
  policy.OnErase(4);
  EXPECT_THAT(policy.PickVictim(kAny), Optional(BlockId{2}));
}

TEST(PrefixAwareTest, GhostHistoryPromotesAReturningPrefix) {
  PrefixAwarePolicy policy;
  policy.OnInsert(1, Info(77));
  policy.OnInsert(2, Info(78));
  policy.OnResidentChildren(1, 1);
  EXPECT_EQ(policy.TEST_class(1), PrefixAwarePolicy::kInterior);
  policy.OnErase(2);
  policy.OnResidentChildren(1, 0);
  policy.OnErase(1);
  EXPECT_EQ(policy.TEST_ghost_size(), 2u);
  // The same key returns under a new id: its second use makes it reused at once.
  policy.OnInsert(10, Info(77));
  EXPECT_EQ(policy.TEST_class(10), PrefixAwarePolicy::kReused);
  // A tail that returns is still a tail: re-sent tails are rarely reused again.
  policy.OnInsert(11, Info(78));
  EXPECT_EQ(policy.TEST_class(11), PrefixAwarePolicy::kTail);
}

TEST(PrefixAwareTest, GhostForgetsAfterTwiceTheTierHasLeftAndKeepsTheNewestDeparture) {
  PrefixAwarePolicy policy;
  BlockId next = 0;
  // A one-block "tier" whose high-water mark stays 1: the ghost holds kMinGhost departures.
  auto leave = [&](uint64_t key) {
    const BlockId id = ++next;
    policy.OnInsert(id, Info(key));
    policy.OnErase(id);
  };
  leave(5);
  // Key 5 returns and leaves again half-way: its first departure expires first, and must not
  // take the newer history with it.
  for (uint64_t k = 0; k < PrefixAwarePolicy::kMinGhost / 2; ++k) leave(1000 + k);
  leave(5);
  for (uint64_t k = 0; k < PrefixAwarePolicy::kMinGhost - 1; ++k) leave(100000 + k);
  EXPECT_TRUE(policy.TEST_in_ghost(5));
  EXPECT_EQ(policy.TEST_ghost_size(), PrefixAwarePolicy::kMinGhost);
  // One departure more and key 5's newest departure is the oldest remembered one, then gone.
  leave(200000);
  EXPECT_FALSE(policy.TEST_in_ghost(5));
  EXPECT_TRUE(policy.TEST_in_ghost(200000));
}

// The victim order, checked against a direct model of the rule (prefix_aware.h: classes from
// uses and "had a child", candidates without resident children, least recent first within a
// class) on a random forest whose parents are re-listed at old last uses when their last child
// leaves, so both the in-order list and the side btree hold candidates. Keys are unique: no
// ghost history applies.
TEST(PrefixAwareTest, VictimOrderMatchesADirectModelOfTheRule) {
  PrefixAwarePolicy policy;
  struct Model {
    std::optional<BlockId> parent;
    uint32_t children = 0;
    uint32_t uses = 1;
    bool had_child = false;
    uint64_t last_use = 0;
  };
  std::map<BlockId, Model> resident;
  auto class_of = [](const Model& m) {
    if (!m.had_child) return PrefixAwarePolicy::kTail;
    return m.uses >= 2 ? PrefixAwarePolicy::kReused : PrefixAwarePolicy::kInterior;
  };
  auto model_pick = [&](auto can_evict) -> std::optional<BlockId> {
    size_t interior = 0;
    for (const auto& [id, m] : resident) interior += class_of(m) == PrefixAwarePolicy::kInterior;
    std::vector<PrefixAwarePolicy::ReuseClass> order = {PrefixAwarePolicy::kTail};
    if (static_cast<double>(interior) >=
        PrefixAwarePolicy::kInteriorShare * static_cast<double>(resident.size())) {
      order.push_back(PrefixAwarePolicy::kInterior);
    }
    order.push_back(PrefixAwarePolicy::kReused);
    order.push_back(PrefixAwarePolicy::kInterior);
    for (const auto cls : order) {
      std::optional<BlockId> best;
      for (const auto& [id, m] : resident) {
        if (m.children != 0 || class_of(m) != cls || !can_evict(id)) continue;
        if (!best || m.last_use < resident[*best].last_use) best = id;
      }
      if (best) return best;
    }
    return std::nullopt;
  };
  std::mt19937_64 rng(11);
  uint64_t clock = 0;
  BlockId next = 0;
  size_t most_side = 0;
  int picks = 0;
  for (int step = 0; step < 6000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5 || resident.size() < 8) {
      Model m;
      if (!resident.empty() && rng() % 8 != 0) {
        auto it = resident.begin();
        std::advance(it, static_cast<long>(rng() % resident.size()));
        m.parent = it->first;
      }
      m.last_use = ++clock;
      const BlockId id = ++next;
      resident[id] = m;
      policy.OnInsert(id, Info(id));
      if (m.parent) {
        Model& p = resident[*m.parent];
        p.had_child = true;
        policy.OnResidentChildren(*m.parent, ++p.children);
      }
    } else if (op < 7) {
      auto it = resident.begin();
      std::advance(it, static_cast<long>(rng() % resident.size()));
      ++it->second.uses;
      it->second.last_use = ++clock;
      policy.OnAccess(it->first);
    } else {
      // Reject a random quarter of the blocks, as leases would, and half the time every tail,
      // so that picks also come from the classes that re-listed parents join.
      const uint64_t salt = rng();
      const bool keep_tails = rng() % 4 == 0;
      auto can_evict = [&, salt, keep_tails](BlockId id) {
        if (keep_tails && class_of(resident.at(id)) == PrefixAwarePolicy::kTail) return false;
        return (id ^ salt) % 4 != 0;
      };
      const std::optional<BlockId> expected = model_pick(can_evict);
      ASSERT_EQ(policy.PickVictim(can_evict), expected) << "step " << step;
      if (!expected) continue;
      ++picks;
      const Model m = resident[*expected];
      resident.erase(*expected);
      policy.OnErase(*expected);
      if (m.parent && resident.contains(*m.parent)) {
        policy.OnResidentChildren(*m.parent, --resident[*m.parent].children);
      }
    }
    most_side = std::max(most_side, policy.TEST_side_candidates());
  }
  EXPECT_GT(picks, 500);
  EXPECT_GT(most_side, 0u) << "no candidate was re-listed out of order: the side btree is untested";
}

// Random forests: a prefix-aware policy never offers a block with a resident child.
class LeafOnlyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LeafOnlyTest, NeverPicksAParentWithAResidentChild) {
  auto made = MakeEvictionPolicy(GetParam());
  ASSERT_TRUE(made.ok());
  EvictionPolicy& policy = **made;
  std::mt19937_64 rng(7);
  struct Node {
    std::optional<BlockId> parent;
    uint32_t children = 0;
  };
  std::map<BlockId, Node> resident;
  BlockId next = 0;
  int picks = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5 || resident.size() < 4) {
      Node n;
      if (!resident.empty() && rng() % 4 != 0) {
        auto it = resident.begin();
        std::advance(it, static_cast<long>(rng() % resident.size()));
        n.parent = it->first;
      }
      const BlockId id = ++next;
      resident[id] = n;
      policy.OnInsert(id, Info(id));
      if (n.parent) policy.OnResidentChildren(*n.parent, ++resident[*n.parent].children);
    } else if (op < 7) {
      auto it = resident.begin();
      std::advance(it, static_cast<long>(rng() % resident.size()));
      policy.OnAccess(it->first);
    } else {
      // Reject a random third of the blocks, as leases would.
      const uint64_t salt = rng();
      auto victim = policy.PickVictim([&](BlockId id) { return (id ^ salt) % 3 != 0; });
      if (!victim) continue;
      ++picks;
      ASSERT_TRUE(resident.contains(*victim));
      ASSERT_EQ(resident[*victim].children, 0u) << "picked a parent with a resident child";
      ASSERT_NE((*victim ^ salt) % 3, 0u) << "picked a rejected block";
      const Node n = resident[*victim];
      resident.erase(*victim);
      policy.OnErase(*victim);
      if (n.parent && resident.contains(*n.parent)) {
        policy.OnResidentChildren(*n.parent, --resident[*n.parent].children);
      }
    }
    ASSERT_EQ(policy.size(), resident.size());
  }
  EXPECT_GT(picks, 1000);
}

INSTANTIATE_TEST_SUITE_P(Policies, LeafOnlyTest, ::testing::Values("leaf-lru", "prefix-aware"));

}  // namespace
}  // namespace strata
