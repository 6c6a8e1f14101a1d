// strata::Client over a cluster of three in-process nodes (static membership): placement,
// replicas, per-owner batches, and what a stopped node turns into (misses, never errors).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cachenode/node.h"
#include "client/client.h"
#include "cluster/membership.h"
#include "proto/strata.grpc.pb.h"

namespace strata {
namespace {

NodeOptions SmallNode(const std::string& listen = "127.0.0.1:0") {
  NodeOptions o;
  o.listen = listen;
  o.metrics_listen = "off";
  o.ssd_bytes = 0;
  o.dram_bytes = 16ull << 20;
  o.data_plane.enabled = false;
  return o;
}

std::string Payload(int i) { return std::string(1000 + i, static_cast<char>('a' + i % 26)); }

class ClusterClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> addresses;
    for (int n = 0; n < 3; ++n) {
      auto node = Node::Start(SmallNode());
      ASSERT_TRUE(node.ok()) << node.status();
      addresses.push_back((*node)->address());
      nodes_.push_back(*std::move(node));
    }
    addresses_ = addresses;
    membership_ = std::make_shared<cluster::StaticMembership>(addresses);
  }

  std::unique_ptr<Client> Connect(int replicas) {
    ClientOptions o;
    o.membership = membership_;
    o.placement.default_replicas = replicas;
    o.probe_interval_ms = 100;
    o.connect_timeout_ms = 1000;
    auto client = Client::Connect(o);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // A connection to node n alone (not routed).
  std::unique_ptr<NodeClient> Direct(int n) {
    ClientOptions o;
    o.address = addresses_[n];
    auto c = NodeClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  void Stop(int n) {
    ASSERT_TRUE(nodes_[n]->Shutdown().ok());
    nodes_[n].reset();
  }

  // Puts blocks 0..count-1 of `ns` in one call; all must be stored.
  std::vector<std::string> PutBlocks(Client& client, const std::string& ns, int count) {
    std::vector<std::string> keys, payloads;
    for (int i = 0; i < count; ++i) {
      keys.push_back(absl::StrCat("key-", i));
      payloads.push_back(Payload(i));
    }
    std::vector<PutBlock> blocks;
    for (int i = 0; i < count; ++i) blocks.push_back(PutBlock{keys[i], "", {}, payloads[i]});
    auto put = client.Put(ns, blocks);
    EXPECT_TRUE(put.ok()) << put.status();
    if (put.ok()) {
      for (int i = 0; i < count; ++i) EXPECT_TRUE((*put)[i].ok()) << i << ": " << (*put)[i];
    }
    return keys;
  }

  int IndexOf(const std::string& id) const {
    for (size_t n = 0; n < addresses_.size(); ++n) {
      if (addresses_[n] == id) return static_cast<int>(n);
    }
    return -1;
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::string> addresses_;
  std::shared_ptr<cluster::StaticMembership> membership_;
  std::vector<int> owned_r1_ = {0, 0, 0};
};

TEST_F(ClusterClientTest, BlocksRoundTripAndLiveExactlyOnTheirOwners) {
  for (int replicas : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("R=", replicas));
    auto client = Connect(replicas);
    ASSERT_NE(client, nullptr);
    const std::string ns = absl::StrCat("rt", replicas);
    std::vector<std::string> keys = PutBlocks(*client, ns, 60);
    auto got = client->Get(ns, keys);
    ASSERT_TRUE(got.ok()) << got.status();
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i));
    }
    // Each node holds exactly the keys it owns.
    std::vector<int> owned(3, 0);
    for (int n = 0; n < 3; ++n) {
      auto direct = Direct(n);
      ASSERT_NE(direct, nullptr);
      auto present = direct->Exists(ns, keys);
      ASSERT_TRUE(present.ok());
      for (int i = 0; i < 60; ++i) {
        const std::vector<std::string> owners = client->Owners(ns, keys[i]);
        ASSERT_EQ(owners.size(), static_cast<size_t>(replicas));
        const bool owner = std::find(owners.begin(), owners.end(), addresses_[n]) != owners.end();
        EXPECT_EQ((*present)[i], owner) << "key " << i << " on node " << n;
        owned[n] += owner;
      }
      // The batch was split per owner: this node was sent exactly its own keys.
      auto stats = direct->Stats();
      ASSERT_TRUE(stats.ok());
      EXPECT_EQ(stats->puts(), static_cast<uint64_t>(owned[n] + (replicas == 2 ? owned_r1_[n] : 0)));
    }
    EXPECT_EQ(owned[0] + owned[1] + owned[2], 60 * replicas);
    for (int n = 0; n < 3; ++n) EXPECT_GT(owned[n], 0) << "node " << n << " owns nothing";
    if (replicas == 1) owned_r1_ = owned;
    auto exists = client->Exists(ns, keys);
    ASSERT_TRUE(exists.ok());
    EXPECT_THAT(*exists, ::testing::Each(true));
    auto run = client->Lookup(ns, keys);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(*run, 60u);
  }
}

