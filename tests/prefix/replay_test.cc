// The replay's hit accounting, Belady-on-leaves, the trace format, the workload generator, and
// the targets on Mooncake's synthetic trace.
#include "stratactl/replay/replay.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "stratactl/replay/belady.h"
#include "stratactl/replay/generator.h"
#include "stratactl/replay/trace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strata::replay {
namespace {

using ::testing::HasSubstr;

std::vector<TraceRequest> Trace(const std::vector<std::vector<uint64_t>>& chains) {
  std::vector<TraceRequest> out;
  for (const auto& c : chains) {
    TraceRequest r;
    r.hash_ids = c;
    out.push_back(r);
  }
  return out;
}

ReplayStats RunPolicy(const std::vector<TraceRequest>& trace, const std::string& policy,
                      uint64_t capacity) {
  OfflineCacheOptions options;
  options.capacity_blocks = capacity;
  auto cache = OfflinePrefixCache::Create(policy, options);
  EXPECT_TRUE(cache.ok()) << cache.status();
  auto stats = Replay(trace, **cache, ReplayOptions{});
  EXPECT_TRUE(stats.ok()) << stats.status();
  return *stats;
}

ReplayStats RunBelady(const std::vector<TraceRequest>& trace, uint64_t capacity) {
  OfflineCacheOptions options;
  options.capacity_blocks = capacity;
  auto stats = ReplayBeladyLeaves(trace, options);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return *stats;
}

// Capacity 3. Hand-computed:
//   r0 [1 2]    miss, miss                 cache {1 2}
//   r1 [3]      miss                       cache {1 2 3}
//   r2 [1 2 4]  hit 2; storing 4 evicts 3 (1, 2 are this request's)      -> 2 hits
//   r3 [3]      LRU evicts 1 (oldest, stranding 2); Belady evicts 4 (never used again; 1 and
//               2 have children or are needed at r4)
//   r4 [1 2]    LRU: 1 missing, so 0 hits (2 is cached but not in the leading run);
//               Belady: 2 hits.
// LRU: 2 of 9 blocks. Belady: 4 of 9. leaf-lru evicts 3 then 4 like Belady: 4 of 9.
const std::vector<std::vector<uint64_t>> kHandTrace = {{1, 2}, {3}, {1, 2, 4}, {3}, {1, 2}};

TEST(ReplayTest, LruAndBeladyMatchHandComputedCounts) {
  const auto trace = Trace(kHandTrace);
  const ReplayStats lru = RunPolicy(trace, "lru", 3);
  EXPECT_EQ(lru.requests, 5u);
  EXPECT_EQ(lru.blocks, 9u);
  EXPECT_EQ(lru.hit_blocks, 2u);
  EXPECT_EQ(lru.evicted_blocks, 3u);
  const ReplayStats belady = RunBelady(trace, 3);
  EXPECT_EQ(belady.blocks, 9u);
  EXPECT_EQ(belady.hit_blocks, 4u);
  EXPECT_EQ(belady.evicted_blocks, 2u);
  EXPECT_EQ(RunPolicy(trace, "leaf-lru", 3).hit_blocks, 4u);
}

// Capacity 4, two conversations sharing a system prompt block 0.
//   r0 [0 1 2]  3 misses                   cache {0 1 2}
//   r1 [0 5]    hit 1                      cache {0 1 2 5}
//   r2 [0 1 2 3]  hit 3; storing 3: LRU evicts 5 (oldest unpinned);
//               Belady evicts 5 too (5 is needed at r4, but it is the only candidate)
//   r3 [0 5 6]  hit 1; storing 5: LRU evicts 1 (oldest), then storing 6 evicts 2 (oldest
//               unpinned); Belady's only unpinned leaf is 3 -> evict 3, then 2 (now a leaf)
//   r4 [0 1 2 3]  LRU: hit 1 (0 only). Belady: 0 1 are cached, 2 was evicted: hit 2.
// LRU: 0+1+3+1+1 = 6. Belady: 0+1+3+1+2 = 7.
TEST(ReplayTest, SharedPromptHandTrace) {
  const auto trace = Trace({{0, 1, 2}, {0, 5}, {0, 1, 2, 3}, {0, 5, 6}, {0, 1, 2, 3}});
  EXPECT_EQ(RunPolicy(trace, "lru", 4).hit_blocks, 6u);
  EXPECT_EQ(RunBelady(trace, 4).hit_blocks, 7u);
}

TEST(ReplayTest, TokensCountPartialLastBlocks) {
  std::vector<TraceRequest> trace = Trace({{1, 2}, {1, 2}});
  trace[0].input_length = 600;  // 512 + 88
  trace[1].input_length = 600;
  const ReplayStats s = RunPolicy(trace, "lru", 10);
  EXPECT_EQ(s.tokens, 1200u);
  EXPECT_EQ(s.hit_tokens, 600u);
  EXPECT_DOUBLE_EQ(s.token_hit_ratio(), 0.5);
  EXPECT_EQ(s.served_bytes, 2 * BlockGeometry{}.block_bytes);
}

TEST(ReplayTest, RequestLongerThanCapacityStoresWhatFits) {
  const auto trace = Trace({{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}});
  for (const std::string policy : {"lru", "leaf-lru", "prefix-aware", "s3fifo", "cost"}) {
    const ReplayStats s = RunPolicy(trace, policy, 3);
    EXPECT_EQ(s.hit_blocks, 3u) << policy;
    EXPECT_EQ(s.unstored_blocks, 4u) << policy;
  }
  const ReplayStats b = RunBelady(trace, 3);
  EXPECT_EQ(b.hit_blocks, 3u);
  EXPECT_EQ(b.unstored_blocks, 4u);
}

TEST(ReplayTest, RejectsZeroCapacityAndUnknownPolicy) {
  OfflineCacheOptions options;
  options.capacity_blocks = 0;
  EXPECT_EQ(OfflinePrefixCache::Create("lru", options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReplayBeladyLeaves({}, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.capacity_blocks = 4;
  auto bad = OfflinePrefixCache::Create("nope", options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("'nope'"));
}

// Exhaustive search over every eviction choice: the best leading-run hit count any policy can
// get under the replay's rules. Belady-on-leaves must reach it.
uint64_t BestPossible(const std::vector<TraceRequest>& trace, size_t capacity) {
  uint64_t best = 0;
  std::function<void(size_t, size_t, std::set<uint64_t>, uint64_t)> go =
      [&](size_t i, size_t j, std::set<uint64_t> cache, uint64_t hits) {
        if (i == trace.size()) {
          best = std::max(best, hits);
          return;
        }
        const auto& ids = trace[i].hash_ids;
        if (j == 0) {
          for (uint64_t id : ids) {
            if (!cache.contains(id)) break;
            ++hits;
          }
        }
        if (j == ids.size()) return go(i + 1, 0, cache, hits);
        if (cache.contains(ids[j])) return go(i, j + 1, cache, hits);
        if (cache.size() < capacity) {
          cache.insert(ids[j]);
          return go(i, j + 1, cache, hits);
        }
        const std::set<uint64_t> mine(ids.begin(), ids.end());
        bool stored = false;
        for (uint64_t victim : cache) {
          if (mine.contains(victim)) continue;
          std::set<uint64_t> next = cache;
          next.erase(victim);
          next.insert(ids[j]);
          go(i, j + 1, next, hits);
          stored = true;
        }
        // Everything resident is this request's: the rest of it is not stored.
        if (!stored) go(i + 1, 0, cache, hits);
      };
  go(0, 0, {}, 0);
  return best;
}

TEST(BeladyTest, ReachesTheExhaustiveOptimumOnRandomPrefixTraces) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 60; ++round) {
    // A few conversations, each a chain; requests re-send a prefix of one, sometimes growing it.
    std::vector<std::vector<uint64_t>> convs(3);
    uint64_t next_id = 0;
    std::vector<std::vector<uint64_t>> chains;
    for (int r = 0; r < 7; ++r) {
      auto& c = convs[rng() % convs.size()];
      if (c.empty() || rng() % 2 == 0) c.push_back(next_id++);
      const size_t len = 1 + rng() % c.size();
      chains.emplace_back(c.begin(), c.begin() + static_cast<long>(len));
    }
    const auto trace = Trace(chains);
    const size_t capacity = 2 + rng() % 3;
    const uint64_t best = BestPossible(trace, capacity);
    EXPECT_EQ(RunBelady(trace, capacity).hit_blocks, best) << "round " << round;
    for (const std::string p : {"lru", "leaf-lru", "prefix-aware", "s3fifo", "cost"}) {
      EXPECT_LE(RunPolicy(trace, p, capacity).hit_blocks, best) << p << " round " << round;
    }
  }
}

TEST(TraceTest, ParsesAndRoundTrips) {
  auto r = ParseTraceLine(
      R"({"timestamp": 40, "input_length": 1100, "output_length": 3, "hash_ids": [7, 8, 9]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->timestamp_ms, 40);
  EXPECT_EQ(r->input_length, 1100u);
  EXPECT_EQ(r->output_length, 3u);
  EXPECT_THAT(r->hash_ids, ::testing::ElementsAre(7, 8, 9));
  EXPECT_EQ(BlockTokens(*r, 0, 512), 512u);
  EXPECT_EQ(BlockTokens(*r, 2, 512), 76u);

  std::stringstream buf;
  WriteTrace({*r, *r}, buf);
  auto back = ReadTrace(buf, "buf");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].hash_ids, r->hash_ids);
  EXPECT_EQ((*back)[1].input_length, 1100u);
  EXPECT_EQ(CountDistinctBlocks(*back), 3u);
}

TEST(TraceTest, MalformedLinesNameTheFieldAndLine) {
  EXPECT_THAT(ParseTraceLine(R"({"hash_ids": [1, -2]})").status().message(), HasSubstr("hash_ids"));
  EXPECT_THAT(ParseTraceLine(R"({"timestamp": 1})").status().message(), HasSubstr("hash_ids"));
  EXPECT_THAT(ParseTraceLine(R"({"hash_ids": [], "input_length": "x"})").status().message(),
              HasSubstr("input_length"));
  EXPECT_EQ(ParseTraceLine("[1,2]").status().code(), absl::StatusCode::kInvalidArgument);
  std::stringstream in("{\"hash_ids\": [1]}\n\n{\"hash_ids\": 5}\n");
  auto t = ReadTrace(in, "t.jsonl");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("t.jsonl:3"));
  EXPECT_EQ(ReadTraceFile("/nonexistent/trace.jsonl").status().code(), absl::StatusCode::kNotFound);
}

