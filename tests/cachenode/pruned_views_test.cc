// Pruned views at a tier boundary (storage/pruned_views.h) through NodeCore: a Put in a namespace
// with a view keeps the full block in the cold tier and the kernels' view, byte for byte, in the
// hot tier; a default Get returns the full block, a Get for the view the view (or, where there is
// none, the full block, saying so); malformed scores are INVALID_ARGUMENT naming the field and
// change nothing stored; the pruned_views config section parses and is checked.
#include "storage/pruned_views.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "cachenode/node_core.h"
#include "cachenode/options.h"
#include "common/checksum.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/pruned_view_format.h"
#include "kernels/pruning.h"
#include "proto/convert.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 1 layer, 2 KV heads, head_dim 2, 10 tokens, f32: every element names its coordinates.
BlockLayout Layout() { return BlockLayout::Kv(DType::kF32, 1, 2, 2, 10); }

std::string Block(float salt) {
  const BlockLayout l = Layout();
  std::vector<float> v(l.Bytes() / 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = salt + static_cast<float>(i);
  return std::string(reinterpret_cast<const char*>(v.data()), l.Bytes());
}

PrunedViewRule Rule(std::string prefix) {
  PrunedViewRule r;
  r.ns_prefix = std::move(prefix);
  r.view_tier = 0;
  r.full_tier = 1;
  return r;
}

class PrunedViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 256 * 1024}));
    tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.capacity_bytes = 1 << 20}));
    store_ = *TieredStore::Open(TieredStoreOptions{}, std::move(tiers));
    PrunedViewRule sink = Rule("pv/");
    sink.prune.selector = PruneSelector::kSinkWindow;
    sink.prune.budget_tokens = 5;
    sink.prune.sink_tokens = 2;
    PrunedViewRule topk = Rule("st/");
    topk.prune.selector = PruneSelector::kScoresTopK;
    topk.prune.pool_window = 1;
    topk.budget_fraction = 0.3;  // 3 of 10 tokens
    PrunedViewRule quest = Rule("pq/");
    quest.prune.budget_tokens = 2;
    quest.page_bounds = true;
    auto views = PrunedViews::Create(store_.get(), {sink, topk, quest});
    ASSERT_TRUE(views.ok()) << views.status();
    views_ = std::make_unique<PrunedViews>(*std::move(views));
    core_ = std::make_unique<NodeCore>(store_.get(), options_, std::vector<AbsentTier>{});
    core_->SetPrunedViews(views_.get());
  }

  static v1::PutItem* AddItem(v1::PutRequest* r, const std::string& key, const std::string& payload,
                              std::vector<float> scores = {}) {
    v1::PutItem* item = r->add_items();
    item->set_key(key);
    item->set_payload(payload);
    LayoutToProto(Layout(), item->mutable_layout());
    for (float s : scores) item->add_scores(s);
    return item;
  }
  absl::Status PutOne(const std::string& ns, const std::string& key, const std::string& payload,
                      std::vector<float> scores = {}) {
    v1::PutRequest r;
    r.set_namespace_(ns);
    AddItem(&r, key, payload, std::move(scores));
    v1::PutResponse response;
    return core_->Put(r, &response);
  }
  v1::GetItem GetOne(const std::string& ns, const std::string& key, bool view) {
    v1::GetRequest r;
    r.set_namespace_(ns);
    r.add_keys(key);
    r.set_view(view);
    v1::GetResponse response;
    EXPECT_TRUE(core_->Get(r, &response).ok());
    return response.items(0);
  }
  std::string TierOf(const std::string& ns, const std::string& key) {
    auto d = store_->Describe(ns, key);
    return d.has_value() ? d->tier : "absent";
  }

  NodeOptions options_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<PrunedViews> views_;
  std::unique_ptr<NodeCore> core_;
};

