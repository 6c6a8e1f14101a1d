// Token pruning (kernels/pruning.h): every selector keeps exactly its budget with the right
// positions and bytes, sink-window is exact on a hand-made block, scores-topk matches a
// reference top-k, Quest bounds hold every key, malformed input is INVALID_ARGUMENT naming what
// is wrong.
#include "kernels/pruning.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;
using ::strata::testing::ToFloats;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Source element index in [layer][K,V][token][head][dim].
size_t Src(const BlockLayout& l, uint32_t layer, uint32_t plane, uint32_t t, uint32_t h,
           uint32_t d) {
  return ((((size_t{layer} * 2 + plane) * l.tokens + t) * l.kv_heads + h) * l.head_dim) + d;
}

// An f32 block whose every element names its coordinates: plane*1000 + token*10 + head + d/4.
std::string CoordinateBlock(const BlockLayout& l) {
  std::string out(l.Bytes(), '\0');
  for (uint32_t layer = 0; layer < l.layers; ++layer)
    for (uint32_t p = 0; p < 2; ++p)
      for (uint32_t t = 0; t < l.tokens; ++t)
        for (uint32_t h = 0; h < l.kv_heads; ++h)
          for (uint32_t d = 0; d < l.head_dim; ++d) {
            const float v = 100000.0f * layer + 1000.0f * p + 10.0f * t + h + 0.25f * d;
            std::memcpy(out.data() + 4 * Src(l, layer, p, t, h, d), &v, 4);
          }
  return out;
}

std::vector<float> RandomScores(const BlockLayout& l, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> s(size_t{l.layers} * l.kv_heads * l.tokens);
  for (float& x : s) x = u(rng);
  return s;
}

std::vector<uint32_t> PositionsOf(const PrunedBlock& b, uint32_t layer, uint32_t head) {
  const size_t i = b.PositionIndex(layer, head);
  return std::vector<uint32_t>(b.positions.begin() + i, b.positions.begin() + i + b.kept[layer]);
}

PruneOptions Options(PruneSelector s, int64_t budget) {
  PruneOptions o;
  o.selector = s;
  o.budget_tokens = budget;
  return o;
}

TEST(PruneSinkWindowTest, ExactOnAHandMadeBlock) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 2, 2, 10);
  const std::string src = CoordinateBlock(l);
  PruneOptions o = Options(PruneSelector::kSinkWindow, 5);
  o.sink_tokens = 2;
  auto b = PruneBlock(l, src, {}, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(b->kept, ElementsAre(5u));
  EXPECT_THAT(b->positions, ElementsAre(0, 1, 7, 8, 9, 0, 1, 7, 8, 9));
  // [K,V][head][slot][dim], written out by hand.
  std::vector<float> expected;
  for (float p : {0.0f, 1000.0f})
    for (float h : {0.0f, 1.0f})
      for (float t : {0.0f, 1.0f, 7.0f, 8.0f, 9.0f})
        for (float d : {0.0f, 0.25f}) expected.push_back(p + 10 * t + h + d);
  std::vector<float> got(b->payload.size() / 4);
  std::memcpy(got.data(), b->payload.data(), b->payload.size());
  EXPECT_THAT(got, ElementsAreArray(expected));
  EXPECT_EQ(b->kept_tokens(), 5u);
  EXPECT_DOUBLE_EQ(b->kept_fraction(), 0.5);
}

TEST(PruneSinkWindowTest, BudgetBelowTheSinksKeepsTheFirstTokens) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 1, 2, 10);
  PruneOptions o = Options(PruneSelector::kSinkWindow, 3);
  o.sink_tokens = 4;
  auto b = PruneBlock(l, CoordinateBlock(l), {}, o);
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(b->positions, ElementsAre(0, 1, 2));
  o.sink_tokens = 0;
  b = PruneBlock(l, CoordinateBlock(l), {}, o);
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(b->positions, ElementsAre(7, 8, 9));
  o.sink_tokens = 100;  // more sinks than tokens: the first budget tokens
  o.budget_tokens = 10;
  b = PruneBlock(l, CoordinateBlock(l), {}, o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->positions.size(), 10u);
  EXPECT_EQ(b->payload, CoordinateBlock(l)) << "keeping every token gives the block back";
}

