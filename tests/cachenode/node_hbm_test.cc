// strata-node with --hbm: the tier is built on a node with a CUDA device; without one the node
// starts all the same and reports the tier off, saying why.
#include <gtest/gtest.h>

#include "cachenode/node.h"
#include "cachenode/node_core.h"
#include "storage/device_memory.h"

namespace strata {
namespace {

TEST(NodeHbm, HbmRequestedBuildsTheTierOrReportsItUnavailable) {
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "off";
  o.ssd_bytes = 0;
  o.dram_bytes = 16ull << 20;
  o.hbm_bytes = 8ull << 20;
  o.data_plane.enabled = false;
  auto node = Node::Start(o);
  ASSERT_TRUE(node.ok()) << node.status();
  v1::StatsResponse stats;
  ASSERT_TRUE((*node)->core().Stats(&stats).ok());
  ASSERT_GE(stats.tiers_size(), 1);
  const v1::TierInfo& hbm = stats.tiers(0);
  EXPECT_EQ(hbm.name(), "hbm");
  // The node serves either way.
  ASSERT_TRUE((*node)->store().Put("ns", "k", "", {}, std::string(5000, 'x')).ok());
  if (CudaDeviceCount() > 0) {
    EXPECT_TRUE(hbm.available());
    EXPECT_EQ(hbm.capacity_bytes(), 8ull << 20);
    EXPECT_EQ((*node)->store().Describe("ns", "k")->tier, "hbm");
  } else {
    EXPECT_FALSE(hbm.available());
    EXPECT_NE(hbm.detail().find("requested 8 MiB but"), std::string::npos) << hbm.detail();
    EXPECT_NE((*node)->Summary().find("tier hbm  off (requested"), std::string::npos)
        << (*node)->Summary();
    EXPECT_EQ((*node)->store().Describe("ns", "k")->tier, "dram");
  }
}

}  // namespace
}  // namespace strata