TEST_F(PrunedViewsTest, FullBlockInColdTierViewInHotTierByteExact) {
  const std::string block = Block(0.5f);
  ASSERT_TRUE(PutOne("pv/a", "k", block).ok());
  EXPECT_EQ(TierOf("pv/a", "k"), "ssd");
  EXPECT_EQ(TierOf("pv/a#view", "k"), "dram");

  // The default Get: the full block, from the cold tier, and it stays there (no promotion).
  for (int i = 0; i < 3; ++i) {
    const v1::GetItem full = GetOne("pv/a", "k", /*view=*/false);
    ASSERT_EQ(full.result().code(), 0);
    EXPECT_EQ(full.payload(), block);
    EXPECT_EQ(full.tier(), "ssd");
    EXPECT_FALSE(full.view());
    EXPECT_EQ(full.layout().kind(), v1::LAYOUT_KIND_KV);
  }
  EXPECT_EQ(TierOf("pv/a", "k"), "ssd");

  // The view: exactly what the kernels make, in the stored format.
  const v1::GetItem got = GetOne("pv/a", "k", /*view=*/true);
  ASSERT_EQ(got.result().code(), 0);
  EXPECT_TRUE(got.view());
  EXPECT_EQ(got.tier(), "dram");
  PruneOptions o;
  o.selector = PruneSelector::kSinkWindow;
  o.budget_tokens = 5;
  o.sink_tokens = 2;
  const PrunedBlock expected = *PruneBlock(Layout(), block, {}, o);
  EXPECT_EQ(got.payload(), EncodePrunedView(expected, BlockChecksum(block)));
  auto d = DecodePrunedView(got.payload());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->source_checksum, BlockChecksum(block));
  EXPECT_THAT(d->view.positions, ElementsAre(0, 1, 7, 8, 9, 0, 1, 7, 8, 9));
  // K of (head 1, slot 2) is token 7's: element ((0*10 + 7)*2 + 1)*2 of the source.
  float k = 0;
  std::memcpy(&k, d->view.payload.data() + 4 * d->view.ElementIndex(0, 0, 1, 2), 4);
  EXPECT_EQ(k, 0.5f + ((7 * 2 + 1) * 2));
  // And the full block is still the cold tier's, unchanged.
  EXPECT_EQ(GetOne("pv/a", "k", false).payload(), block);
  EXPECT_EQ(TierOf("pv/a", "k"), "ssd");
}

TEST_F(PrunedViewsTest, ViewRequestWithoutAViewFallsBackToTheFullBlock) {
  const std::string block = Block(2.0f);
  ASSERT_TRUE(PutOne("plain", "k", block).ok());  // no rule: a plain block, first tier
  v1::GetItem got = GetOne("plain", "k", /*view=*/true);
  ASSERT_EQ(got.result().code(), 0);
  EXPECT_FALSE(got.view());
  EXPECT_EQ(got.payload(), block);
  EXPECT_EQ(got.tier(), "dram");

  ASSERT_TRUE(PutOne("pv/a", "k", block).ok());
  ASSERT_TRUE(store_->Remove("pv/a#view", "k"));  // the view evicted, say
  got = GetOne("pv/a", "k", /*view=*/true);
  ASSERT_EQ(got.result().code(), 0);
  EXPECT_FALSE(got.view());
  EXPECT_EQ(got.payload(), block);

  // An opaque block in a pruned namespace has no view either.
  v1::PutRequest r;
  r.set_namespace_("pv/a");
  r.add_items()->set_key("opaque");
  r.mutable_items(0)->set_payload("bytes");
  v1::PutResponse pr;
  ASSERT_TRUE(core_->Put(r, &pr).ok());
  got = GetOne("pv/a", "opaque", /*view=*/true);
  EXPECT_FALSE(got.view());
  EXPECT_EQ(got.payload(), "bytes");
  EXPECT_EQ(GetOne("pv/a", "missing", true).result().code(),
            static_cast<int>(absl::StatusCode::kNotFound));
}

TEST_F(PrunedViewsTest, RemoveAndReplaceTakeTheViewAlong) {
  ASSERT_TRUE(PutOne("pv/a", "k", Block(1.0f)).ok());
  const std::string second = Block(9.0f);
  ASSERT_TRUE(PutOne("pv/a", "k", second).ok());
  auto d = DecodePrunedView(GetOne("pv/a", "k", true).payload());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->source_checksum, BlockChecksum(second));

  v1::RemoveRequest rm;
  rm.set_namespace_("pv/a");
  rm.add_keys("k");
  v1::RemoveResponse removed;
  ASSERT_TRUE(core_->Remove(rm, &removed).ok());
  EXPECT_EQ(TierOf("pv/a#view", "k"), "absent");
  EXPECT_EQ(TierOf("pv/a", "k"), "absent");

  ASSERT_TRUE(PutOne("pv/a", "k2", second).ok());
  v1::EvictRequest ev;
  ev.set_namespace_("pv/a");
  v1::EvictResponse evicted;
  ASSERT_TRUE(core_->Evict(ev, &evicted).ok());
  EXPECT_EQ(evicted.blocks(), 1u);
  EXPECT_EQ(TierOf("pv/a#view", "k2"), "absent");
}