TEST(PruneBudgetTest, PyramidShrinksWithDepthAroundTheMean) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 5, 1, 8, 64);
  PruneOptions o = Options(PruneSelector::kSinkWindow, 20);
  o.shape = BudgetShape::kPyramid;
  // beta 20: 2B - B/beta = 39 down to B/beta = 1, arithmetic, rounded half away from zero.
  auto b = LayerBudgets(l, o);
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(*b, ElementsAre(39u, 30u, 20u, 11u, 1u));
  o.pyramid_beta = 1.0;  // flat
  EXPECT_THAT(*LayerBudgets(l, o), ElementsAre(20u, 20u, 20u, 20u, 20u));
  o.shape = BudgetShape::kConstant;
  o.pyramid_beta = 20;
  EXPECT_THAT(*LayerBudgets(l, o), ElementsAre(20u, 20u, 20u, 20u, 20u));
  // Clamped to the block: 2 x 60 - 3 > 64.
  o.shape = BudgetShape::kPyramid;
  o.budget_tokens = 60;
  auto big = LayerBudgets(l, o);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ((*big)[0], 64u);
  EXPECT_EQ((*big)[4], 3u);
}

// Every selector, shape and dtype: exactly the budget per (layer, head), positions ascending and
// in range, and each kept K and V row byte-identical to the source row at its position.
TEST(PruneBlockTest, KeepsExactlyTheBudgetWithTheirPositionsAndBytes) {
  const BlockLayout layouts[] = {BlockLayout::Kv(DType::kF16, 5, 4, 8, 64),
                                 BlockLayout::Kv(DType::kBF16, 2, 3, 20, 37),
                                 BlockLayout::Kv(DType::kF32, 3, 2, 16, 50)};
  for (const BlockLayout& l : layouts) {
    const std::string src = MakeBlock(l, 7);
    const std::vector<float> scores = RandomScores(l, 3);
    const size_t esize = DTypeSize(l.dtype);
    for (PruneSelector sel :
         {PruneSelector::kSinkWindow, PruneSelector::kScoresTopK, PruneSelector::kKeyNorm}) {
      for (BudgetShape shape : {BudgetShape::kConstant, BudgetShape::kPyramid}) {
        for (int64_t budget :
             {int64_t{1}, int64_t{l.tokens / 4}, int64_t{l.tokens / 2}, int64_t{l.tokens}}) {
          SCOPED_TRACE(::testing::Message()
                       << PruneSelectorName(sel) << " shape " << static_cast<int>(shape)
                       << " budget " << budget << " " << DTypeName(l.dtype));
          PruneOptions o = Options(sel, budget);
          o.shape = shape;
          const std::span<const float> sc = sel == PruneSelector::kScoresTopK
                                                ? std::span<const float>(scores)
                                                : std::span<const float>();
          auto b = PruneBlock(l, src, sc, o);
          ASSERT_TRUE(b.ok()) << b.status();
          EXPECT_EQ(b->kept, *LayerBudgets(l, o));
          EXPECT_EQ(b->positions.size(), b->kept_tokens() * l.kv_heads);
          EXPECT_EQ(b->payload.size(), b->kept_tokens() * l.kv_heads * l.head_dim * 2 * esize);
          for (uint32_t layer = 0; layer < l.layers; ++layer) {
            for (uint32_t h = 0; h < l.kv_heads; ++h) {
              const std::vector<uint32_t> pos = PositionsOf(*b, layer, h);
              ASSERT_EQ(pos.size(), b->kept[layer]);
              EXPECT_TRUE(std::is_sorted(pos.begin(), pos.end()));
              EXPECT_EQ(std::adjacent_find(pos.begin(), pos.end()), pos.end()) << "duplicate";
              for (uint32_t slot = 0; slot < pos.size(); ++slot) {
                ASSERT_LT(pos[slot], l.tokens);
                for (uint32_t p = 0; p < 2; ++p) {
                  ASSERT_EQ(
                      0, std::memcmp(b->payload.data() + b->ElementIndex(layer, p, h, slot) * esize,
                                     src.data() + Src(l, layer, p, pos[slot], h, 0) * esize,
                                     l.head_dim * esize));
                }
              }
            }
          }
        }
      }
    }
  }
}

