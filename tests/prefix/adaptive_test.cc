// AdaptivePolicy: the miniature simulations pick the policy that suits the traffic, switch when
// the traffic changes and not on noise, and stay within their memory bound.
#include "storage/eviction/adaptive.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stratactl/replay/replay.h"
#include "stratactl/replay/workloads.h"

namespace strata::replay {
namespace {

using ::testing::HasSubstr;

std::vector<TraceRequest> Family(const std::string& family, uint64_t seed) {
  WorkloadOptions o;
  o.seed = seed;
  auto t = GenerateWorkload(family, o);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : std::vector<TraceRequest>{};
}

struct AdaptiveRun {
  std::vector<std::string> running;  // after each part
  uint64_t switches = 0;
  double hit_ratio = 0;
};

// Replays `parts` one after the other through one adaptive cache of `capacity` blocks.
AdaptiveRun ReplayParts(const std::vector<std::vector<TraceRequest>>& parts, uint64_t capacity) {
  OfflineCacheOptions options;
  options.capacity_blocks = capacity;
  auto cache = OfflinePrefixCache::Create("adaptive", options);
  EXPECT_TRUE(cache.ok()) << cache.status();
  AdaptiveRun run;
  uint64_t hits = 0, blocks = 0;
  for (const auto& part : parts) {
    auto stats = Replay(part, **cache, ReplayOptions{});
    EXPECT_TRUE(stats.ok()) << stats.status();
    hits += stats->hit_blocks;
    blocks += stats->blocks;
    const auto& policy = static_cast<const AdaptivePolicy&>((*cache)->TEST_policy());
    run.running.emplace_back(policy.running());
    run.switches = policy.switches();
  }
  run.hit_ratio = double(hits) / double(blocks);
  return run;
}

// Agent loops favour prefix-aware (long prefixes re-read within seconds, branches); chat with
// many one-shot conversations favours recency (prefix-aware loses a fifth there). A trace that
// switches from one to the other halfway makes the running policy switch too.
TEST(AdaptiveTest, SwitchesWhenTheFamilyChangesHalfway) {
  const std::vector<TraceRequest> agent = Family("agent", 11);
  // Renumber the chat half after the agent half so they share no block.
  const std::vector<TraceRequest> both = ConcatTraces(agent, Family("chat", 12));
  const std::vector<TraceRequest> chat(both.begin() + agent.size(), both.end());
  const AdaptiveRun run = ReplayParts({agent, chat}, 600);
  EXPECT_NE(run.running[0], "lru");
  EXPECT_NE(run.running[1], run.running[0]);
  EXPECT_THAT(run.running[1], ::testing::AnyOf("lru", "cost"));
}

// On a stationary trace the choice settles and stays: at most one switch (away from the
// starting lru), on chat and rag. Known shortfall, not hidden: on agent traces at this capacity
// the choice flaps between candidates within a few percent of each other (seeds 1, 3: 5 and 4
// switches; docs/prefix.md); bounded below so it cannot get worse unnoticed.
TEST(AdaptiveTest, KeepsItsChoiceOnAStationaryTrace) {
  for (uint64_t seed : {1, 2, 3}) {
    const std::vector<TraceRequest> t = Family("agent", seed);
    EXPECT_LE(ReplayParts({t}, CountDistinctBlocks(t) / 10).switches, 5u) << "agent seed " << seed;
  }
  for (const char* family : {"chat", "rag"}) {
    for (uint64_t seed : {1, 2, 3}) {
      SCOPED_TRACE(std::string(family) + " seed " + std::to_string(seed));
      const std::vector<TraceRequest> t = Family(family, seed);
      const uint64_t capacity = CountDistinctBlocks(t) / 10;
      const AdaptiveRun run = ReplayParts({t}, capacity);
      EXPECT_LE(run.switches, 1u);
    }
  }
}

// The miniatures hold at most candidates x target_sample_blocks blocks whatever the tier's
// size, and the sample rate halves as the tier grows.
TEST(AdaptiveTest, MiniaturesStayWithinTheirBound) {
  for (size_t tier : {5000u, 80000u}) {
    SCOPED_TRACE(tier);
    AdaptivePolicy::Options o;
    auto made = AdaptivePolicy::Create(o);
    ASSERT_TRUE(made.ok()) << made.status();
    AdaptivePolicy& p = **made;
    std::mt19937_64 rng(7);
    BlockId next = 0;
    size_t max_sampled = 0;
    for (size_t i = 0; i < 4 * tier; ++i) {
      if (p.size() >= tier) {
        auto victim = p.PickVictim([](BlockId) { return true; });
        ASSERT_TRUE(victim.has_value());
        p.OnErase(*victim);
      }
      BlockInfo info;
      info.key_hash = rng() % (2 * tier);  // keys come back: the miniatures see hits
      info.tokens = 512;
      info.bytes = 1;
      p.OnInsert(++next, info);
      if (next > 1 && rng() % 2 == 0) p.OnAccess(next - 1);
      max_sampled = std::max(max_sampled, p.sampled_blocks());
    }
    EXPECT_EQ(p.size(), tier);
    EXPECT_LE(p.sample_capacity(), o.target_sample_blocks);
    EXPECT_GT(p.sample_capacity(), o.target_sample_blocks / 2);
    EXPECT_LE(max_sampled, o.candidates.size() * o.target_sample_blocks);
    EXPECT_LE(p.sample_rate(), 2.0 * double(o.target_sample_blocks) / double(tier));
    for (double score : p.TEST_scores()) EXPECT_GT(score, 0);
  }
}

TEST(AdaptiveTest, RejectsBadCandidates) {
  AdaptivePolicy::Options o;
  o.candidates = {};
  EXPECT_EQ(AdaptivePolicy::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.candidates = {"lru", "adaptive"};
  EXPECT_THAT(AdaptivePolicy::Create(o).status().message(), HasSubstr("own candidate"));
  o.candidates = {"lru", "mru"};
  EXPECT_THAT(AdaptivePolicy::Create(o).status().message(), HasSubstr("'mru'"));
  o.candidates = {"lru"};
  o.target_sample_blocks = 0;
  EXPECT_EQ(AdaptivePolicy::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Blocks the running policy tracks are exactly the tier's, across switches: it offers only
// resident blocks and honours can_evict.
TEST(AdaptiveTest, OffersOnlyResidentEvictableBlocks) {
  OfflineCacheOptions options;
  options.capacity_blocks = 300;
  auto cache = OfflinePrefixCache::Create("adaptive", options);
  ASSERT_TRUE(cache.ok());
  const std::vector<TraceRequest> t = Family("mix", 3);
  auto stats = Replay(t, **cache, ReplayOptions{});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ((*cache)->resident_blocks(), 300u);
  EXPECT_EQ((*cache)->TEST_policy().size(), 300u);
}

}  // namespace
}  // namespace strata::replay
