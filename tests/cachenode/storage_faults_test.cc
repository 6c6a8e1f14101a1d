// What a node reports about a failing SSD (issue 17): NodeCore over a store whose SSD tier is a
// FaultTier. Stats and /metrics mark the tier degraded (with the reason) while it refuses
// writes and clear it when the fault clears; a corrupted block is a per-key miss, counted in
// checksum_failures, never served.
#include <gtest/gtest.h>

#include <string>

#include "cachenode/metrics.h"
#include "cachenode/node_core.h"
#include "storage/dram_tier.h"
#include "storage/fault_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

class NodeStorageFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 1024}));
    auto ssd = std::make_unique<FaultTier>(
        std::make_unique<MemTier>(MemTierOptions{.name = "ssd", .capacity_bytes = 1 << 20}));
    ssd_ = ssd.get();
    tiers.push_back(std::move(ssd));
    TieredStoreOptions so;
    so.shards = 1;
    store_ = *TieredStore::Open(so, std::move(tiers));
    core_ = std::make_unique<NodeCore>(store_.get(), options_, std::vector<AbsentTier>{});
  }

  absl::Status PutOne(const std::string& key) {
    v1::PutRequest r;
    r.set_namespace_("ns");
    auto* item = r.add_items();
    item->set_key(key);
    item->set_payload(std::string(16384, key.back()));
    v1::PutResponse response;
    return core_->Put(r, &response);
  }

  const v1::TierInfo* Ssd(const v1::StatsResponse& stats) {
    for (const auto& t : stats.tiers()) {
      if (t.name() == "ssd") return &t;
    }
    return nullptr;
  }

  NodeOptions options_;
  std::unique_ptr<TieredStore> store_;
  FaultTier* ssd_ = nullptr;  // owned by store_
  std::unique_ptr<NodeCore> core_;
};

TEST_F(NodeStorageFaultsTest, StatsAndMetricsMarkTheSsdDegradedUntilTheFaultClears) {
  ASSERT_TRUE(PutOne("a").ok());
  ssd_->Set({.no_space = true});
  v1::StatsResponse stats;
  ASSERT_TRUE(core_->Stats(&stats).ok());
  ASSERT_NE(Ssd(stats), nullptr);
  EXPECT_TRUE(Ssd(stats)->degraded());
  EXPECT_NE(Ssd(stats)->detail().find("disk full"), std::string::npos) << Ssd(stats)->detail();
  EXPECT_NE(RenderPrometheus(stats).find("strata_tier_degraded{tier=\"ssd\"} 1"),
            std::string::npos);

  ssd_->Set({});
  stats.Clear();
  ASSERT_TRUE(core_->Stats(&stats).ok());
  EXPECT_FALSE(Ssd(stats)->degraded());
  EXPECT_NE(RenderPrometheus(stats).find("strata_tier_degraded{tier=\"ssd\"} 0"),
            std::string::npos);
}

TEST_F(NodeStorageFaultsTest, CorruptedSsdBlocksAreCountedPerKeyMisses) {
  for (const char* k : {"k1", "k2", "k3", "k4", "k5", "k6"}) ASSERT_TRUE(PutOne(k).ok()) << k;
  ASSERT_EQ(store_->Describe("ns", "k1")->tier, "ssd");
  ASSERT_EQ(store_->Describe("ns", "k6")->tier, "dram");
  ssd_->Set({.corrupt_reads = true});
  v1::GetRequest get;
  get.set_namespace_("ns");
  get.add_keys("k1");
  get.add_keys("k6");
  v1::GetResponse got;
  ASSERT_TRUE(core_->Get(get, &got).ok());
  ASSERT_EQ(got.items_size(), 2);
  EXPECT_EQ(got.items(0).result().code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_TRUE(got.items(0).payload().empty());
  EXPECT_EQ(got.items(1).result().code(), 0);
  EXPECT_EQ(got.items(1).payload(), std::string(16384, '6'));
  v1::StatsResponse stats;
  ASSERT_TRUE(core_->Stats(&stats).ok());
  EXPECT_EQ(stats.checksum_failures(), 1u);
  EXPECT_NE(RenderPrometheus(stats).find("strata_checksum_failures_total 1"), std::string::npos);
}

}  // namespace
}  // namespace strata
