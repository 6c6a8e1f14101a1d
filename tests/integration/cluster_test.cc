// Three real strata-node processes as one static cluster, driven through strata::Client and
// stratactl --nodes: placement on exactly the placed owners, kill -9 under load (hits of exact
// bytes or misses, nothing else), R=2 surviving any one node, and stratactl's exit statuses.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/block_hasher.h"
#include "client/client.h"
#include "tests/testing/process.h"

namespace strata {
namespace {

using testing::NodeProcess;

// Block i's bytes: a pure function of i, so any wrong byte is caught.
std::string Payload(int i) {
  std::string p(2048 + (i % 7) * 100, '\0');
  std::mt19937 rng(static_cast<uint32_t>(i) * 2654435761u);
  for (char& c : p) c = static_cast<char>(rng());
  return p;
}

std::string Key(int i) { return absl::StrCat("block-", i); }

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir("cluster");
    for (int n = 0; n < 3; ++n) StartNode(n, 0);
  }

  void StartNode(int n, int port) {
    std::string error;
    const std::string dir = absl::StrCat(dir_, "/n", n, "-", restarts_++);
    std::filesystem::create_directories(dir);
    auto node = NodeProcess::Start(dir,
                                   {"--dram", "32MiB", "--ssd", "0", "--data-plane", "off"},
                                   &error, port);
    ASSERT_NE(node, nullptr) << error;
    if (nodes_.size() <= static_cast<size_t>(n)) nodes_.resize(n + 1);
    nodes_[n] = std::move(node);
  }

  std::vector<std::string> Addresses() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) out.push_back(n->address());
    return out;
  }

  std::unique_ptr<Client> Connect(int replicas) {
    ClientOptions o;
    o.nodes = addresses_.empty() ? Addresses() : addresses_;
    addresses_ = o.nodes;
    o.placement.default_replicas = replicas;
    o.connect_timeout_ms = 2000;
    o.probe_interval_ms = 200;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  std::unique_ptr<NodeClient> Direct(int n) {
    ClientOptions o;
    o.address = addresses_[n];
    auto c = NodeClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  int IndexOf(const std::string& id) const {
    for (size_t n = 0; n < addresses_.size(); ++n) {
      if (addresses_[n] == id) return static_cast<int>(n);
    }
    return -1;
  }

  void PutAll(Client& client, const std::string& ns, int count) {
    std::vector<std::string> keys, payloads;
    for (int i = 0; i < count; ++i) {
      keys.push_back(Key(i));
      payloads.push_back(Payload(i));
    }
    std::vector<PutBlock> blocks;
    for (int i = 0; i < count; ++i) blocks.push_back(PutBlock{keys[i], "", {}, payloads[i]});
    auto put = client.Put(ns, blocks);
    ASSERT_TRUE(put.ok()) << put.status();
    for (int i = 0; i < count; ++i) ASSERT_TRUE((*put)[i].ok()) << i << ": " << (*put)[i];
  }

  std::string dir_;
  int restarts_ = 0;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  std::vector<std::string> addresses_;
};

TEST_F(ClusterTest, BlocksLandOnExactlyTheirPlacedOwners) {
  for (int replicas : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("R=", replicas));
    auto client = Connect(replicas);
    ASSERT_NE(client, nullptr);
    const std::string ns = absl::StrCat("placed", replicas);
    PutAll(*client, ns, 90);
    std::vector<std::string> keys;
    for (int i = 0; i < 90; ++i) keys.push_back(Key(i));
    int copies = 0;
    for (int n = 0; n < 3; ++n) {
      auto direct = Direct(n);
      ASSERT_NE(direct, nullptr);
      auto present = direct->Exists(ns, keys);
      ASSERT_TRUE(present.ok()) << present.status();
      for (int i = 0; i < 90; ++i) {
        const std::vector<std::string> owners = client->Owners(ns, keys[i]);
        const bool owner = std::find(owners.begin(), owners.end(), addresses_[n]) != owners.end();
        EXPECT_EQ((*present)[i], owner) << "block " << i << " on node " << n;
        copies += (*present)[i];
      }
    }
    EXPECT_EQ(copies, 90 * replicas);
    auto got = client->Get(ns, keys);
    ASSERT_TRUE(got.ok()) << got.status();
    for (int i = 0; i < 90; ++i) {
      ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i)) << i;
    }
  }
}

