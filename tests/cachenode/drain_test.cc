#include "cachenode/drain.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

// Stores what it is sent per owner; owners named in `down` fail every call.
class RecordingSink final : public BlockSink {
 public:
  absl::StatusOr<std::vector<absl::Status>> Put(const cluster::NodeRecord& owner,
                                                const v1::PutRequest& request) override {
    ++calls;
    if (down.count(owner.id)) return absl::UnavailableError("down");
    std::vector<absl::Status> out;
    for (const v1::PutItem& item : request.items()) {
      stored[owner.id][{request.namespace_(), item.key()}] = {item.parent(), item.payload()};
      out.push_back(absl::OkStatus());
    }
    return out;
  }
  std::set<std::string> down;
  // owner -> (ns, key) -> (parent, payload)
  std::map<std::string, std::map<std::pair<std::string, std::string>,
                                 std::pair<std::string, std::string>>>
      stored;
  int calls = 0;
};

cluster::NodeRecord Node(const std::string& id) {
  cluster::NodeRecord r;
  r.id = id;
  r.address = "127.0.0.1:1";
  r.tiers = {{"dram", true, 1 << 30, 0, 0}};
  return r;
}

class DrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 1024}));
    tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.capacity_bytes = 4 << 20}));
    store_ = *TieredStore::Open({}, std::move(tiers));
    view_.nodes = {Node("self"), Node("a"), Node("b"), Node("c")};
    view_.nodes[0].state = cluster::NodeState::kDraining;
  }
  std::string Payload(int i) { return std::string(4096, static_cast<char>('a' + i % 26)) + std::to_string(i); }

  std::unique_ptr<TieredStore> store_;
  cluster::ClusterView view_;
};

TEST_F(DrainTest, EveryBlockLandsExactlyOnItsOwnersInBothTiers) {
  const int n = 60;  // 60 x ~4 KiB: most of them demoted to the second tier
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(store_->Put(i < 30 ? "ns1" : "ns2", absl::StrCat("k", i),
                            i % 30 ? absl::StrCat("k", i - 1) : "", {}, Payload(i))
                    .ok());
  }
  ASSERT_GT(store_->Stats().tiers[1].blocks, 0u);
  RecordingSink sink;
  DrainOptions options;
  options.placement.default_replicas = 2;
  options.chunk_bytes = 32 * 1024;  // several chunks
  std::vector<DrainCounts> reports;
  const DrainCounts c =
      DrainBlocks(*store_, view_, "self", options, sink, [&](const DrainCounts& p) { reports.push_back(p); });
  EXPECT_EQ(c.blocks_total, static_cast<uint64_t>(n));
  EXPECT_EQ(c.blocks_moved, static_cast<uint64_t>(n));
  EXPECT_EQ(c.blocks_failed, 0u);
  EXPECT_GT(reports.size(), 2u);
  EXPECT_EQ(sink.stored.count("self"), 0u) << "the draining node was chosen as an owner";
  cluster::ClusterView others = view_;
  others.nodes.erase(others.nodes.begin());
  for (int i = 0; i < n; ++i) {
    const std::string ns = i < 30 ? "ns1" : "ns2";
    const std::string key = absl::StrCat("k", i);
    std::set<std::string> owners;
    for (auto* o : cluster::Owners(others, ns, key, 2)) owners.insert(o->id);
    for (const auto& [node, blocks] : sink.stored) {
      auto it = blocks.find({ns, key});
      EXPECT_EQ(it != blocks.end(), owners.count(node) == 1) << key << " on " << node;
      if (it != blocks.end()) {
        EXPECT_EQ(it->second.second, Payload(i));
        EXPECT_EQ(it->second.first, i % 30 ? absl::StrCat("k", i - 1) : "");
      }
    }
  }
}

TEST_F(DrainTest, BlocksWhoseOwnersAreAllDownCountAsFailed) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store_->Put("ns", absl::StrCat("k", i), "", {}, Payload(i)).ok());
  RecordingSink sink;
  sink.down = {"a"};
  const DrainCounts c = DrainBlocks(*store_, view_, "self", {}, sink, nullptr);
  cluster::ClusterView others = view_;
  others.nodes.erase(others.nodes.begin());
  uint64_t owned_by_a = 0;
  for (int i = 0; i < 20; ++i) owned_by_a += cluster::Owners(others, "ns", absl::StrCat("k", i), 1)[0]->id == "a";
  ASSERT_GT(owned_by_a, 0u);
  EXPECT_EQ(c.blocks_total, 20u);
  EXPECT_EQ(c.blocks_failed, owned_by_a);
  EXPECT_EQ(c.blocks_moved, 20u - owned_by_a);
}

TEST_F(DrainTest, AnEmptyStoreSendsNothing) {
  RecordingSink sink;
  const DrainCounts c = DrainBlocks(*store_, view_, "self", {}, sink, nullptr);
  EXPECT_EQ(c.blocks_total, 0u);
  EXPECT_EQ(sink.calls, 0);
}

}  // namespace
}  // namespace strata
