#include "cluster/placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "cluster/membership.h"
#include "cluster/node_record.h"

namespace strata::cluster {
namespace {

NodeRecord Node(std::string id, uint64_t dram, uint64_t ssd = 0) {
  NodeRecord r;
  r.id = id;
  r.address = "127.0.0.1:" + id;
  r.tiers = {{"hbm", false, 0, 0, 0}, {"dram", true, dram, 0, 0}, {"ssd", ssd > 0, ssd, 0, 0}};
  return r;
}

ClusterView ViewOf(std::vector<NodeRecord> nodes) {
  ClusterView v;
  v.nodes = std::move(nodes);
  return v;
}

std::string KeyOf(int i) { return absl::StrCat("key-", i); }

TEST(PlacementTest, OwnersAreDeterministicDistinctAndBestFirst) {
  const ClusterView v = ViewOf({Node("a", 1 << 30), Node("b", 1 << 30), Node("c", 1 << 30)});
  for (int i = 0; i < 200; ++i) {
    auto owners = Owners(v, "ns", KeyOf(i), 2);
    ASSERT_EQ(owners.size(), 2u);
    EXPECT_NE(owners[0]->id, owners[1]->id);
    EXPECT_GE(RendezvousScore(*owners[0], "ns", KeyOf(i)),
              RendezvousScore(*owners[1], "ns", KeyOf(i)));
    EXPECT_EQ(Owners(v, "ns", KeyOf(i), 2)[0]->id, owners[0]->id);
  }
  // More replicas than nodes: every node, once.
  EXPECT_EQ(Owners(v, "ns", "k", 5).size(), 3u);
  EXPECT_TRUE(Owners(ViewOf({}), "ns", "k", 1).empty());
}

TEST(PlacementTest, NamespaceIsPartOfTheIdentity) {
  const ClusterView v = ViewOf({Node("a", 1), Node("b", 1), Node("c", 1), Node("d", 1)});
  int differ = 0;
  for (int i = 0; i < 400; ++i) {
    differ += Owners(v, "ns1", KeyOf(i), 1)[0]->id != Owners(v, "ns2", KeyOf(i), 1)[0]->id;
  }
  // Independent placements agree 1/4 of the time: about 300 of 400 differ.
  EXPECT_GT(differ, 240);
  EXPECT_LT(differ, 360);
}

TEST(PlacementTest, AFourthNodeTakesAboutAQuarterAndMovesNothingElse) {
  const ClusterView three = ViewOf({Node("n1", 1 << 30), Node("n2", 1 << 30), Node("n3", 1 << 30)});
  const ClusterView four =
      ViewOf({Node("n1", 1 << 30), Node("n2", 1 << 30), Node("n3", 1 << 30), Node("n4", 1 << 30)});
  const int keys = 20000;
  int moved = 0;
  for (int i = 0; i < keys; ++i) {
    const std::string before = Owners(three, "ns", KeyOf(i), 1)[0]->id;
    const std::string after = Owners(four, "ns", KeyOf(i), 1)[0]->id;
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, "n4") << "a key moved between two old nodes";
    }
  }
  EXPECT_NEAR(static_cast<double>(moved) / keys, 0.25, 0.02);
}

TEST(PlacementTest, WeightsSetTheShare) {
  const ClusterView v = ViewOf({Node("big", 3ull << 30), Node("small", 1ull << 30)});
  const int keys = 20000;
  int big = 0;
  for (int i = 0; i < keys; ++i) big += Owners(v, "ns", KeyOf(i), 1)[0]->id == "big";
  EXPECT_NEAR(static_cast<double>(big) / keys, 0.75, 0.02);
}

TEST(PlacementTest, DrainingNodesOwnNothing) {
  ClusterView v = ViewOf({Node("a", 1), Node("b", 1), Node("c", 1)});
  v.nodes[1].state = NodeState::kDraining;
  for (int i = 0; i < 300; ++i) {
    for (const NodeRecord* n : Owners(v, "ns", KeyOf(i), 3)) EXPECT_NE(n->id, "b");
  }
}

TEST(PlacementTest, LongestPrefixRuleSetsReplicas) {
  PlacementOptions p{.default_replicas = 1,
                     .rules = {{"acme/", 2}, {"acme/prod/", 3}, {"other", 0}}};
  EXPECT_EQ(p.ReplicasFor("zeta/x"), 1);
  EXPECT_EQ(p.ReplicasFor("acme/dev"), 2);
  EXPECT_EQ(p.ReplicasFor("acme/prod/llama"), 3);
  EXPECT_EQ(p.ReplicasFor("other/x"), 1);  // at least one copy
}

TEST(NodeRecordTest, JsonRoundTrips) {
  NodeRecord r = Node("node-1", 1 << 30, 8ull << 30);
  r.state = NodeState::kDraining;
  r.data_plane = "ucx tcp";
  r.hits = 7;
  r.misses = 3;
  r.heartbeat_unix_ms = 1234;
  auto back = NodeRecord::FromJson(r.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, "node-1");
  EXPECT_EQ(back->address, r.address);
  EXPECT_EQ(back->state, NodeState::kDraining);
  EXPECT_EQ(back->data_plane, "ucx tcp");
  ASSERT_EQ(back->tiers.size(), 3u);
  EXPECT_EQ(back->tiers[2].capacity_bytes, 8ull << 30);
  EXPECT_EQ(back->Weight(), (1ull << 30) + (8ull << 30));
  EXPECT_EQ(back->hits, 7u);
  EXPECT_EQ(back->heartbeat_unix_ms, 1234u);
}

TEST(NodeRecordTest, BadJsonNamesTheField) {
  EXPECT_EQ(NodeRecord::FromJson("not json").status().code(), absl::StatusCode::kInvalidArgument);
  auto no_addr = NodeRecord::FromJson(R"({"id":"x"})");
  EXPECT_EQ(no_addr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_addr.status().message(), testing::HasSubstr("address"));
  auto bad_state = NodeRecord::FromJson(R"({"id":"x","address":"a:1","state":"gone"})");
  EXPECT_THAT(bad_state.status().message(), testing::HasSubstr("state"));
  auto bad_type = NodeRecord::FromJson(R"({"id":5,"address":"a:1"})");
  EXPECT_THAT(bad_type.status().message(), testing::HasSubstr("'id'"));
}

TEST(StaticMembershipTest, ViewListsEveryAddressAndRefusesRegistration) {
  StaticMembership m({"127.0.0.1:2", "127.0.0.1:1"});
  auto v = m.View();
  ASSERT_EQ(v->nodes.size(), 2u);
  EXPECT_EQ(v->nodes[0].id, "127.0.0.1:1");  // sorted by id
  EXPECT_EQ(v->source, ViewSource::kStatic);
  EXPECT_EQ(m.Register(v->nodes[0]).code(), absl::StatusCode::kUnimplemented);
  int calls = 0;
  m.Subscribe([&](std::shared_ptr<const ClusterView> nv) { calls += nv->nodes.size() == 1; });
  m.Set({Node("z", 1)});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(m.View()->nodes[0].id, "z");
}

}  // namespace
}  // namespace strata::cluster
