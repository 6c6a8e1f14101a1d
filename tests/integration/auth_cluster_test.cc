// Tokens across a cluster (docs/security.md "Node to node"): etcd and three strata-node processes
// sharing one token file. Clients' routed calls carry their token to every owner; a drain's Puts
// to the new owners carry the draining node's --peer-token-file token, and without one the owners
// refuse them (the blocks stay where they were, counted as failed).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cachenode/auth.h"
#include "client/client.h"
#include "tests/testing/process.h"
#include "tests/testing/etcd_process.h"

namespace strata {
namespace {

using testing::NodeProcess;

constexpr char kTenant[] = "cluster-tenant-secret";
constexpr char kOther[] = "cluster-other-secret";
constexpr char kOps[] = "cluster-ops-secret";
constexpr char kPeer[] = "cluster-peer-secret";

std::string Entry(const std::string& name, const std::string& token, const std::string& ns,
                  bool admin) {
  return absl::StrCat("  - {name: ", name, ", token_sha256: ", DigestHex(HashToken(token)),
                      ", namespaces: [", ns, "], admin: ", admin ? "true" : "false", "}\n");
}

std::string Payload(int i) { return std::string(1000 + i, static_cast<char>('a' + i % 26)); }
std::string Key(int i) { return absl::StrCat("k-", i); }

class AuthClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    STRATA_START_ETCD_OR_SKIP(etcd_);
    dir_ = testing::FreshDir("auth-cluster");
    const std::string tokens = dir_ + "/tokens.yaml";
    std::ofstream(tokens) << "tokens:\n"
                          << Entry("tenant", kTenant, "\"t/*\"", false)
                          << Entry("other", kOther, "\"o/*\"", false)
                          << Entry("ops", kOps, "", true) << Entry("peer", kPeer, "\"*\"", false);
    std::ofstream(dir_ + "/peer.token") << kPeer << "\n";
    std::ofstream(dir_ + "/node.yaml") << "cluster: {lease_ttl_s: 2, heartbeat_ms: 300}\n";
  }
  // Starts node-1 .. node-`count`; nodes listed in `without_peer_token` get no
  // --peer-token-file. With `tls`, every node serves TLS and verifies its peers with the test CA.
  void StartNodes(int count, const std::set<int>& without_peer_token, bool tls) {
    if (tls) {
      certs_ = dir_ + "/certs";
      const auto r = testing::Run(
          {"/bin/bash", std::string(STRATA_SOURCE_DIR) + "/scripts/make-test-certs", certs_});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    for (int n = 1; n <= count; ++n) {
      const std::string dir = absl::StrCat(dir_, "/node-", n);
      std::filesystem::create_directories(dir);
      std::vector<std::string> args = {"--config",      dir_ + "/node.yaml",
                                       "--etcd",        etcd_->client_url(),
                                       "--cluster",     "auth",
                                       "--node-id",     absl::StrCat("node-", n),
                                       "--dram",        "16MiB",
                                       "--ssd",         "0",
                                       "--data-plane",  "off",
                                       "--auth-tokens", dir_ + "/tokens.yaml"};
      if (!without_peer_token.contains(n)) {
        args.insert(args.end(), {"--peer-token-file", dir_ + "/peer.token"});
      }
      if (tls) {
        args.insert(args.end(), {"--tls-cert", certs_ + "/server.pem", "--tls-key",
                                 certs_ + "/server.key", "--peer-tls-ca", certs_ + "/ca.pem"});
      }
      std::string error;
      auto node = NodeProcess::Start(dir, args, &error);
      ASSERT_NE(node, nullptr) << error;
      nodes_.push_back(std::move(node));
    }
  }
  void TearDown() override {
    nodes_.clear();
    etcd_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Client> Connect(const std::string& token) {
    ClientOptions o;
    o.etcd = {etcd_->client_url()};
    o.cluster = "auth";
    o.token = token;
    if (!certs_.empty()) o.tls_ca_file = certs_ + "/ca.pem";
    o.connect_timeout_ms = 3000;
    o.probe_interval_ms = 200;
    o.deadline_ms = 5000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  bool WaitForActive(Client& c, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (c.view()->Active().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  testing::RunResult Drain(const std::string& id, const std::string& token) {
    std::vector<std::string> argv = {testing::BinDir() + "/stratactl",
                                     "--etcd",
                                     etcd_->client_url(),
                                     "--cluster",
                                     "auth",
                                     "--token",
                                     token,
                                     "--json"};
    if (!certs_.empty()) argv.insert(argv.end(), {"--tls-ca", certs_ + "/ca.pem"});
    argv.insert(argv.end(), {"drain", id});
    return testing::Run(argv, 60);
  }
  // Puts blocks 0..n-1 into "t/model" as the tenant; returns how many each node owns.
  std::map<std::string, int> PutAll(Client& c, int n) {
    std::vector<std::string> keys, payloads;
    for (int i = 0; i < n; ++i) {
      keys.push_back(Key(i));
      payloads.push_back(Payload(i));
    }
    std::vector<PutBlock> blocks;
    for (int i = 0; i < n; ++i) blocks.push_back({keys[i], "", {}, payloads[i]});
    std::map<std::string, int> per_owner;
    auto put = c.Put("t/model", blocks);
    EXPECT_TRUE(put.ok()) << put.status();
    if (!put.ok()) return per_owner;
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE((*put)[i].ok()) << i << ": " << (*put)[i];
      ++per_owner[c.Owners("t/model", keys[i])[0]];
    }
    return per_owner;
  }
  // Every block 0..n-1 reads back as its exact bytes.
  void ExpectAllExact(Client& c, int n) {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back(Key(i));
    auto got = c.Get("t/model", keys);
    ASSERT_TRUE(got.ok()) << got.status();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*got)[i].found()) << Key(i) << ": " << (*got)[i].status;
      EXPECT_EQ((*got)[i].payload, Payload(i)) << Key(i);
    }
  }

  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::string dir_, certs_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

TEST_F(AuthClusterTest, RoutedCallsAndDrainsCarryTokens) {
  StartNodes(3, /*without_peer_token=*/{3}, /*tls=*/false);
  auto tenant = Connect(kTenant);
  auto other = Connect(kOther);
  ASSERT_TRUE(tenant && other);
  ASSERT_TRUE(WaitForActive(*tenant, 3));
  ASSERT_TRUE(WaitForActive(*other, 3));
  const int n = 60;
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(Key(i));
  std::map<std::string, int> per_owner = PutAll(*tenant, n);
  ASSERT_EQ(per_owner.size(), 3u) << "every node should own some of 60 keys";
  // Another tenant is refused on every owner.
  auto denied = other->Get("t/model", keys);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();

  // A tenant token cannot drain.
  auto r = Drain("node-2", kTenant);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;

  // node-3 has no peer token: its Puts to the other owners are refused, nothing moves, and it
  // stays registered and running (cachenode/cluster_agent.h).
  r = Drain("node-3", kOps);
  EXPECT_NE(r.out.find(absl::StrCat("\"blocks_failed\":", per_owner["node-3"])), std::string::npos)
      << r.out << r.err;
  EXPECT_NE(r.out.find("\"blocks_moved\":0"), std::string::npos) << r.out;

  // node-2 has one: every block it holds moves, none fails.
  r = Drain("node-2", kOps);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(absl::StrCat("\"blocks_moved\":", per_owner["node-2"])), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"blocks_failed\":0"), std::string::npos) << r.out;
}

// TLS nodes drain to each other over TLS (--peer-tls-ca), with the peer token.
TEST_F(AuthClusterTest, TlsNodesDrainOverTls) {
  StartNodes(2, /*without_peer_token=*/{}, /*tls=*/true);
  auto tenant = Connect(kTenant);
  ASSERT_NE(tenant, nullptr);
  ASSERT_TRUE(WaitForActive(*tenant, 2));
  const int n = 40;
  std::map<std::string, int> per_owner = PutAll(*tenant, n);
  ASSERT_GT(per_owner["node-2"], 0);
  const auto r = Drain("node-2", kOps);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(absl::StrCat("\"blocks_moved\":", per_owner["node-2"])), std::string::npos)
      << r.out;
  EXPECT_EQ(nodes_[1]->Stop(0), 0);  // exits on its own once drained
  ASSERT_TRUE(WaitForActive(*tenant, 1));
  ExpectAllExact(*tenant, n);
}

}  // namespace
}  // namespace strata