// Reference: sort by (pooled score desc, token asc), keep the first k, ascending.
std::vector<uint32_t> ReferenceTopK(const float* row, uint32_t tokens, uint32_t k,
                                    uint32_t window) {
  std::vector<float> pooled(tokens);
  for (uint32_t t = 0; t < tokens; ++t) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t u = int64_t{t} - window / 2; u <= int64_t{t} + window / 2; ++u) {
      if (u >= 0 && u < tokens) m = std::max(m, row[u]);
    }
    pooled[t] = m;
  }
  std::vector<uint32_t> idx(tokens);
  std::iota(idx.begin(), idx.end(), 0u);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t a, uint32_t b) { return pooled[a] > pooled[b]; });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

TEST(PruneScoresTopKTest, MatchesAReferenceTopKOnRandomScores) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 3, 4, 8, 96);
  const std::string src = MakeBlock(l, 11);
  for (uint64_t seed : {1u, 2u, 3u}) {
    const std::vector<float> scores = RandomScores(l, seed);
    for (int64_t window : {1, 3, 7}) {
      for (int64_t budget : {1, 10, 24, 48, 95}) {
        PruneOptions o = Options(PruneSelector::kScoresTopK, budget);
        o.pool_window = window;
        auto b = PruneBlock(l, src, scores, o);
        ASSERT_TRUE(b.ok()) << b.status();
        for (uint32_t layer = 0; layer < l.layers; ++layer) {
          for (uint32_t h = 0; h < l.kv_heads; ++h) {
            const float* row = scores.data() + (size_t{layer} * l.kv_heads + h) * l.tokens;
            EXPECT_EQ(PositionsOf(*b, layer, h),
                      ReferenceTopK(row, l.tokens, static_cast<uint32_t>(budget),
                                    static_cast<uint32_t>(window)))
                << "seed " << seed << " window " << window << " budget " << budget;
          }
        }
      }
    }
  }
}

TEST(PruneScoresTopKTest, PoolingKeepsASpikesNeighbours) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 2, 2, 12);
  std::vector<float> scores(24, 0.0f);
  scores[5] = 9.0f;        // head 0: spike at token 5
  scores[12 + 10] = 4.0f;  // head 1: spike at token 10
  scores[12 + 2] = 3.0f;   // and a smaller one at 2
  PruneOptions o = Options(PruneSelector::kScoresTopK, 3);
  o.pool_window = 3;
  auto b = PruneBlock(l, CoordinateBlock(l), scores, o);
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(PositionsOf(*b, 0, 0), ElementsAre(4, 5, 6));
  EXPECT_THAT(PositionsOf(*b, 0, 1), ElementsAre(9, 10, 11));
  o.budget_tokens = 6;
  b = PruneBlock(l, CoordinateBlock(l), scores, o);
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(PositionsOf(*b, 0, 1), ElementsAre(1, 2, 3, 9, 10, 11));
}

