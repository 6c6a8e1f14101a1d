// NodeCore's operator and cluster calls: Inspect, SelfRecord, SelfView.
#include <gtest/gtest.h>

#include <atomic>

#include "cachenode/node_core.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

class ClusterCallsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 1024}));
    tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.capacity_bytes = 1 << 20}));
    TieredStoreOptions so;
    so.now_ms = [this] { return now_ms_.load(); };
    store_ = *TieredStore::Open(so, std::move(tiers));
    core_ = std::make_unique<NodeCore>(store_.get(), options_,
                                       std::vector<AbsentTier>{{"hbm", "--hbm 0"}});
    core_->SetIdentity("node-a", "127.0.0.1:7100");
  }
  std::atomic<int64_t> now_ms_{1000};
  NodeOptions options_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<NodeCore> core_;
};

TEST_F(ClusterCallsTest, InspectReportsTierSizesAndParentWithoutCountingAHit) {
  ASSERT_TRUE(store_->Put("ns", "k1", "k0", {}, std::string(5000, 'x')).ok());
  now_ms_ = 4500;
  v1::InspectRequest req;
  req.set_namespace_("ns");
  req.set_key("k1");
  v1::InspectResponse resp;
  ASSERT_TRUE(core_->Inspect(req, &resp).ok());
  EXPECT_TRUE(resp.found());
  EXPECT_EQ(resp.tier(), "dram");
  EXPECT_EQ(resp.size(), 5000u);
  EXPECT_EQ(resp.stored_bytes(), 5000u);
  EXPECT_EQ(resp.codec(), "raw");
  EXPECT_EQ(resp.parent(), "k0");
  EXPECT_EQ(resp.age_ms(), 3500u);
  EXPECT_EQ(store_->Stats().hits, 0u);

  req.set_key("absent");
  v1::InspectResponse miss;
  ASSERT_TRUE(core_->Inspect(req, &miss).ok());
  EXPECT_FALSE(miss.found());
  EXPECT_EQ(store_->Stats().misses, 0u);

  req.set_namespace_("bad namespace!");
  EXPECT_EQ(core_->Inspect(req, &miss).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterCallsTest, SelfViewIsThisNodeAloneWithItsTiers) {
  ASSERT_TRUE(store_->Put("ns", "k1", "", {}, "payload").ok());
  const v1::ClusterViewResponse view = core_->SelfView();
  EXPECT_EQ(view.source(), "static");
  ASSERT_EQ(view.nodes_size(), 1);
  auto record = cluster::NodeRecord::FromJson(view.nodes(0));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->id, "node-a");
  EXPECT_EQ(record->address, "127.0.0.1:7100");
  EXPECT_EQ(record->state, cluster::NodeState::kActive);
  ASSERT_EQ(record->tiers.size(), 3u);
  EXPECT_EQ(record->tiers[1].name, "dram");
  EXPECT_EQ(record->tiers[1].blocks, 1u);
  EXPECT_EQ(record->tiers[1].capacity_bytes, 64u * 1024);
  EXPECT_FALSE(record->tiers[0].available);
  EXPECT_EQ(core_->SelfRecord("10.0.0.1:7100").address, "10.0.0.1:7100");
}

}  // namespace
}  // namespace strata
