// AdaptivePolicy: the miniature simulations pick the policy that suits the traffic, switch when
// the traffic changes and not on noise, and stay within their memory bound.
#include "storage/eviction/adaptive.h"

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
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

// Chat with many one-shot conversations favours demote-lru (the starting candidate: recency with
// one-shot kinds demoted); RAG, with hot documents and one-shot suffixes, favours cost's frequency.
// A trace that changes from one to the other halfway makes the running policy follow, both ways.
TEST(AdaptiveTest, SwitchesWhenTheFamilyChangesHalfway) {
  for (const auto& [first_family, second_family, first, second] :
       std::vector<std::tuple<std::string, std::string, std::string, std::string>>{
           {"chat", "rag", "demote-lru", "cost"}, {"rag", "chat", "cost", "demote-lru"}}) {
    SCOPED_TRACE(first_family + " then " + second_family);
    const std::vector<TraceRequest> a = Family(first_family, 11);
    // Renumber the second half after the first so they share no block.
    const std::vector<TraceRequest> both = ConcatTraces(a, Family(second_family, 12));
    const std::vector<TraceRequest> b(both.begin() + a.size(), both.end());
    const AdaptiveRun run = ReplayParts({a, b}, 1200);
    EXPECT_EQ(run.running[0], first);
    EXPECT_EQ(run.running[1], second);
  }
}

// On a stationary trace the choice does not follow noise: on chat, agent and mix (seeds 1-3, 10%
// of the distinct blocks) demote-lru leads from the start and no miniature's lead ever passes the
// switch test; on rag the one move to cost may be followed by at most one more.
TEST(AdaptiveTest, KeepsItsChoiceOnAStationaryTrace) {
  for (const char* family : {"chat", "agent", "mix", "rag"}) {
    for (uint64_t seed : {1, 2, 3}) {
      SCOPED_TRACE(std::string(family) + " seed " + std::to_string(seed));
      const std::vector<TraceRequest> t = Family(family, seed);
      const AdaptiveRun run = ReplayParts({t}, CountDistinctBlocks(t) / 10);
      if (std::string(family) == "rag") {
        EXPECT_GE(run.switches, 1u);
        EXPECT_LE(run.switches, 2u);
        EXPECT_EQ(run.running[0], "cost");
      } else {
        EXPECT_EQ(run.switches, 0u);
        EXPECT_EQ(run.running[0], "demote-lru");
      }
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
  o.candidates.assign(AdaptivePolicy::kMaxCandidates + 1, "lru");
  EXPECT_THAT(AdaptivePolicy::Create(o).status().message(), HasSubstr("at most 32"));
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