TEST_F(ClusterClientTest, WithTwoReplicasEveryBlockSurvivesAnyOneStoppedNode) {
  auto client = Connect(2);
  ASSERT_NE(client, nullptr);
  std::vector<std::string> keys = PutBlocks(*client, "r2", 60);
  Stop(1);
  auto got = client->Get("r2", keys);
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
    EXPECT_EQ((*got)[i].payload, Payload(i));
  }
  EXPECT_TRUE(client->IsDown(addresses_[1]));
  auto run = client->Lookup("r2", keys);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(*run, 60u);
}

TEST_F(ClusterClientTest, AStoppedOwnersBlocksBecomeMissesNotErrors) {
  auto client = Connect(1);
  ASSERT_NE(client, nullptr);
  std::vector<std::string> keys = PutBlocks(*client, "r1", 60);
  Stop(2);
  auto got = client->Get("r1", keys);
  ASSERT_TRUE(got.ok()) << got.status();
  int misses = 0;
  size_t first_lost = keys.size();
  for (int i = 0; i < 60; ++i) {
    const bool lost = client->Owners("r1", keys[i])[0] == addresses_[2];
    if (lost) {
      EXPECT_TRUE(absl::IsNotFound((*got)[i].status)) << i << ": " << (*got)[i].status;
      ++misses;
      first_lost = std::min(first_lost, static_cast<size_t>(i));
    } else {
      ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i));
    }
  }
  EXPECT_GT(misses, 0);
  EXPECT_TRUE(client->IsDown(addresses_[2]));
  auto exists = client->Exists("r1", keys);
  ASSERT_TRUE(exists.ok()) << exists.status();
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ((*exists)[i], client->Owners("r1", keys[i])[0] != addresses_[2]) << i;
  }
  auto run = client->Lookup("r1", keys);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(*run, first_lost);
  // A Put whose only owner is down: UNAVAILABLE for that key, OK for the others.
  std::vector<PutBlock> again;
  for (int i = 0; i < 60; ++i) again.push_back(PutBlock{keys[i], "", {}, "x"});
  auto put = client->Put("r1", again);
  ASSERT_TRUE(put.ok()) << put.status();
  for (int i = 0; i < 60; ++i) {
    const bool lost = client->Owners("r1", keys[i])[0] == addresses_[2];
    if (lost) {
      EXPECT_TRUE(absl::IsUnavailable((*put)[i])) << i << ": " << (*put)[i];
    } else {
      EXPECT_TRUE((*put)[i].ok()) << i << ": " << (*put)[i];
    }
  }
  // Cluster-wide evict reaches the two live nodes.
  auto evicted = client->Evict("r1");
  ASSERT_TRUE(evicted.ok()) << evicted.status();
  EXPECT_EQ(evicted->blocks(), static_cast<uint64_t>(60 - misses));
}

TEST_F(ClusterClientTest, ADownNodeIsProbedBackWhenItAnswersAgain) {
  auto client = Connect(1);
  ASSERT_NE(client, nullptr);
  std::vector<std::string> keys = PutBlocks(*client, "probe", 30);
  Stop(0);
  ASSERT_TRUE(client->Get("probe", keys).ok());
  ASSERT_TRUE(client->IsDown(addresses_[0]));
  auto node = Node::Start(SmallNode(addresses_[0]));
  ASSERT_TRUE(node.ok()) << node.status();
  nodes_[0] = *std::move(node);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (client->IsDown(addresses_[0]) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(client->IsDown(addresses_[0]));
  // Back, but empty: its keys are misses until stored again; a Put reaches it.
  std::vector<PutBlock> blocks;
  std::vector<std::string> payloads;
  for (int i = 0; i < 30; ++i) payloads.push_back(Payload(i));
  for (int i = 0; i < 30; ++i) blocks.push_back(PutBlock{keys[i], "", {}, payloads[i]});
  auto put = client->Put("probe", blocks);
  ASSERT_TRUE(put.ok());
  for (int i = 0; i < 30; ++i) EXPECT_TRUE((*put)[i].ok()) << i << ": " << (*put)[i];
  auto got = client->Get("probe", keys);
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*got)[i].payload, Payload(i)) << i;
}

