// Pruned views end to end (docs/pruning.md): a node started with a pruned_views entry keeps the
// full block in its SSD tier and the view in DRAM; the client's Put sends scores, Get returns the
// full block by default and the view when asked, RankBlocks ranks a prefix by stored page
// bounds (also across the nodes of a routed client, merged by bound), and malformed scores fail
// the call naming the field.
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "cachenode/node.h"
#include "client/client.h"
#include "common/checksum.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/pruned_view_format.h"
#include "kernels/pruning.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 1 layer, 1 KV head, head_dim 2, 8 tokens, f32; K channel 0 = scale x token.
BlockLayout Layout() { return BlockLayout::Kv(DType::kF32, 1, 1, 2, 8); }

std::string Block(float scale) {
  std::vector<float> v(2 * 8 * 2);
  for (int t = 0; t < 8; ++t) {
    v[2 * t] = scale * t;           // K channel 0
    v[2 * t + 1] = 1.0f;            // K channel 1
    v[16 + 2 * t] = 10.0f + t;      // V
    v[16 + 2 * t + 1] = 20.0f + t;  // V
  }
  return std::string(reinterpret_cast<const char*>(v.data()), 4 * v.size());
}

// A node whose "t/" namespaces keep scores-topk views (2 of 8 tokens) and page bounds; its SSD
// tier lives in `dir`.
absl::StatusOr<std::unique_ptr<Node>> StartPruningNode(const std::string& dir) {
  std::filesystem::remove_all(dir);
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "off";
  o.dram_bytes = 4ull << 20;
  o.ssd_dir = dir;
  o.ssd_bytes = 16ull << 20;
  o.data_plane.enabled = false;
  NodeOptions::PrunedView pv;
  pv.prefix = "t/";
  pv.selector = "scores-topk";
  pv.budget = "25%";  // 2 of 8 tokens
  pv.pool_window = 1;
  pv.page_bounds = true;
  o.pruned_views.push_back(pv);
  return Node::Start(o);
}

std::string TempDir(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("strata-pruned-client-" + name + "-" + std::to_string(::getpid())))
      .string();
}

class PrunedClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("one");
    auto node = StartPruningNode(dir_);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
    ClientOptions c;
    c.address = node_->address();
    auto client = Client::Connect(c);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }
  void TearDown() override {
    client_.reset();
    if (node_) (void)node_->Shutdown();
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Client> client_;
};

TEST_F(PrunedClientTest, PutScoresGetFullOrViewAndRank) {
  const std::vector<std::string> keys = {"a", "b", "c"};
  const std::vector<std::string> blocks = {Block(1.0f), Block(3.0f), Block(2.0f)};
  const std::vector<float> scores = {0, 0, 9, 0, 0, 8, 0, 0};  // keep tokens 2 and 5
  std::vector<PutBlock> puts;
  for (int i = 0; i < 3; ++i) {
    puts.push_back(PutBlock{keys[i], i ? std::string_view(keys[i - 1]) : "", Layout(), blocks[i]});
  }
  const std::vector<absl::Span<const float>> per_block(3, absl::MakeConstSpan(scores));
  auto put = client_->Put("t/m", puts, per_block);
  ASSERT_TRUE(put.ok()) << put.status();
  for (const absl::Status& st : *put) EXPECT_TRUE(st.ok()) << st;

  auto full = client_->Get("t/m", keys);
  ASSERT_TRUE(full.ok()) << full.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*full)[i].payload, blocks[i]);
    EXPECT_FALSE((*full)[i].view);
    EXPECT_EQ((*full)[i].tier, "ssd");
  }

  auto views = client_->Get("t/m", keys, GetOptions{.view = true});
  ASSERT_TRUE(views.ok()) << views.status();
  for (int i = 0; i < 3; ++i) {
    const GetResult& r = (*views)[i];
    ASSERT_TRUE(r.found()) << r.status;
    EXPECT_TRUE(r.view);
    EXPECT_EQ(r.tier, "dram");
    auto d = DecodePrunedView(r.payload);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->source_checksum, BlockChecksum(blocks[i]));
    EXPECT_EQ(d->view.options.selector, PruneSelector::kScoresTopK);
    EXPECT_EQ(d->view.options.budget_tokens, 2);
    EXPECT_THAT(d->view.positions, ElementsAre(2u, 5u));
    PruneOptions o;
    o.selector = PruneSelector::kScoresTopK;
    o.budget_tokens = 2;
    o.pool_window = 1;
    EXPECT_EQ(r.payload, EncodePrunedView(*PruneBlock(Layout(), blocks[i], scores, o),
                                          BlockChecksum(blocks[i])));
  }

  // q = (1, 0): each block's bound is its largest K channel 0, 7 x scale: b 21, c 14, a 7.
  auto ranked = client_->RankBlocks("t/m", {"a", "b", "c", "z"},
                                    RankQuery{.layer = 0, .head = 0, .query = {1, 0}, .top_n = 2});
  ASSERT_TRUE(ranked.ok()) << ranked.status();
  EXPECT_EQ(ranked->matched, 3u);
  EXPECT_EQ(ranked->unranked, 0u);
  EXPECT_THAT(ranked->ranked, ElementsAre(1u, 2u));
  EXPECT_THAT(ranked->bounds, ElementsAre(21.0f, 14.0f));
  auto bad_query = client_->RankBlocks("t/m", keys, RankQuery{.query = {1, 0, 0}, .top_n = 2});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_query.status())) << bad_query.status();
  EXPECT_THAT(std::string(bad_query.status().message()), HasSubstr("rank.query"));

  // Malformed scores: the call fails naming the field and nothing changes.
  std::vector<float> nan = scores;
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  const std::string other = Block(5.0f);
  auto rejected = client_->Put("t/m", {PutBlock{"a", "", Layout(), other}},
                               std::vector<absl::Span<const float>>{absl::MakeConstSpan(nan)});
  EXPECT_TRUE(absl::IsInvalidArgument(rejected.status())) << rejected.status();
  EXPECT_THAT(std::string(rejected.status().message()), HasSubstr("items[0].scores[3]"));
  auto after = client_->Get("t/m", std::vector<std::string>{"a"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)[0].payload, blocks[0]);

  // A namespace without views: a view request gets the full block, saying so.
  ASSERT_TRUE(client_->Put("u/m", {PutBlock{"a", "", Layout(), other}}).ok());
  auto plain = client_->Get("u/m", std::vector<std::string>{"a"}, GetOptions{.view = true});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)[0].view);
  EXPECT_EQ((*plain)[0].payload, other);
}