TEST_F(PrunedViewsTest, ScoresTopKViewUsesTheScoresSent) {
  const std::string block = Block(0.0f);
  std::vector<float> scores(20, 0.0f);  // [layer 0][head][token]
  scores[3] = 5;
  scores[6] = 4;
  scores[9] = 3;  // head 0 keeps 3, 6, 9
  scores[10 + 0] = -1;
  scores[10 + 1] = 2;
  scores[10 + 2] = 2;
  scores[10 + 8] = 7;  // head 1 keeps 1, 2, 8 (negative scores are allowed)
  ASSERT_TRUE(PutOne("st/x", "k", block, scores).ok());
  const v1::GetItem got = GetOne("st/x", "k", true);
  ASSERT_TRUE(got.view());
  PruneOptions o;
  o.selector = PruneSelector::kScoresTopK;
  o.budget_tokens = 3;
  o.pool_window = 1;
  EXPECT_EQ(got.payload(),
            EncodePrunedView(*PruneBlock(Layout(), block, scores, o), BlockChecksum(block)));
  auto d = DecodePrunedView(got.payload());
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(d->view.positions, ElementsAre(3, 6, 9, 1, 2, 8));
  EXPECT_EQ(d->view.options.budget_tokens, 3);

  // scores-topk without scores: the full block only, no view.
  ASSERT_TRUE(PutOne("st/x", "noscores", block).ok());
  EXPECT_FALSE(GetOne("st/x", "noscores", true).view());
}

TEST_F(PrunedViewsTest, MalformedScoresAreRejectedAndChangeNothing) {
  const std::string before = Block(3.0f);
  std::vector<float> good(20, 1.0f);
  ASSERT_TRUE(PutOne("st/x", "kept", before, good).ok());
  const std::string view_before = GetOne("st/x", "kept", true).payload();
  const uint64_t puts_before = store_->Stats().puts;

  std::vector<float> nan = good;
  nan[13] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> inf = good;
  inf[0] = std::numeric_limits<float>::infinity();
  struct Case {
    std::string ns;
    std::vector<float> scores;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"st/x", std::vector<float>(19, 1.0f), "got 19"},
      {"st/x", nan, "NaN"},
      {"st/x", inf, "infinite"},
      {"pv/a", good, "no scores-topk view"},
      {"plain", good, "no scores-topk view"},
  };
  for (const Case& c : cases) {
    // Item 0 is good and would replace "kept"; item 1 is bad: the request fails whole.
    v1::PutRequest r;
    r.set_namespace_(c.ns);
    AddItem(&r, "kept", Block(4.0f), c.ns == "st/x" ? good : std::vector<float>{});
    AddItem(&r, "new", Block(5.0f), c.scores);
    v1::PutResponse response;
    const absl::Status st = core_->Put(r, &response);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_THAT(std::string(st.message()), HasSubstr("items[1].scores")) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.says)) << st;
  }
  EXPECT_EQ(store_->Stats().puts, puts_before);
  EXPECT_EQ(GetOne("st/x", "kept", false).payload(), before);
  EXPECT_EQ(GetOne("st/x", "kept", true).payload(), view_before);
  EXPECT_EQ(TierOf("st/x", "new"), "absent");
  EXPECT_EQ(TierOf("st/x#view", "new"), "absent");

  // Without any pruned views on the node, scores are refused likewise.
  NodeCore bare(store_.get(), options_, {});
  v1::PutRequest r;
  r.set_namespace_("st/x");
  AddItem(&r, "k", before, good);
  v1::PutResponse response;
  const absl::Status st = bare.Put(r, &response);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("items[0].scores"));
}

// 1 layer, 1 KV head, head_dim 2, 4 tokens: K's channel 0 runs from `lo` (token 0) to `hi`
// (token 1); channel 1 is 0.
std::string QuestBlock(float lo, float hi) {
  std::vector<float> v(2 * 4 * 2, 0.0f);  // [K,V][token][dim]
  v[0] = lo;
  v[2] = hi;
  v[4] = (lo + hi) / 2;
  v[6] = lo;
  for (size_t i = 8; i < v.size(); ++i) v[i] = 100.0f + i;  // V: never ranked
  return std::string(reinterpret_cast<const char*>(v.data()), 4 * v.size());
}