TEST(PruneKeyNormTest, KeepsTheSmallestKeysPerHead) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 2, 2, 6);
  std::string src(l.Bytes(), '\0');
  // Head 0: key norms grow with the token; head 1: shrink with it.
  for (uint32_t t = 0; t < 6; ++t) {
    for (uint32_t d = 0; d < 2; ++d) {
      const float k0 = 1.0f + t, k1 = 10.0f - t;
      std::memcpy(src.data() + 4 * Src(l, 0, 0, t, 0, d), &k0, 4);
      std::memcpy(src.data() + 4 * Src(l, 0, 0, t, 1, d), &k1, 4);
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(src.data() + 4 * Src(l, 0, 0, 0, 0, 1), &nan, 4);  // a NaN key ranks last
  auto b = PruneBlock(l, src, {}, Options(PruneSelector::kKeyNorm, 2));
  ASSERT_TRUE(b.ok());
  EXPECT_THAT(PositionsOf(*b, 0, 0), ElementsAre(1, 2));
  EXPECT_THAT(PositionsOf(*b, 0, 1), ElementsAre(4, 5));
}

absl::Status PruneStatus(const BlockLayout& l, const std::string& src,
                         std::span<const float> scores, const PruneOptions& o) {
  return PruneBlock(l, src, scores, o).status();
}

TEST(PruneErrorsTest, MalformedInputIsInvalidArgumentNamingWhatIsWrong) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 2, 2, 4, 16);
  const std::string src = MakeBlock(l, 5);
  std::vector<float> scores = RandomScores(l, 1);
  const PruneOptions topk = Options(PruneSelector::kScoresTopK, 4);
  struct Case {
    absl::Status status;
    const char* needle;
  };
  std::vector<float> nan_scores = scores, inf_scores = scores;
  nan_scores[17] = std::numeric_limits<float>::quiet_NaN();  // layer 0, head 1, token 1
  inf_scores[40] = std::numeric_limits<float>::infinity();
  PruneOptions negative = topk, zero = topk, huge = topk, even = topk, sinks = topk, beta = topk,
               selector = topk;
  negative.budget_tokens = -3;
  zero.budget_tokens = 0;
  huge.budget_tokens = 17;
  even.pool_window = 4;
  sinks.selector = PruneSelector::kSinkWindow;
  sinks.sink_tokens = -1;
  beta.shape = BudgetShape::kPyramid;
  beta.pyramid_beta = 0.5;
  selector.selector = static_cast<PruneSelector>(9);
  BlockLayout opaque;
  BlockLayout fp8 = BlockLayout::Kv(DType::kFp8E4M3, 2, 2, 4, 16);
  const Case cases[] = {
      {PruneStatus(l, src, std::span<const float>(scores).first(63), topk), "got 63"},
      {PruneStatus(l, src, {}, topk), "scores: scores-topk needs"},
      {PruneStatus(l, src, nan_scores, topk), "scores[17] (layer 0, head 1, token 1) is NaN"},
      {PruneStatus(l, src, inf_scores, topk), "scores[40]"},
      {PruneStatus(l, src, scores, negative), "options.budget_tokens: -3 is negative"},
      {PruneStatus(l, src, scores, zero), "options.budget_tokens"},
      {PruneStatus(l, src, scores, huge), "exceeds the block's 16 tokens"},
      {PruneStatus(l, src, scores, even), "options.pool_window"},
      {PruneStatus(l, src, {}, sinks), "options.sink_tokens"},
      {PruneStatus(l, src, scores, beta), "options.pyramid_beta"},
      {PruneStatus(l, src, scores, selector), "options.selector"},
      {PruneStatus(l, src, scores, Options(PruneSelector::kKeyNorm, 4)), "keynorm takes no"},
      {PruneStatus(opaque, src, {}, Options(PruneSelector::kKeyNorm, 4)), "layout.kind"},
      {PruneStatus(fp8, src, {}, Options(PruneSelector::kKeyNorm, 4)), "layout.dtype"},
      {PruneStatus(l, src.substr(1), scores, topk), "layout"},
      {ComputePageBounds(opaque, src).status(), "layout.kind"},
      {LayerBudgets(l, negative).status(), "budget_tokens"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument) << c.needle;
    EXPECT_THAT(std::string(c.status.message()), HasSubstr(c.needle));
  }
  EXPECT_EQ(ParsePruneSelector("h2o").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParsePruneSelector("keynorm"), PruneSelector::kKeyNorm);
}

