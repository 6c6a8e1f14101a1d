// Quotas end to end (cachenode/quotas.h, docs/security.md): strata-node as a real process with
// --quotas, tenants' bytes per tier and request rates, over gRPC and the UCX data plane, and a
// SIGHUP reload.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "proto/strata.grpc.pb.h"
#include "tests/testing/process.h"

namespace strata {
namespace {

using testing::NodeProcess;
using Path = ClientOptions::DataPath;

constexpr size_t kBlock = 4000;  // one 4 KiB DRAM page each

// A tenant's quota that no test refills: 0.001 calls per second after its burst.
constexpr char kQuotas[] = R"(quotas:
  - namespaces: "a/*"
    dram: 256KiB
  - namespaces: "b/*"
    dram: 256KiB
  - namespaces: "leased/*"
    dram: 16KiB
  - namespaces: "r/*"
    requests_per_s: 0.001
    burst: 5
  - namespaces: "u/*"
    requests_per_s: 0.001
    burst: 3
)";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string Payload(int i) {
  return std::string(kBlock, static_cast<char>('a' + i % 26)) + std::to_string(i);
}
std::string Key(int i) { return "k" + std::to_string(i); }

class QuotaNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    quotas_ = dir_ + "/quotas.yaml";
    WriteFile(quotas_, kQuotas);
    std::string error;
    node_ = NodeProcess::Start(dir_, {"--dram", "1MiB", "--ssd", "0", "--quotas", quotas_}, &error);
    ASSERT_NE(node_, nullptr) << error;
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::CacheService::NewStub(channel_);
  }
  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Client> Connect(Path path = Path::kGrpc) {
    ClientOptions o;
    o.address = node_->address();
    o.data_path = path;
    o.deadline_ms = 10'000;
    o.connect_timeout_ms = 5'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // A raw Get of one key: its status and the retry-after-ms trailing metadata (-1: none).
  std::pair<grpc::Status, int64_t> RawGet(const std::string& ns) {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_namespace_(ns);
    req.add_keys("k");
    v1::GetResponse resp;
    grpc::Status st = stub_->Get(&ctx, req, &resp);
    return {st, RetryAfter(ctx)};
  }
  static int64_t RetryAfter(const grpc::ClientContext& ctx) {
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find("retry-after-ms");
    int64_t ms = -1;
    if (it != trailers.end()) {
      EXPECT_TRUE(absl::SimpleAtoi(std::string(it->second.data(), it->second.size()), &ms));
    }
    return ms;
  }

  std::string dir_, quotas_;
  std::unique_ptr<NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CacheService::Stub> stub_;
};

TEST_F(QuotaNodeTest, TenantBsBlocksSurviveTenantAFillingTheCache) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c->Put("b/m", {PutBlock{Key(i), "", {}, Payload(1000 + i)}}).ok());
  }
  // A writes 600 blocks (2.3 MiB) through a 1 MiB node: every Put is accepted.
  for (int i = 0; i < 600; ++i) {
    auto put = c->Put("a/m", {PutBlock{Key(i), "", {}, Payload(i)}});
    ASSERT_TRUE(put.ok()) << i << ": " << put.status();
    ASSERT_TRUE((*put)[0].ok()) << i << ": " << (*put)[0];
  }
  std::vector<std::string> b_keys, a_keys;
  for (int i = 0; i < 40; ++i) b_keys.push_back(Key(i));
  for (int i = 0; i < 600; ++i) a_keys.push_back(Key(i));
  auto b = c->Get("b/m", b_keys);
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 40; ++i) EXPECT_TRUE((*b)[i].payload == Payload(1000 + i)) << i;
  // A kept exactly its share, 64 blocks (256 KiB of 4 KiB pages), byte-exact.
  int a_present = 0;
  for (int i = 0; i < 600; i += 50) {
    auto a = c->Get("a/m", std::vector<std::string>(a_keys.begin() + i, a_keys.begin() + i + 50));
    ASSERT_TRUE(a.ok());
    for (int j = 0; j < 50; ++j) {
      if (!(*a)[j].found()) continue;
      ++a_present;
      EXPECT_TRUE((*a)[j].payload == Payload(i + j)) << i + j;
    }
  }
  EXPECT_EQ(a_present, 64);
  EXPECT_TRUE((*c->Get("a/m", {Key(599)}))[0].found()) << "the block just stored stays";
}