TEST_F(ClusterTest, KillNineUnderLoadGivesExactHitsOrMissesOnly) {
  auto client = Connect(1);
  ASSERT_NE(client, nullptr);
  const int kBlocks = 240;
  PutAll(*client, "load", kBlocks);
  std::atomic<int> calls{0}, hits{0}, misses{0}, wrong{0}, errors{0}, call_errors{0};
  std::atomic<bool> killed{false};
  std::atomic<int> hits_of_dead_after_kill{0};
  const int victim = 1;
  std::thread loader([&] {
    std::mt19937 rng(7);
    // Runs until well after the kill: up to 300 calls once it happened (bounded by time and
    // by 5000 calls in all), so the victim's misses are always seen however fast the host is.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    int after_kill_calls = 0;
    while (std::chrono::steady_clock::now() < end && calls.load() < 5000 &&
           after_kill_calls < 300) {
      if (killed.load()) ++after_kill_calls;
      std::vector<std::string> keys;
      std::vector<int> ids;
      for (int k = 0; k < 8; ++k) {
        ids.push_back(static_cast<int>(rng() % kBlocks));
        keys.push_back(Key(ids.back()));
      }
      const bool after_kill = killed.load();
      auto got = client->Get("load", keys);
      calls.fetch_add(1);
      if (!got.ok()) {
        call_errors.fetch_add(1);
        ADD_FAILURE() << "call failed: " << got.status();
        continue;
      }
      for (size_t k = 0; k < keys.size(); ++k) {
        const GetResult& r = (*got)[k];
        if (r.found()) {
          hits.fetch_add(1);
          if (r.payload != Payload(ids[k])) wrong.fetch_add(1);
          if (after_kill && client->Owners("load", keys[k])[0] == addresses_[victim]) {
            hits_of_dead_after_kill.fetch_add(1);
          }
        } else if (absl::IsNotFound(r.status)) {
          misses.fetch_add(1);
        } else {
          errors.fetch_add(1);
          ADD_FAILURE() << "key error: " << r.status;
        }
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  nodes_[victim]->Stop(SIGKILL);
  killed.store(true);
  loader.join();
  EXPECT_GT(calls.load(), 20);
  EXPECT_GT(hits.load(), 0);
  EXPECT_GT(misses.load(), 0);  // the victim's blocks, after the kill
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(call_errors.load(), 0);
  EXPECT_EQ(hits_of_dead_after_kill.load(), 0);
  // After the load every live owner's block is still an exact hit, the dead one's a miss.
  std::vector<std::string> keys;
  for (int i = 0; i < kBlocks; ++i) keys.push_back(Key(i));
  auto got = client->Get("load", keys);
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < kBlocks; ++i) {
    if (client->Owners("load", keys[i])[0] == addresses_[victim]) {
      EXPECT_TRUE(absl::IsNotFound((*got)[i].status)) << i << ": " << (*got)[i].status;
    } else {
      ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i));
    }
  }
}

TEST_F(ClusterTest, WithTwoReplicasEveryBlockSurvivesAnyOneNodeDying) {
  auto client = Connect(2);
  ASSERT_NE(client, nullptr);
  const int kBlocks = 120;
  std::vector<std::string> keys;
  for (int i = 0; i < kBlocks; ++i) keys.push_back(Key(i));
  for (int victim = 0; victim < 3; ++victim) {
    SCOPED_TRACE(absl::StrCat("victim ", victim));
    PutAll(*client, "r2", kBlocks);  // restores the copies a restarted node lost
    const int port = nodes_[victim]->port();
    nodes_[victim]->Stop(SIGKILL);
    auto got = client->Get("r2", keys);
    ASSERT_TRUE(got.ok()) << got.status();
    for (int i = 0; i < kBlocks; ++i) {
      ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i));
    }
    auto run = client->Lookup("r2", keys);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(*run, static_cast<size_t>(kBlocks));
    StartNode(victim, port);
    // Bounded wait for the client to take the restarted node back.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (client->IsDown(addresses_[victim]) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_FALSE(client->IsDown(addresses_[victim]));
  }
}

TEST_F(ClusterTest, StratactlPutGetThroughTheClusterAndAMissAfterTheOwnerDies) {
  addresses_ = Addresses();
  const std::string nodes = absl::StrJoin(addresses_, ",");
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinDir() + "/stratactl", "--nodes", nodes});
    return testing::Run(args, 30);
  };
  const std::string file = dir_ + "/payload";
  const std::string payload = Payload(3);
  std::ofstream(file, std::ios::binary) << payload;
  // Keys spread over the nodes; take one per owner.
  ClientOptions o;
  o.nodes = addresses_;
  auto client = Client::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<std::string> hex_of_owner(3);
  for (int i = 0; i < 200; ++i) {
    const std::string key = Key(i);
    const int owner = IndexOf((*client)->Owners("ctl", key)[0]);
    if (hex_of_owner[owner].empty()) hex_of_owner[owner] = ToHex(key);
  }
  for (int n = 0; n < 3; ++n) {
    ASSERT_FALSE(hex_of_owner[n].empty());
    auto put = ctl({"put", "--ns", "ctl", "--key", hex_of_owner[n], "--file", file});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    auto get = ctl({"get", "--ns", "ctl", "--key", hex_of_owner[n]});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, payload);
  }
  auto status = ctl({"cluster", "status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json j = nlohmann::json::parse(status.out);
  EXPECT_EQ(j["view"], "static");
  ASSERT_EQ(j["nodes"].size(), 3u);
  for (const auto& n : j["nodes"]) EXPECT_EQ(n["state"], "active") << n.dump();

  nodes_[2]->Stop(SIGKILL);
  for (int n = 0; n < 3; ++n) {
    auto get = ctl({"get", "--ns", "ctl", "--key", hex_of_owner[n]});
    if (n == 2) {
      EXPECT_EQ(get.exit_code, 3) << get.err;  // a miss, nothing else
    } else {
      ASSERT_EQ(get.exit_code, 0) << get.err;
      EXPECT_EQ(get.out, payload);
    }
  }
  status = ctl({"cluster", "status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  j = nlohmann::json::parse(status.out);
  int unreachable = 0;
  for (const auto& n : j["nodes"]) unreachable += n["state"] == "unreachable";
  EXPECT_EQ(unreachable, 1);
  // A Put owned by the dead node: no replica reachable, so it fails (exit 1), not a miss.
  auto put = ctl({"put", "--ns", "ctl", "--key", hex_of_owner[2], "--file", file});
  EXPECT_EQ(put.exit_code, 1) << put.err;
  // inspect: the node predates Inspect or answers; either way it names the owner.
  auto inspect = ctl({"inspect", "--ns", "ctl", "--key", hex_of_owner[0], "--json"});
  EXPECT_TRUE(inspect.exit_code == 0 || inspect.exit_code == 3) << inspect.err;
  j = nlohmann::json::parse(inspect.out);
  ASSERT_EQ(j["owners"].size(), 1u);
  EXPECT_EQ(j["owners"][0]["node"], addresses_[0]);
}

}  // namespace
}  // namespace strata