TEST_F(PrunedViewsTest, LookupRanksThePrefixByStoredPageBounds) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 1, 2, 4);
  const std::vector<std::string> keys = {"k0", "opaque", "k1", "k2", "k3", "missing", "k4"};
  const std::vector<std::pair<float, float>> lo_hi = {{-1, 2}, {0, 9}, {-8, 5}, {-3, 1}};
  v1::PutRequest put;
  put.set_namespace_("pq/m");
  for (int b = 0; b < 4; ++b) {
    v1::PutItem* item = put.add_items();
    item->set_key("k" + std::to_string(b));
    item->set_payload(QuestBlock(lo_hi[b].first, lo_hi[b].second));
    LayoutToProto(l, item->mutable_layout());
  }
  put.add_items()->set_key("opaque");  // no layout: no bounds
  put.mutable_items(4)->set_payload("bytes");
  v1::PutItem* late = put.add_items();  // after the miss: never ranked
  late->set_key("k4");
  late->set_payload(QuestBlock(-100, 100));
  LayoutToProto(l, late->mutable_layout());
  v1::PutResponse put_response;
  ASSERT_TRUE(core_->Put(put, &put_response).ok());
  EXPECT_EQ(TierOf("pq/m#pages", "k1"), "dram");

  const auto lookup = [&](const std::string& ns, std::vector<float> q, uint32_t top_n,
                          uint32_t head, v1::LookupResponse* out) {
    v1::LookupRequest r;
    r.set_namespace_(ns);
    for (const std::string& k : keys) r.add_keys(k);
    r.mutable_rank()->set_head(head);
    for (float x : q) r.mutable_rank()->add_query(x);
    r.mutable_rank()->set_top_n(top_n);
    return core_->Lookup(r, out);
  };
  v1::LookupResponse got;
  ASSERT_TRUE(lookup("pq/m", {1, 0}, 3, 0, &got).ok());
  EXPECT_EQ(got.matched(), 5u);
  EXPECT_EQ(got.unranked(), 1u);
  // q = (1, 0): the bound is each block's max of channel 0: k0 2, k1 9, k2 5, k3 1.
  EXPECT_THAT(got.ranked(), ElementsAre(2u, 3u, 0u));
  EXPECT_THAT(got.ranked_bounds(), ElementsAre(9.0f, 5.0f, 2.0f));

  got.Clear();
  ASSERT_TRUE(lookup("pq/m", {-1, 0}, 2, 0, &got).ok());
  // q = (-1, 0): the bound is minus the min: k0 1, k1 0, k2 8, k3 3.
  EXPECT_THAT(got.ranked(), ElementsAre(3u, 4u));
  EXPECT_THAT(got.ranked_bounds(), ElementsAre(8.0f, 3.0f));

  got.Clear();
  ASSERT_TRUE(lookup("pq/m", {1, 0}, 10, 0, &got).ok());
  EXPECT_THAT(got.ranked(), ElementsAre(2u, 3u, 0u, 4u));  // every ranked block, none past the miss

  // A namespace without page bounds ranks nothing; a plain Lookup is unchanged.
  got.Clear();
  ASSERT_TRUE(lookup("pv/a", {1, 0}, 3, 0, &got).ok());
  EXPECT_EQ(got.ranked_size(), 0);

  // Queries that do not fit the bounds: INVALID_ARGUMENT naming the field.
  EXPECT_THAT(std::string(lookup("pq/m", {1, 0, 0}, 3, 0, &got).message()),
              HasSubstr("rank.query"));
  EXPECT_EQ(lookup("pq/m", {1, 0}, 3, 1, &got).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(lookup("pq/m", {1, 0}, 3, 1, &got).message()), HasSubstr("rank.head"));
  EXPECT_THAT(
      std::string(
          lookup("pq/m", {1, std::numeric_limits<float>::quiet_NaN()}, 3, 0, &got).message()),
      HasSubstr("rank.query[1]"));
  EXPECT_THAT(std::string(lookup("pq/m", {}, 3, 0, &got).message()), HasSubstr("rank.query"));
}

