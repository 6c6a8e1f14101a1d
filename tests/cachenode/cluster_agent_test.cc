#include "cachenode/cluster_agent.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

// An in-memory registry: what etcd holds for the cluster, with the other nodes pre-seeded.
class RegistryMembership final : public cluster::Membership {
 public:
  explicit RegistryMembership(std::vector<cluster::NodeRecord> others) : others_(std::move(others)) {}
  std::shared_ptr<const cluster::ClusterView> View() const override {
    absl::MutexLock lock(&mu_);
    auto v = std::make_shared<cluster::ClusterView>();
    v->source = cluster::ViewSource::kEtcd;
    v->cluster = "test";
    v->nodes = others_;
    if (self_) v->nodes.push_back(*self_);
    return v;
  }
  void Subscribe(Listener) override {}
  absl::Status Register(const cluster::NodeRecord& self) override {
    absl::MutexLock lock(&mu_);
    for (const auto& o : others_) {
      if (o.id == self.id) return absl::FailedPreconditionError("id taken");
    }
    self_ = self;
    ++registers;
    return absl::OkStatus();
  }
  absl::Status Update(const cluster::NodeRecord& self) override {
    absl::MutexLock lock(&mu_);
    if (!self_) return absl::FailedPreconditionError("not registered");
    self_ = self;
    ++updates;
    return absl::OkStatus();
  }
  absl::Status Deregister() override {
    absl::MutexLock lock(&mu_);
    self_.reset();
    ++deregisters;
    return absl::OkStatus();
  }
  std::optional<cluster::NodeRecord> self() const {
    absl::MutexLock lock(&mu_);
    return self_;
  }
  std::atomic<int> registers{0}, updates{0}, deregisters{0};

 private:
  mutable absl::Mutex mu_;
  std::vector<cluster::NodeRecord> others_;
  std::optional<cluster::NodeRecord> self_;
};

class CountingSink final : public BlockSink {
 public:
  absl::StatusOr<std::vector<absl::Status>> Put(const cluster::NodeRecord& owner,
                                                const v1::PutRequest& request) override {
    absl::MutexLock lock(&mu_);
    if (refuse) return absl::UnavailableError("owner down");
    std::vector<absl::Status> out;
    for (const auto& item : request.items()) {
      keys[item.key()] = owner.id;
      out.push_back(absl::OkStatus());
    }
    return out;
  }
  absl::Mutex mu_;
  std::map<std::string, std::string> keys;
  bool refuse = false;  // every owner down
};

cluster::NodeRecord Other(const std::string& id) {
  cluster::NodeRecord r;
  r.id = id;
  r.address = "127.0.0.1:9";
  r.tiers = {{"dram", true, 1 << 30, 0, 0}};
  return r;
}

class ClusterAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 1024}));
    tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.capacity_bytes = 1 << 20}));
    store_ = *TieredStore::Open({}, std::move(tiers));
    core_ = std::make_unique<NodeCore>(store_.get(), options_, std::vector<AbsentTier>{});
    core_->SetIdentity("self", "127.0.0.1:7100");
    membership_ = std::make_shared<RegistryMembership>(
        std::vector<cluster::NodeRecord>{Other("a"), Other("b")});
  }
  ClusterAgentOptions AgentOptions() {
    ClusterAgentOptions o;
    o.cluster = "test";
    o.advertise = "127.0.0.1:7100";
    o.heartbeat_ms = 20;
    o.settle_ms = 10;
    o.sink = sink_;
    o.request_shutdown = [this] { shutdown_requested_ = true; };
    return o;
  }

  NodeOptions options_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<NodeCore> core_;
  std::shared_ptr<RegistryMembership> membership_;
  std::shared_ptr<CountingSink> sink_ = std::make_shared<CountingSink>();
  std::atomic<bool> shutdown_requested_{false};
};