TEST(GeneratorTest, DeterministicPrefixChainedAndGrowing) {
  ChatWorkloadOptions o;
  o.conversations = 200;
  o.seed = 3;
  auto a = GenerateChatWorkload(o);
  auto b = GenerateChatWorkload(o);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(a->size(), b->size());
  EXPECT_GT(a->size(), o.conversations);          // some conversations have several turns
  absl::flat_hash_map<uint64_t, int64_t> parent;  // -1 = root
  uint64_t max_id = 0;
  double last_ts = 0;
  for (size_t i = 0; i < a->size(); ++i) {
    const TraceRequest& r = (*a)[i];
    EXPECT_EQ(r.hash_ids, (*b)[i].hash_ids);
    EXPECT_GE(r.timestamp_ms, last_ts);
    last_ts = r.timestamp_ms;
    ASSERT_FALSE(r.hash_ids.empty());
    EXPECT_EQ(r.hash_ids.size(), (r.input_length + 511) / 512);
    for (size_t j = 0; j < r.hash_ids.size(); ++j) {
      const int64_t p = j == 0 ? -1 : static_cast<int64_t>(r.hash_ids[j - 1]);
      auto [it, fresh] = parent.try_emplace(r.hash_ids[j], p);
      EXPECT_EQ(it->second, p) << "block " << r.hash_ids[j] << " has two parents";
      max_id = std::max(max_id, r.hash_ids[j]);
    }
  }
  EXPECT_EQ(max_id + 1, parent.size());  // dense ids
  // Shared system prompts and multi-turn histories make a good part of the blocks reusable.
  const ReplayStats unbounded = RunPolicy(*a, "lru", parent.size());
  EXPECT_GT(unbounded.hit_ratio(), 0.3);
  const ReplayStats small = RunPolicy(*a, "lru", parent.size() / 10);
  EXPECT_LT(small.hit_ratio(), unbounded.hit_ratio());
  EXPECT_LE(small.hit_blocks, RunBelady(*a, parent.size() / 10).hit_blocks);

  ChatWorkloadOptions bad = o;
  bad.user_tokens_min = 0;
  EXPECT_THAT(GenerateChatWorkload(bad).status().message(), HasSubstr("user_tokens_min"));
}

