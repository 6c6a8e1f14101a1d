// ClusterAgent against a real etcd on loopback (skipped without an etcd binary): the node's
// record as other members see it, its usage updates, drain state, graceful leave, and the
// refusals an operator meets at startup.
#include "cachenode/cluster_agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "absl/time/clock.h"
#include "cluster/etcd_membership.h"
#include "storage/dram_tier.h"
#include "tests/testing/etcd_process.h"

namespace strata {
namespace {

using cluster::NodeState;

bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return pred();
}

class ClusterAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    STRATA_START_ETCD_OR_SKIP(etcd_);
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 256 * 1024}));
    store_ = *TieredStore::Open(TieredStoreOptions{}, std::move(tiers));
    cluster::EtcdMembershipOptions o;
    o.endpoints = {etcd_->client_url()};
    o.cluster = "c1";
    o.lease_ttl_s = 2;
    o.log = [](const std::string&) {};
    auto w = cluster::EtcdMembership::Start(o);
    ASSERT_TRUE(w.ok()) << w.status();
    watcher_ = std::move(*w);
  }

  ClusterAgentOptions Options(const std::string& id) {
    ClusterAgentOptions o;
    o.etcd = {etcd_->client_url()};
    o.cluster = "c1";
    o.node_id = id;
    o.address = "127.0.0.1:7001";
    o.data_plane = "ucx tcp";
    o.update_interval = absl::Milliseconds(100);
    o.lease_ttl_s = 2;
    return o;
  }

  const cluster::NodeRecord* Seen(const std::string& id) { return watcher_->View()->Find(id); }

  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<cluster::EtcdMembership> watcher_;
};

TEST_F(ClusterAgentTest, RegistersUpdatesDrainsAndLeaves) {
  auto agent = ClusterAgent::Start(Options("n1"), store_.get());
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(WaitUntil([&] { return Seen("n1") != nullptr; }));
  {
    auto view = watcher_->View();
    const cluster::NodeRecord& n = *view->Find("n1");
    EXPECT_EQ(n.address, "127.0.0.1:7001");
    EXPECT_EQ(n.data_plane, "ucx tcp");
    EXPECT_EQ(n.state, NodeState::kActive);
    ASSERT_EQ(n.tiers.size(), 1u);
    EXPECT_EQ(n.tiers[0].name, "dram");
    EXPECT_EQ(n.tiers[0].capacity_bytes, 256u * 1024);
    EXPECT_EQ(n.misses, 0u);
    EXPECT_GT(n.started_unix_ms, 0u);
  }
  // Usage reaches the record within a few update intervals.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(absl::IsNotFound(store_->Get("ns", "absent", [](const BlockView&) {})));
  }
  EXPECT_TRUE(WaitUntil([&] { return Seen("n1") != nullptr && Seen("n1")->misses == 3; }));

  // An idle node does not rewrite its record every interval (only every heartbeat_interval).
  auto mod_revision = [&] {
    auto r = watcher_->client()->Range(cluster::EtcdNodeKey("c1", "n1"));
    return r.ok() && r->kvs.size() == 1 ? r->kvs[0].mod_revision : -1;
  };
  const int64_t settled = mod_revision();
  absl::SleepFor(absl::Milliseconds(600));  // six update intervals; a negative check
  EXPECT_EQ(mod_revision(), settled);

  ASSERT_TRUE((*agent)->SetState(NodeState::kDraining).ok());
  EXPECT_TRUE(
      WaitUntil([&] { return Seen("n1") != nullptr && Seen("n1")->state == NodeState::kDraining; },
                absl::Seconds(1)));

  v1::ClusterViewResponse response;
  ToClusterViewResponse(*(*agent)->View(), &response);
  EXPECT_EQ(response.cluster(), "c1");
  EXPECT_EQ(response.source(), "etcd");
  EXPECT_GT(response.revision(), 0);
  ASSERT_EQ(response.nodes_size(), 1);
  auto parsed = cluster::NodeRecord::FromJson(response.nodes(0));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, "n1");

  ASSERT_TRUE((*agent)->Shutdown(/*deregister=*/true).ok());
  EXPECT_TRUE(WaitUntil([&] { return Seen("n1") == nullptr; }, absl::Seconds(1)));
  EXPECT_TRUE((*agent)->Shutdown(true).ok());  // idempotent
}

TEST_F(ClusterAgentTest, StartupRefusals) {
  auto first = ClusterAgent::Start(Options("dup"), store_.get());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(ClusterAgent::Start(Options("dup"), store_.get()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  ClusterAgentOptions wildcard = Options("w");
  wildcard.address = "0.0.0.0:7001";
  auto s = ClusterAgent::Start(wildcard, store_.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--advertise"));

  ClusterAgentOptions down = Options("d");
  down.etcd = {"http://127.0.0.1:1"};
  down.start_timeout = absl::Milliseconds(500);
  s = ClusterAgent::Start(down, store_.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("http://127.0.0.1:1"));

  // The node id defaults to the advertised address.
  ClusterAgentOptions unnamed = Options("");
  unnamed.address = "127.0.0.1:7009";
  auto agent = ClusterAgent::Start(unnamed, store_.get());
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ((*agent)->node_id(), "127.0.0.1:7009");
}

TEST(SelfViewTest, ANodeOutsideAClusterIsItsOwnStaticView) {
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 1024}));
  auto store = *TieredStore::Open(TieredStoreOptions{}, std::move(tiers));
  v1::ClusterViewResponse response;
  ToClusterViewResponse(*SelfView(DescribeNode("127.0.0.1:7100", "127.0.0.1:7100", "", *store)),
                        &response);
  EXPECT_EQ(response.source(), "static");
  EXPECT_EQ(response.cluster(), "");
  ASSERT_EQ(response.nodes_size(), 1);
  auto n = cluster::NodeRecord::FromJson(response.nodes(0));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->address, "127.0.0.1:7100");
  EXPECT_EQ(n->tiers.at(0).capacity_bytes, 64u * 1024);
}

}  // namespace
}  // namespace strata