TEST_F(ClusterAgentTest, RegistersKeepsTheRecordCurrentAndLeaves) {
  auto agent = ClusterAgent::Start(core_.get(), store_.get(), membership_, AgentOptions());
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(membership_->self().has_value());
  EXPECT_EQ(membership_->self()->address, "127.0.0.1:7100");
  ASSERT_TRUE(store_->Put("ns", "k", "", {}, "payload").ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline &&
         !(membership_->self()->tiers.size() > 1 && membership_->self()->tiers[1].blocks > 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(membership_->self()->tiers.size(), 1u);
  ASSERT_EQ(membership_->self()->tiers[1].name, "dram");
  EXPECT_EQ(membership_->self()->tiers[1].blocks, 1u) << "the heartbeat did not publish usage";
  const v1::ClusterViewResponse view = (*agent)->View();
  EXPECT_EQ(view.cluster(), "test");
  EXPECT_EQ(view.source(), "etcd");
  EXPECT_EQ(view.nodes_size(), 3);
  ASSERT_TRUE((*agent)->Leave().ok());
  EXPECT_FALSE(membership_->self().has_value());
  agent->reset();
  EXPECT_EQ(membership_->deregisters.load(), 1);  // Leave is idempotent
}

TEST_F(ClusterAgentTest, ATakenIdIsRefused) {
  core_->SetIdentity("a", "127.0.0.1:7100");
  auto agent = ClusterAgent::Start(core_.get(), store_.get(), membership_, AgentOptions());
  EXPECT_EQ(agent.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(membership_->deregisters.load(), 0);
}

TEST_F(ClusterAgentTest, DrainAnnouncesMovesEveryBlockLeavesAndAsksToExit) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(store_->Put("ns", absl::StrCat("k", i), "", {}, std::string(3000, 'a' + i % 26)).ok());
  }
  auto agent = ClusterAgent::Start(core_.get(), store_.get(), membership_, AgentOptions());
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::Mutex mu;
  std::vector<v1::DrainProgress> seen;
  bool saw_draining = false;
  auto watch = (*agent)->WatchDrain(true, [&](const v1::DrainProgress& p) {
    absl::MutexLock lock(&mu);
    if (seen.empty()) {
      // The first report comes once the node calls itself draining.
      saw_draining = (*agent)->draining();
    }
    seen.push_back(p);
  });
  ASSERT_TRUE(watch.ok());
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<v1::DrainProgress>* s) { return !s->empty() && s->back().done(); },
            &seen),
        absl::Seconds(10)));
    EXPECT_TRUE(saw_draining);
    EXPECT_EQ(seen.back().blocks_total(), 40u);
    EXPECT_EQ(seen.back().blocks_moved(), 40u);
    EXPECT_EQ(seen.back().blocks_failed(), 0u);
    EXPECT_TRUE(seen.back().error().empty()) << seen.back().error();
  }
  EXPECT_EQ(sink_->keys.size(), 40u);
  for (const auto& [key, owner] : sink_->keys) EXPECT_NE(owner, "self");
  EXPECT_FALSE(membership_->self().has_value()) << "still registered after the drain";
  // The shutdown request follows the last report.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!shutdown_requested_.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(shutdown_requested_.load());
  // A late watcher gets the final report at once.
  int late = 0;
  auto again = (*agent)->WatchDrain(true, [&](const v1::DrainProgress& p) { late += p.done(); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(late, 1);
}

TEST_F(ClusterAgentTest, ADrainThatCannotMoveEveryBlockStaysRegisteredAndRunning) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store_->Put("ns", absl::StrCat("k", i), "", {}, std::string(100, 'x')).ok());
  }
  sink_->refuse = true;
  auto agent = ClusterAgent::Start(core_.get(), store_.get(), membership_, AgentOptions());
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::Mutex mu;
  v1::DrainProgress last;
  ASSERT_TRUE((*agent)
                  ->WatchDrain(true,
                               [&](const v1::DrainProgress& p) {
                                 absl::MutexLock lock(&mu);
                                 last = p;
                               })
                  .ok());
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](v1::DrainProgress* p) { return p->done(); }, &last),
        absl::Seconds(10)));
    EXPECT_EQ(last.blocks_failed(), 10u);
    EXPECT_NE(last.error().find("10 of 10 blocks could not be moved"), std::string::npos)
        << last.error();
  }
  ASSERT_TRUE(membership_->self().has_value()) << "the node left with blocks no one took";
  EXPECT_EQ(membership_->self()->state, cluster::NodeState::kDraining);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(shutdown_requested_.load());
  EXPECT_EQ(membership_->deregisters.load(), 0);
}

}  // namespace
}  // namespace strata
