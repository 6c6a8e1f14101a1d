// Pruned views end to end (docs/pruning.md): a node started with a pruned_views entry keeps the
// full block in its SSD tier and the view in DRAM; the client's Put sends scores, Get returns the
// full block by default and the view when asked, RankBlocks ranks a prefix by stored page
// bounds, and malformed scores fail the call naming the field.
#include <unistd.h>

#include <filesystem>
#include <limits>
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

class PrunedClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("strata-pruned-client-" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    NodeOptions o;
    o.listen = "127.0.0.1:0";
    o.metrics_listen = "off";
    o.dram_bytes = 4ull << 20;
    o.ssd_dir = dir_;
    o.ssd_bytes = 16ull << 20;
    o.data_plane.enabled = false;
    NodeOptions::PrunedView pv;
    pv.prefix = "t/";
    pv.selector = "scores-topk";
    pv.budget = "25%";  // 2 of 8 tokens
    pv.pool_window = 1;
    pv.page_bounds = true;
    o.pruned_views.push_back(pv);
    auto node = Node::Start(o);
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

}  // namespace
}  // namespace strata