TEST(PageBoundsTest, MinAndMaxBoundEveryKeyAndAreAttained) {
  for (const BlockLayout& l :
       {BlockLayout::Kv(DType::kF16, 3, 4, 8, 64), BlockLayout::Kv(DType::kBF16, 2, 2, 128, 33)}) {
    const std::string src = MakeBlock(l, 21);
    const std::vector<float> x = ToFloats(l, src);
    auto p = ComputePageBounds(l, src);
    ASSERT_TRUE(p.ok()) << p.status();
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t h = 0; h < l.kv_heads; ++h) {
        const size_t base = p->Index(layer, h);
        std::vector<bool> min_hit(l.head_dim), max_hit(l.head_dim);
        std::vector<float> q(l.head_dim);
        for (float& v : q) v = normal(rng);
        const float bound = p->UpperBound(layer, h, q);
        for (uint32_t t = 0; t < l.tokens; ++t) {
          float dot = 0;
          for (uint32_t d = 0; d < l.head_dim; ++d) {
            const float k = x[Src(l, layer, 0, t, h, d)];
            ASSERT_LE(p->min[base + d], k);
            ASSERT_GE(p->max[base + d], k);
            min_hit[d] = min_hit[d] || k == p->min[base + d];
            max_hit[d] = max_hit[d] || k == p->max[base + d];
            dot += q[d] * k;
          }
          EXPECT_LE(dot, bound + 1e-3f * std::fabs(bound));
        }
        EXPECT_EQ(std::count(min_hit.begin(), min_hit.end(), true), l.head_dim);
        EXPECT_EQ(std::count(max_hit.begin(), max_hit.end(), true), l.head_dim);
      }
    }
  }
}

TEST(PageBoundsTest, SerializesAndRejectsTruncatedBytes) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 2, 2, 8, 16);
  auto p = ComputePageBounds(l, MakeBlock(l, 1));
  ASSERT_TRUE(p.ok());
  const std::string bytes = p->Serialize();
  EXPECT_EQ(bytes.size(), 12u + 2 * 4 * 2 * 2 * 8);
  auto back = PageBounds::Parse(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->min, p->min);
  EXPECT_EQ(back->max, p->max);
  EXPECT_EQ(PageBounds::Parse(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(PageBounds::Parse("abc").status().code(), absl::StatusCode::kDataLoss);
}

TEST(PageBoundsTest, RanksPagesByTheQuestBound) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 1, 4, 8);
  std::vector<PageBounds> pages;
  for (uint64_t seed = 0; seed < 9; ++seed) {
    auto p = ComputePageBounds(l, MakeBlock(l, 100 + seed));
    ASSERT_TRUE(p.ok());
    pages.push_back(*p);
  }
  const std::vector<float> q = {0.5f, -1.0f, 2.0f, 0.25f};
  auto top = RankPagesByQuery(pages, 0, 0, q, 4);
  ASSERT_TRUE(top.ok()) << top.status();
  std::vector<size_t> ref(pages.size());
  std::iota(ref.begin(), ref.end(), size_t{0});
  std::stable_sort(ref.begin(), ref.end(), [&](size_t a, size_t b) {
    return pages[a].UpperBound(0, 0, q) > pages[b].UpperBound(0, 0, q);
  });
  ref.resize(4);
  EXPECT_EQ(*top, ref);
  EXPECT_EQ(RankPagesByQuery(pages, 0, 0, q, 100)->size(), pages.size());
  EXPECT_EQ(RankPagesByQuery(pages, 1, 0, q, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RankPagesByQuery(pages, 0, 1, q, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(RankPagesByQuery(pages, 0, 0, std::vector<float>(3), 2).status().message()),
      HasSubstr("head_dim is 4"));
  pages[3].head_dim = 2;
  EXPECT_THAT(std::string(RankPagesByQuery(pages, 0, 0, q, 2).status().message()),
              HasSubstr("pages[3]"));
}

}  // namespace
}  // namespace strata