TEST(PrunedViewRules, CreateChecksTiersAndBudgets) {
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.name = "dram"}));
  tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.name = "ssd"}));
  auto store = *TieredStore::Open(TieredStoreOptions{}, std::move(tiers));
  PrunedViewRule r = Rule("a");
  r.prune.budget_tokens = 4;
  EXPECT_TRUE(PrunedViews::Create(store.get(), {r}).ok());
  PrunedViewRule bad = r;
  bad.full_tier = 2;
  EXPECT_THAT(std::string(PrunedViews::Create(store.get(), {bad}).status().message()),
              HasSubstr("pruned_views[0].full_tier"));
  bad = r;
  bad.view_tier = 1;
  EXPECT_THAT(std::string(PrunedViews::Create(store.get(), {bad}).status().message()),
              HasSubstr("pruned_views[0].view_tier"));
  bad = r;
  bad.prune.budget_tokens = 0;
  EXPECT_THAT(std::string(PrunedViews::Create(store.get(), {bad}).status().message()),
              HasSubstr("pruned_views[0].budget"));
  EXPECT_THAT(std::string(PrunedViews::Create(store.get(), {r, r}).status().message()),
              HasSubstr("pruned_views[1].prefix"));
}

TEST(PrunedViewConfig, ParsesAndChecksEveryField) {
  const std::string path =
      ::testing::TempDir() + "/strata-pruned-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << R"(
pruned_views:
  - {prefix: "acme/", selector: scores-topk, budget: "25%", pool_window: 5, page_bounds: true}
  - {prefix: "chat/", selector: sink-window, budget: 64, sink_tokens: 8, shape: pyramid,
     beta: 4, view_tier: dram, full_tier: ssd}
)";
  NodeOptions o;
  const absl::Status applied = ApplyConfigFile(path, &o);
  std::remove(path.c_str());
  ASSERT_TRUE(applied.ok()) << applied;
  ASSERT_EQ(o.pruned_views.size(), 2u);
  ASSERT_TRUE(o.Validate().ok()) << o.Validate();
  auto a = ParsePrunedView(o.pruned_views[0], 0);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->prune.selector, PruneSelector::kScoresTopK);
  EXPECT_DOUBLE_EQ(a->budget_fraction, 0.25);
  EXPECT_EQ(a->prune.pool_window, 5);
  EXPECT_TRUE(a->page_bounds);
  EXPECT_EQ(a->view_tier, "dram");
  EXPECT_EQ(a->full_tier, "ssd");
  auto c = ParsePrunedView(o.pruned_views[1], 1);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->prune.budget_tokens, 64);
  EXPECT_EQ(c->prune.sink_tokens, 8);
  EXPECT_EQ(c->prune.shape, BudgetShape::kPyramid);
  EXPECT_DOUBLE_EQ(c->prune.pyramid_beta, 4.0);

  const auto error_of = [&](auto mutate) {
    NodeOptions::PrunedView pv = o.pruned_views[1];
    mutate(pv);
    return std::string(ParsePrunedView(pv, 1).status().message());
  };
  EXPECT_THAT(error_of([](auto& pv) { pv.selector = "h2o"; }),
              HasSubstr("pruned_views[1].selector"));
  EXPECT_THAT(error_of([](auto& pv) { pv.budget = "0"; }), HasSubstr("pruned_views[1].budget"));
  EXPECT_THAT(error_of([](auto& pv) { pv.budget = "150%"; }), HasSubstr("pruned_views[1].budget"));
  EXPECT_THAT(error_of([](auto& pv) { pv.shape = "cone"; }), HasSubstr("pruned_views[1].shape"));
  EXPECT_THAT(error_of([](auto& pv) { pv.pool_window = 4; }),
              HasSubstr("pruned_views[1].pool_window"));
  EXPECT_THAT(error_of([](auto& pv) { pv.view_tier = "ssd"; }),
              HasSubstr("pruned_views[1].view_tier"));
  EXPECT_THAT(error_of([](auto& pv) { pv.full_tier = "tape"; }),
              HasSubstr("pruned_views[1].full_tier"));
  o.pruned_views[0].prefix = "bad prefix";
  EXPECT_THAT(std::string(o.Validate().message()), HasSubstr("pruned_views[0].prefix"));
}

}  // namespace
}  // namespace strata