TEST_F(ClusterClientTest, GetIntoAndPutFromRouteThroughOwners) {
  auto client = Connect(1);
  ASSERT_NE(client, nullptr);
  std::vector<char> memory(64 * 2048, 0);
  auto buffer = client->RegisterBuffer(memory.data(), memory.size());
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  std::vector<std::string> keys;
  std::vector<PutFromBlock> blocks;
  std::vector<uint64_t> offsets, capacities;
  for (int i = 0; i < 40; ++i) {
    keys.push_back(absl::StrCat("pf-", i));
    const std::string p = Payload(i);
    std::copy(p.begin(), p.end(), memory.begin() + i * 2048);
    offsets.push_back(i * 2048);
    capacities.push_back(2048);
  }
  for (int i = 0; i < 40; ++i) {
    blocks.push_back(PutFromBlock{keys[i], "", {}, offsets[i], Payload(i).size()});
  }
  auto put = client->PutFrom("dp", **buffer, blocks);
  ASSERT_TRUE(put.ok()) << put.status();
  for (const absl::Status& st : *put) EXPECT_TRUE(st.ok()) << st;
  std::fill(memory.begin(), memory.end(), 0);
  auto got = client->GetInto("dp", keys, **buffer, offsets, capacities);
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*got)[i].found()) << i;
    EXPECT_EQ(std::string(memory.data() + offsets[i], (*got)[i].size), Payload(i));
  }
}

// An AdminService that serves a ClusterView naming other nodes (as a node in an etcd cluster
// does) and a default NodeInfo; the client must route over the nodes it names.
class ViewServer final : public v1::AdminService::Service {
 public:
  explicit ViewServer(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {}
  grpc::Status NodeInfo(grpc::ServerContext*, const v1::NodeInfoRequest*,
                        v1::NodeInfoResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status ClusterView(grpc::ServerContext*, const v1::ClusterViewRequest*,
                           v1::ClusterViewResponse* response) override {
    response->set_cluster("test-cluster");
    response->set_source("etcd");
    response->set_revision(42);
    for (size_t n = 0; n < addresses_.size(); ++n) {
      cluster::NodeRecord r;
      r.id = absl::StrCat("node-", n);
      r.address = addresses_[n];
      response->add_nodes(r.ToJson());
    }
    return grpc::Status::OK;
  }

 private:
  const std::vector<std::string> addresses_;
};

TEST_F(ClusterClientTest, AddressAloneFollowsTheViewTheNodeServes) {
  ViewServer service(addresses_);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ClientOptions o;
  o.address = absl::StrCat("127.0.0.1:", port);
  auto client = Client::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  std::shared_ptr<const cluster::ClusterView> view = (*client)->view();
  EXPECT_EQ(view->source, cluster::ViewSource::kNode);
  EXPECT_EQ(view->cluster, "test-cluster");
  ASSERT_EQ(view->nodes.size(), 3u);
  std::vector<std::string> keys = PutBlocks(**client, "served", 30);
  for (int n = 0; n < 3; ++n) {
    auto direct = Direct(n);
    ASSERT_NE(direct, nullptr);
    auto present = direct->Exists("served", keys);
    ASSERT_TRUE(present.ok());
    for (int i = 0; i < 30; ++i) {
      EXPECT_EQ((*present)[i], (*client)->Owners("served", keys[i])[0] == absl::StrCat("node-", n))
          << i;
    }
  }
  auto got = (*client)->Get("served", keys);
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*got)[i].payload, Payload(i)) << i;
  server->Shutdown();
}

TEST(SingleNodeClientTest, OneAddressIsThatNodeWithItsOwnErrors) {
  auto node = Node::Start(SmallNode());
  ASSERT_TRUE(node.ok()) << node.status();
  ClientOptions o;
  o.address = (*node)->address();
  auto client = Client::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  // The node answers ClusterView UNIMPLEMENTED today or "static": a cluster of one.
  EXPECT_EQ((*client)->view()->nodes.size(), 1u);
  EXPECT_EQ((*client)->address(), (*node)->address());
  const std::string key = "k";
  auto put = (*client)->Put("one", std::vector<PutBlock>{PutBlock{key, "", {}, "bytes"}});
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE((*put)[0].ok());
  ASSERT_TRUE((*node)->Shutdown().ok());
  // One node: no other replica, so the caller sees the node's failure as today.
  auto got = (*client)->Get("one", std::vector<std::string>{key});
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
}

}  // namespace
}  // namespace strata