std::string SharedTracePath() {
  const char* env = std::getenv("STRATA_SHARED_DIR");
  const std::filesystem::path base =
      env != nullptr ? std::filesystem::path(env)
                     : std::filesystem::path(STRATA_SOURCE_DIR) / ".." / "shared";
  return (base / "data" / "traces" / "synthetic_trace.jsonl").string();
}

// Issue 5's figures on Mooncake's synthetic trace.
TEST(SyntheticTraceTest, BeladyAndLruMatchPublishedFigures) {
  const std::string path = SharedTracePath();
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "synthetic trace not found at " << path
                 << " (set STRATA_SHARED_DIR to the folder holding data/traces/)";
  }
  auto trace = ReadTraceFile(path);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->size(), 3993u);
  const uint64_t distinct = CountDistinctBlocks(*trace);
  struct Target {
    double fraction, belady, lru;
  };
  for (const Target& t :
       {Target{0.1, 0.51, 0.26}, Target{0.25, 0.63, 0.44}, Target{0.5, 0.64, 0.59}}) {
    const uint64_t capacity = static_cast<uint64_t>(t.fraction * static_cast<double>(distinct));
    const ReplayStats belady = RunBelady(*trace, capacity);
    const ReplayStats lru = RunPolicy(*trace, "lru", capacity);
    const ReplayStats best = RunPolicy(*trace, "prefix-aware", capacity);
    EXPECT_NEAR(belady.hit_ratio(), t.belady, 0.01) << "fraction " << t.fraction;
    EXPECT_NEAR(lru.hit_ratio(), t.lru, 0.01) << "fraction " << t.fraction;
    EXPECT_GE(best.hit_ratio(), lru.hit_ratio()) << "fraction " << t.fraction;
    EXPECT_LE(best.hit_blocks, belady.hit_blocks) << "fraction " << t.fraction;
    EXPECT_LE(lru.hit_blocks, belady.hit_blocks) << "fraction " << t.fraction;
  }
}

}  // namespace
}  // namespace strata::replay