// A prefix spread over three nodes: each owner ranks its share and the client merges by bound,
// so the answer is the one a single node holding every block would give.
TEST(PrunedRoutedClientTest, RanksAPrefixSpreadOverSeveralNodesByBound) {
  std::vector<std::string> dirs;
  std::vector<std::unique_ptr<Node>> nodes;
  ClientOptions c;
  for (int n = 0; n < 3; ++n) {
    dirs.push_back(TempDir("routed" + std::to_string(n)));
    auto node = StartPruningNode(dirs.back());
    ASSERT_TRUE(node.ok()) << node.status();
    c.nodes.push_back((*node)->address());
    nodes.push_back(*std::move(node));
  }
  auto client = Client::Connect(c);
  ASSERT_TRUE(client.ok()) << client.status();

  // Block i has K channel 0 = scale_i x token, so its bound for q = (1, 0) is 7 x scale_i.
  constexpr int kBlocks = 12;
  std::vector<std::string> keys, blocks;
  std::vector<float> scale;
  for (int i = 0; i < kBlocks; ++i) {
    keys.push_back("r" + std::to_string(i));
    scale.push_back(static_cast<float>((i * 7) % kBlocks + 1));  // a permutation of 1..12
    blocks.push_back(Block(scale.back()));
  }
  const std::vector<float> scores = {0, 0, 9, 0, 0, 8, 0, 0};
  std::vector<PutBlock> puts;
  for (int i = 0; i < kBlocks; ++i) {
    puts.push_back(PutBlock{keys[i], i ? std::string_view(keys[i - 1]) : "", Layout(), blocks[i]});
  }
  const std::vector<absl::Span<const float>> per_block(kBlocks, absl::MakeConstSpan(scores));
  auto put = (*client)->Put("t/m", puts, per_block);
  ASSERT_TRUE(put.ok()) << put.status();
  for (const absl::Status& st : *put) ASSERT_TRUE(st.ok()) << st;
  std::set<std::string> owners;
  for (const std::string& k : keys) owners.insert((*client)->Owners("t/m", k).at(0));
  ASSERT_GE(owners.size(), 2u) << "the prefix must span nodes for the merge to be exercised";

  std::vector<std::string> asked = keys;
  asked.push_back("absent");
  asked.push_back("r0");  // after the first miss: not part of the prefix
  auto ranked = (*client)->RankBlocks(
      "t/m", asked, RankQuery{.layer = 0, .head = 0, .query = {1, 0}, .top_n = 4});
  ASSERT_TRUE(ranked.ok()) << ranked.status();
  EXPECT_EQ(ranked->matched, static_cast<size_t>(kBlocks));
  EXPECT_EQ(ranked->unranked, 0u);
  // Scales 12, 11, 10, 9 belong to the blocks i with (7i mod 12) + 1 = 12, 11, 10, 9.
  EXPECT_THAT(ranked->ranked, ElementsAre(5u, 10u, 3u, 8u));
  EXPECT_THAT(ranked->bounds, ElementsAre(84.0f, 77.0f, 70.0f, 63.0f));

  // Every matched block ranked when top_n covers them, each once, best first.
  auto all = (*client)->RankBlocks("t/m", keys, RankQuery{.query = {1, 0}, .top_n = 100});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->ranked.size(), static_cast<size_t>(kBlocks));
  for (size_t k = 0; k < all->ranked.size(); ++k) {
    EXPECT_EQ(all->bounds[k], 7.0f * scale[all->ranked[k]]) << k;
    if (k > 0) {
      EXPECT_GT(all->bounds[k - 1], all->bounds[k]) << k;
    }
  }

  // A query that does not fit the stored bounds is the caller's error, from whichever owner.
  auto bad = (*client)->RankBlocks("t/m", keys, RankQuery{.query = {1, 0, 0}, .top_n = 2});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("rank.query"));

  // Nothing matched: no owner is asked, nothing ranked.
  auto none = (*client)->RankBlocks("t/m", std::vector<std::string>{"absent", "r1"},
                                    RankQuery{.query = {1, 0}, .top_n = 2});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->matched, 0u);
  EXPECT_TRUE(none->ranked.empty());

  client->reset();
  for (auto& n : nodes) (void)n->Shutdown();
  nodes.clear();
  for (const std::string& d : dirs) std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace strata