TEST_F(QuotaNodeTest, AShareFullOfLeasedBlocksAnswersResourceExhaustedWithARetryHint) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c->Put("leased/m", {PutBlock{Key(i), "", {}, Payload(i)}}).ok());
    keys.push_back(Key(i));
  }
  ASSERT_EQ(*c->Lookup("leased/m", keys, /*lease_ms=*/30'000), 4u);
  grpc::ClientContext ctx;
  v1::PutRequest req;
  req.set_namespace_("leased/m");
  v1::PutItem* item = req.add_items();
  item->set_key("new");
  item->set_payload(Payload(9));
  v1::PutResponse resp;
  grpc::Status st = stub_->Put(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("quota 'leased/*' holds 16384 of 16384 bytes"),
            std::string::npos)
      << st.error_message();
  EXPECT_EQ(RetryAfter(ctx), 1000);
  auto got = c->Get("leased/m", keys);
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE((*got)[i].payload == Payload(i)) << i;
}

TEST_F(QuotaNodeTest, ARequestRateOverItsBurstIsResourceExhaustedWithARetryHint) {
  for (int i = 0; i < 5; ++i) {
    auto [st, hint] = RawGet("r/m");
    EXPECT_EQ(st.error_code(), grpc::StatusCode::OK) << i << ": " << st.error_message();
    EXPECT_EQ(hint, -1);
  }
  auto [st, hint] = RawGet("r/other");  // the same entry: one bucket for every namespace in it
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("quota 'r/*' allows 0.001 requests per second"),
            std::string::npos)
      << st.error_message();
  EXPECT_GT(hint, 0);
  EXPECT_LE(hint, 1'000'000);  // one call's token at 0.001 per second
  // Other tenants are not metered by r/*'s bucket.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(RawGet("a/m").first.error_code(), grpc::StatusCode::OK);

  // SIGHUP with a faster rate: the bucket keeps its level (empty) but refills at once.
  WriteFile(quotas_, "quotas:\n  - namespaces: \"r/*\"\n    requests_per_s: 1000000\n");
  ASSERT_EQ(kill(node_->pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  grpc::StatusCode code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  while (code != grpc::StatusCode::OK && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    code = RawGet("r/m").first.error_code();
  }
  EXPECT_EQ(code, grpc::StatusCode::OK);
  // A file that does not load leaves that in force.
  WriteFile(quotas_, "quotas:\n  - namespaces: \"r/*\"\n    requests_per_s: -3\n");
  ASSERT_EQ(kill(node_->pid(), SIGHUP), 0);
  // The node writes the line in pieces (unbuffered stderr): wait for its last part, the reason.
  const std::string err = testing::WaitForText(
      dir_ + "/node.err", "quotas[0].requests_per_s: expected a number of calls above 0");
  EXPECT_NE(err.find("quotas[0].requests_per_s: expected a number of calls above 0"),
            std::string::npos)
      << err;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(RawGet("r/m").first.error_code(), grpc::StatusCode::OK);
}

TEST_F(QuotaNodeTest, TheDataPlaneIsMeteredLikeGrpc) {
  for (bool messages : {true, false}) {
    SCOPED_TRACE(messages ? "UCX messages" : "gRPC calls");
    ClientOptions o;
    o.address = node_->address();
    o.data_path = Path::kUcx;
    o.ucx_messages = messages;
    o.deadline_ms = 10'000;
    o.connect_timeout_ms = 5'000;
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    std::string mem(64 << 10, 'x');
    auto buffer = (*c)->RegisterBuffer(mem.data(), mem.size());
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    const std::string ns = messages ? "u/messages" : "u/grpc";
    std::memset(mem.data(), 'U', kBlock);
    // u/* allows 3 calls in all; the first round spends them.
    const int allowed = messages ? 3 : 0;
    for (int i = 0; i < allowed; ++i) {
      auto put = (*c)->PutFrom(ns, **buffer, {PutFromBlock{Key(i), "", {}, 0, kBlock}});
      ASSERT_TRUE(put.ok()) << i << ": " << put.status();
      EXPECT_TRUE((*put)[0].ok()) << (*put)[0];
    }
    // The client reports a refused call on each key it carried.
    auto put = (*c)->PutFrom(ns, **buffer, {PutFromBlock{"over", "", {}, 0, kBlock}});
    const absl::Status put_st = put.ok() ? (*put)[0] : put.status();
    EXPECT_EQ(put_st.code(), absl::StatusCode::kResourceExhausted) << put_st;
    EXPECT_NE(put_st.message().find("quota 'u/*' allows 0.001 requests per second"),
              std::string::npos)
        << put_st;
    EXPECT_NE(put_st.message().find("retry after"), std::string::npos) << put_st;
    auto got = (*c)->GetInto(ns, {Key(0)}, **buffer, {8192}, {8192});
    const absl::Status got_st = got.ok() ? (*got)[0].status : got.status();
    EXPECT_EQ(got_st.code(), absl::StatusCode::kResourceExhausted) << got_st;
    EXPECT_NE(std::string(mem.data() + 8192, 16), std::string(16, 'U')) << "nothing written";
    EXPECT_EQ((*c)->data_path_counters().fallbacks, 0u);
  }
}

}  // namespace
}  // namespace strata
