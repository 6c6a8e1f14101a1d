// TLS end to end with a throwaway CA (scripts/make-test-certs), and the start-up refusals of
// docs/security.md: a token file that does not load, and a non-loopback listen address without
// TLS and tokens. The refusals are checked without ever serving on a non-loopback address.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "cachenode/auth.h"
#include "client/client.h"
#include "tests/testing/process.h"

namespace strata {
namespace {

using testing::NodeProcess;

constexpr char kToken[] = "tls-tenant-secret";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    certs_ = dir_ + "/certs";
    const auto r = testing::Run(
        {"/bin/bash", std::string(STRATA_SOURCE_DIR) + "/scripts/make-test-certs", certs_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    tokens_ = dir_ + "/tokens.yaml";
    std::ofstream(tokens_) << "tokens:\n  - {name: t, token_sha256: "
                           << DigestHex(HashToken(kToken)) << ", namespaces: [\"t/*\"]}\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<NodeProcess> Start(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--dram",        "16MiB",
                                     "--ssd",         "0",
                                     "--tls-cert",    certs_ + "/server.pem",
                                     "--tls-key",     certs_ + "/server.key",
                                     "--auth-tokens", tokens_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string error;
    auto node = NodeProcess::Start(dir_ + "/node", args, &error);
    EXPECT_NE(node, nullptr) << error;
    return node;
  }
  // `expect_refusal`: give up at the first failed handshake instead of retrying until the
  // timeout (only for connections that must fail: a good one may see a transient failure).
  absl::StatusOr<std::unique_ptr<Client>> Connect(const NodeProcess& node, const std::string& ca,
                                                  bool client_cert = false,
                                                  bool expect_refusal = false) {
    ClientOptions o;
    o.address = node.address();
    o.tls_ca_file = ca;
    o.token = kToken;
    o.connect_timeout_ms = 5'000;
    o.connect_fail_fast = expect_refusal;
    o.deadline_ms = 5'000;
    if (client_cert) {
      o.tls_cert_file = certs_ + "/client.pem";
      o.tls_key_file = certs_ + "/client.key";
    }
    return Client::Connect(o);
  }
  void RoundTrip(Client& client) {
    const std::string payload(10'000, 'T');
    auto put = client.Put("t/x", {PutBlock{"k", "", {}, payload}});
    ASSERT_TRUE(put.ok()) << put.status();
    ASSERT_TRUE((*put)[0].ok());
    const std::vector<std::string> keys = {"k"};
    auto got = client.Get("t/x", keys);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)[0].payload, payload);
  }

  std::string dir_, certs_, tokens_;
};

TEST_F(TlsTest, ClientsVerifyTheNodeAndTalkOverTls) {
  std::filesystem::create_directories(dir_ + "/node");
  auto node = Start({});
  ASSERT_NE(node, nullptr);
  auto client = Connect(*node, certs_ + "/ca.pem");
  ASSERT_TRUE(client.ok()) << client.status();
  RoundTrip(**client);

  // Plaintext to a TLS port, or a CA that did not sign the node's certificate: no connection.
  EXPECT_EQ(Connect(*node, "", false, true).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Connect(*node, certs_ + "/other-ca.pem", false, true).status().code(),
            absl::StatusCode::kUnavailable);

  // stratactl over TLS with a token.
  const std::string ctl = testing::BinDir() + "/stratactl";
  std::ofstream(dir_ + "/block") << "over tls";
  auto r = testing::Run({ctl, "--node", node->address(), "--tls-ca", certs_ + "/ca.pem", "--token",
                         kToken, "put", "--ns", "t/ctl", "--key", "0a", "--file", dir_ + "/block"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::Run({ctl, "--node", node->address(), "--tls-ca", certs_ + "/ca.pem", "--token",
                    kToken, "get", "--ns", "t/ctl", "--key", "0a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "over tls");
}

TEST_F(TlsTest, NodeRequiringClientCertificatesRefusesClientsWithoutOne) {
  std::filesystem::create_directories(dir_ + "/node");
  auto node = Start({"--tls-client-ca", certs_ + "/ca.pem"});
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(Connect(*node, certs_ + "/ca.pem", false, true).status().code(),
            absl::StatusCode::kUnavailable);
  auto client = Connect(*node, certs_ + "/ca.pem", /*client_cert=*/true);
  ASSERT_TRUE(client.ok()) << client.status();
  RoundTrip(**client);
}

// Start-up refusals: one line naming the problem, exit status 2, nothing served.
class RefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  testing::RunResult Node(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BinDir() + "/strata-node");
    for (const char* a : {"--dram", "4MiB", "--ssd", "0", "--metrics-listen", "off"}) {
      args.push_back(a);
    }
    return testing::Run(args, 30);
  }
  std::string dir_;
};

TEST_F(RefusalTest, ABadTokenFileRefusesTheStartNamingTheProblem) {
  const std::string bad = dir_ + "/tokens.yaml";
  std::ofstream(bad) << "tokens:\n  - {name: a, token_sha256: zz, namespaces: [\"a/*\"]}\n";
  auto r = Node({"--listen", "127.0.0.1:0", "--auth-tokens", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, absl::StrCat("strata-node: --auth-tokens: ", bad,
                                ": tokens[0].token_sha256: 2 characters, want 64 hex digits (the "
                                "SHA-256 of the token, e.g. from sha256sum)\n"));
  r = Node({"--listen", "127.0.0.1:0", "--auth-tokens", dir_ + "/absent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--auth-tokens: " + dir_ + "/absent.yaml: cannot be read"),
            std::string::npos)
      << r.err;
}

// A socket of ours listens on 127.0.0.1:P, so a node that tried to bind 0.0.0.0:P would fail
// with "cannot listen" instead: the refusal below comes before any bind.
TEST_F(RefusalTest, NonLoopbackListenWithoutTlsAndTokensIsRefusedBeforeBinding) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string any = absl::StrCat("0.0.0.0:", ntohs(addr.sin_port));

  auto r = Node({"--listen", any});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, absl::StrCat("strata-node: --listen ", any,
                                ": refusing to serve a non-loopback address without TLS and "
                                "tokens (tokens and blocks would cross the network in the "
                                "clear); give --tls-cert/--tls-key and --auth-tokens, or "
                                "--insecure to serve anyway\n"));
  r = Node({"--listen", any, "--auth-tokens", dir_ + "/t.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("without TLS ("), std::string::npos) << r.err;
  r = Node({"--listen", any, "--tls-cert", "c.pem", "--tls-key", "k.pem"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("without tokens (anyone who reaches the port"), std::string::npos) << r.err;
  r = Node({"--listen", absl::StrCat("[::]:", ntohs(addr.sin_port))});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("refusing to serve a non-loopback address"), std::string::npos) << r.err;
  close(fd);
}

}  // namespace
}  // namespace strata
