// strata-node as a real process on a free loopback port, driven through the C++ client and raw
// gRPC stubs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include "client/client.h"
#include "proto/strata.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"

namespace strata {
namespace {

using testing::ConnectTo;
using testing::NodeProcess;
using testing::StartNode;

const v1::TierInfo& TierNamed(const v1::StatsResponse& s, const std::string& name) {
  for (const auto& t : s.tiers()) {
    if (t.name() == name) return t;
  }
  static const v1::TierInfo kNone;
  return kNone;
}

TEST(NodeProcessTest, ThousandBlocksRoundTripThroughDemotionAndSurviveRestart) {
  const std::string dir = testing::FreshDir("roundtrip");
  const std::vector<std::string> args = {"--dram",     "8MiB",  "--ssd-dir",
                                         dir + "/ssd", "--ssd", "256MiB"};
  auto node = StartNode(dir, args);
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);

  std::mt19937_64 rng(2024);
  std::vector<std::string> keys, values;
  for (int i = 0; i < 1000; ++i) {
    std::string key(16, '\0'), value(8192 + rng() % (56 * 1024), '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    for (auto& c : value) c = static_cast<char>(rng());
    keys.push_back(std::move(key));
    values.push_back(std::move(value));
  }
  for (size_t i = 0; i < keys.size(); i += 50) {
    std::vector<PutBlock> batch;
    for (size_t k = i; k < i + 50; ++k) batch.push_back({keys[k], "", {}, values[k]});
    auto results = client->Put("it/roundtrip", batch);
    ASSERT_TRUE(results.ok()) << results.status();
    for (const auto& st : *results) ASSERT_TRUE(st.ok()) << st;
  }
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  const auto& dram = TierNamed(*stats, "dram");
  EXPECT_GT(TierNamed(*stats, "ssd").blocks(), 500u) << "8 MiB of DRAM must push most to SSD";
  EXPECT_LE(dram.used_bytes(), dram.capacity_bytes());
  EXPECT_EQ(dram.capacity_bytes(), 8u << 20);
  EXPECT_GT(stats->demotions(), 0u);

  for (size_t i = 0; i < keys.size(); i += 50) {
    auto got = client->Get("it/roundtrip", absl::MakeConstSpan(keys).subspan(i, 50));
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t k = 0; k < 50; ++k) {
      ASSERT_TRUE((*got)[k].found()) << "block " << i + k << ": " << (*got)[k].status;
      ASSERT_EQ((*got)[k].payload, values[i + k]) << "block " << i + k;
    }
  }
  stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  const uint64_t in_ssd = TierNamed(*stats, "ssd").blocks();
  ASSERT_GT(in_ssd, 0u);
  client.reset();
  EXPECT_EQ(node->Stop(SIGTERM), 0) << "graceful shutdown must exit 0";

  // A clean restart on the same directory: every SSD block is back, byte-exact.
  node = StartNode(dir, args);
  ASSERT_NE(node, nullptr);
  client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(TierNamed(*stats, "ssd").blocks(), in_ssd);
  EXPECT_EQ(TierNamed(*stats, "dram").blocks(), 0u);
  uint64_t found = 0;
  for (size_t i = 0; i < keys.size(); i += 50) {
    auto got = client->Get("it/roundtrip", absl::MakeConstSpan(keys).subspan(i, 50));
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t k = 0; k < 50; ++k) {
      if (!(*got)[k].found()) continue;
      ++found;
      ASSERT_EQ((*got)[k].payload, values[i + k]) << "block " << i + k << " after restart";
    }
  }
  EXPECT_EQ(found, in_ssd);
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir("badinput");
    node_ = StartNode(
        dir_, {"--dram", "16MiB", "--ssd", "0", "--max-payload", "1MiB", "--max-batch", "64"});
    ASSERT_NE(node_, nullptr);
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::CacheService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    // Something already stored that bad requests must not disturb.
    v1::PutRequest r = Put("ns", "keep", std::string(4096, 'k'));
    v1::PutResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Put(&ctx, r, &resp).ok());
  }

  static v1::PutRequest Put(const std::string& ns, const std::string& key,
                            const std::string& payload) {
    v1::PutRequest r;
    r.set_namespace_(ns);
    auto* item = r.add_items();
    item->set_key(key);
    item->set_payload(payload);
    return r;
  }

  void ExpectInvalid(const v1::PutRequest& r, const std::string& field) {
    v1::PutResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Put(&ctx, r, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find(field), std::string::npos)
        << "'" << st.error_message() << "' does not name " << field;
    ++rejected_;
    ExpectStillServing();
  }

  void ExpectStillServing() {
    v1::GetRequest get;
    get.set_namespace_("ns");
    get.add_keys("keep");
    v1::GetResponse got;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Get(&ctx, get, &got).ok());
    ASSERT_EQ(got.items(0).result().code(), 0);
    EXPECT_EQ(got.items(0).payload(), std::string(4096, 'k'));
  }

  std::string dir_;
  std::unique_ptr<NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CacheService::Stub> stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  int rejected_ = 0;
};

TEST_F(BadInputTest, EveryBadFieldGetsInvalidArgumentAndTheNodeKeepsServing) {
  ExpectInvalid(Put("", "k", "x"), "namespace");
  ExpectInvalid(Put(std::string(129, 'n'), "k", "x"), "namespace");
  ExpectInvalid(Put("has space", "k", "x"), "namespace");
  ExpectInvalid(Put("ns", "", "x"), "items[0].key");
  ExpectInvalid(Put("ns", std::string(65, 'k'), "x"), "items[0].key");
  ExpectInvalid(Put("ns", "k", ""), "items[0].payload");
  ExpectInvalid(Put("ns", "k", std::string((1 << 20) + 1, 'p')), "items[0].payload");
  v1::PutRequest layout = Put("ns", "k", std::string(100, 'p'));
  auto* l = layout.mutable_items(0)->mutable_layout();
  l->set_kind(v1::LAYOUT_KIND_KV);
  l->set_dtype(v1::DTYPE_F16);
  l->set_layers(2);
  l->set_kv_heads(1);
  l->set_head_dim(8);
  l->set_tokens(4);
  ExpectInvalid(layout, "items[0].layout");
  l->set_kind(static_cast<v1::LayoutKind>(42));
  ExpectInvalid(layout, "items[0].layout.kind");
  v1::PutRequest batch;
  batch.set_namespace_("ns");
  for (int i = 0; i < 65; ++i) {
    auto* item = batch.add_items();
    item->set_key("b" + std::to_string(i));
    item->set_payload("x");
  }
  ExpectInvalid(batch, "items");
  // Keyed calls.
  v1::GetRequest get;
  get.set_namespace_("ns");
  get.add_keys(std::string(65, 'k'));
  v1::GetResponse got;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->Get(&ctx, get, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("keys[0]"), std::string::npos);
  ++rejected_;
  v1::LookupRequest lookup;
  lookup.set_namespace_("ns/ok");
  v1::LookupResponse lr;
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->Lookup(&ctx2, lookup, &lr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ++rejected_;
  v1::EvictRequest evict;
  evict.set_namespace_("bad ns");
  v1::EvictResponse er;
  grpc::ClientContext ctx3;
  EXPECT_EQ(admin_->Evict(&ctx3, evict, &er).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ++rejected_;

  ExpectStillServing();
  // None of the rejected keys was stored.
  v1::ExistsRequest exists;
  exists.set_namespace_("ns");
  exists.add_keys("k");
  exists.add_keys("b0");
  v1::ExistsResponse present;
  grpc::ClientContext ctx4;
  ASSERT_TRUE(stub_->Exists(&ctx4, exists, &present).ok());
  EXPECT_FALSE(present.present(0));
  EXPECT_FALSE(present.present(1));
  v1::StatsResponse stats;
  grpc::ClientContext ctx5;
  ASSERT_TRUE(admin_->Stats(&ctx5, v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.rejected_requests(), static_cast<uint64_t>(rejected_));
  EXPECT_EQ(stats.puts(), 1u);
}

// A harness that dies (killed benchmark, crashed test binary) must not leave a node running:
// with --exit-with-parent the node gets SIGTERM when its parent exits and shuts down cleanly.
TEST(NodeProcessTest, ExitWithParentStopsTheNodeWhenItsParentExits) {
  const std::string dir = testing::FreshDir("exit-with-parent");
  // The shell is the node's parent: it starts the node, waits until it serves (at most 60 s, as
  // NodeProcess::Start: a sanitizer build on a loaded host starts slowly), and exits.
  const std::string script =
      testing::BinDir() + "/strata-node --listen 127.0.0.1:0 --port-file " + dir +
      "/port --metrics-listen off --dram 64MiB --ssd 0 --data-plane off --exit-with-parent > " +
      dir + "/node.out 2>&1 & echo $! > " + dir + "/pid; i=0; while [ ! -s " + dir +
      "/port ] && [ $i -lt 1200 ]; do sleep 0.05; " + "i=$((i+1)); done; [ -s " + dir + "/port ]";
  testing::RunResult shell = testing::Run({"/bin/sh", "-c", script}, 90);
  ASSERT_EQ(shell.exit_code, 0) << "the node did not start: " << shell.err;
  pid_t pid = 0;
  std::ifstream(dir + "/pid") >> pid;
  ASSERT_GT(pid, 0);
  // Gone, or a zombie waiting for init to reap it: either way no longer serving.
  auto stopped = [pid] {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    std::string skip, state;
    stat >> skip >> skip >> state;
    return state == "Z";
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!stopped() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const bool gone = stopped();
  if (!gone) kill(pid, SIGKILL);  // by PID, so a failing run leaves nothing behind either
  ASSERT_TRUE(gone) << "strata-node " << pid << " still runs after its parent exited";
  std::ifstream out(dir + "/node.out");
  const std::string log((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("stopped cleanly"), std::string::npos) << log;
}

TEST(NodeProcessTest, FullNodeAnswersResourceExhaustedAndKeepsWhatItHas) {
  const std::string dir = testing::FreshDir("full");
  const std::string config = dir + "/node.yaml";
  std::ofstream(config) << "dram: 1MiB\nssd: 0\nleases: {max_bytes: 1GiB, max_ttl_ms: 60000}\n";
  auto node = StartNode(dir, {"--config", config});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  std::vector<std::string> keys;
  const std::string value(200 * 1024, 'v');
  for (int i = 0; i < 4; ++i) {
    keys.push_back("k" + std::to_string(i));
    PutBlock b{keys.back(), "", {}, value};
    auto r = client->Put("ns", absl::MakeConstSpan(&b, 1));
    ASSERT_TRUE(r.ok() && (*r)[0].ok());
  }
  auto leased = client->Lookup("ns", keys, 60'000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(*leased, 4u);
  const std::string extra_value(300 * 1024, 'e');
  PutBlock extra{"extra", "", {}, extra_value};
  auto r = client->Put("ns", absl::MakeConstSpan(&extra, 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].code(), absl::StatusCode::kResourceExhausted) << (*r)[0];
  // The raw call answers RESOURCE_EXHAUSTED itself (single key).
  auto channel = grpc::CreateChannel(node->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  v1::PutRequest req;
  req.set_namespace_("ns");
  req.add_items()->set_key("extra");
  req.mutable_items(0)->set_payload(std::string(300 * 1024, 'e'));
  v1::PutResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub->Put(&ctx, req, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto got = client->Get("ns", keys);
  ASSERT_TRUE(got.ok());
  for (const auto& g : *got) EXPECT_EQ(g.payload, value);
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

TEST(NodeProcessTest, ServesPrometheusMetrics) {
  const std::string dir = testing::FreshDir("metrics");
  auto node = StartNode(dir, {"--dram", "4MiB", "--ssd", "0"});
  ASSERT_NE(node, nullptr);
  // The startup summary names the metrics URL (printed just after the port file is written).
  const std::string text = testing::WaitForText(dir + "/node.out", "/metrics\n");
  const size_t at = text.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << text;
  const int port = std::stoi(text.substr(at + 17));
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("strata_tier_capacity_bytes{tier=\"dram\"} 4194304"), std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("strata_hits_total 0"), std::string::npos);
  EXPECT_NE(res->body.find("strata_dp_sessions 0"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("strata_dp_pinned_blocks 0"), std::string::npos);
  EXPECT_EQ(node->Stop(SIGINT), 0);
}

TEST(NodeProcessTest, BadFlagsAndConfigRefuseToStartWithOneLine) {
  const std::string node = testing::BinDir() + "/strata-node";
  auto one_line = [](const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; };
  auto r = testing::Run({node, "--dram", "12XB"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("--dram"), std::string::npos) << r.err;

  r = testing::Run({node, "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;

  const std::string dir = testing::FreshDir("badconfig");
  std::ofstream(dir + "/bad.yaml") << "dram: 64MiB\nturbo: true\n";
  r = testing::Run({node, "--config", dir + "/bad.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("turbo"), std::string::npos) << r.err;

  r = testing::Run({node, "--dram-policy", "random"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("random"), std::string::npos) << r.err;

  // A port already in use: the second node refuses with one line naming --listen.
  auto first = StartNode(dir, {"--dram", "4MiB", "--ssd", "0"});
  ASSERT_NE(first, nullptr);
  r = testing::Run({node, "--listen", first->address(), "--dram", "4MiB", "--ssd", "0",
                    "--metrics-listen", "off"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("--listen"), std::string::npos) << r.err;
  EXPECT_EQ(first->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST(NodeProcessTest, EncodedGetsCrossTheWireCompressedAndDecodeExactly) {
  const std::string dir = testing::FreshDir("encoded");
  auto node = StartNode(dir, {"--dram", "1MiB", "--ssd-dir", dir + "/ssd", "--ssd", "64MiB"});
  ASSERT_NE(node, nullptr);
  ClientOptions options;
  options.address = node->address();
  options.accept_encoded = true;
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  // f32 KV with small integer values: shuffle-zstd (the SSD default) shrinks them a lot.
  BlockLayout layout;
  layout.kind = LayoutKind::kKv;
  layout.dtype = DType::kF32;
  layout.layers = 2;
  layout.kv_heads = 4;
  layout.head_dim = 64;
  layout.tokens = 64;
  std::vector<std::string> keys, values;
  for (int b = 0; b < 16; ++b) {  // 16 x 128 KiB: most of it goes to SSD
    std::vector<float> v(layout.Elements());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * (b + 1)) % 13);
    keys.push_back("enc" + std::to_string(b));
    values.emplace_back(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    PutBlock pb{keys.back(), "", layout, values.back()};
    auto r = (*client)->Put("it/encoded", absl::MakeConstSpan(&pb, 1));
    ASSERT_TRUE(r.ok() && (*r)[0].ok());
  }
  // Raw stub: blocks from SSD come back encoded and smaller than their payload.
  auto channel = grpc::CreateChannel(node->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  v1::GetRequest req;
  req.set_namespace_("it/encoded");
  req.set_accept_encoded(true);
  req.add_keys(keys[0]);  // the oldest: in SSD
  v1::GetResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Get(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.items(0).result().code(), 0);
  EXPECT_EQ(resp.items(0).tier(), "ssd");
  EXPECT_EQ(resp.items(0).codec(), 2u);  // shuffle-zstd
  EXPECT_EQ(resp.items(0).payload_bytes(), values[0].size());
  EXPECT_LT(resp.items(0).payload().size(), values[0].size() / 2);
  // The client decodes and verifies: exact bytes for every block, wherever it was.
  auto got = (*client)->Get("it/encoded", keys);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE((*got)[i].found()) << i << ": " << (*got)[i].status;
    EXPECT_EQ((*got)[i].payload, values[i]) << i;
  }
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST(NodeProcessTest, ClientSplitsBatchesToTheNodesMessageLimit) {
  const std::string dir = testing::FreshDir("msglimit");
  const std::string config = dir + "/node.yaml";
  std::ofstream(config)
      << "dram: 128MiB\nssd: 0\nlimits: {max_payload: 4MiB, max_message: 16MiB}\n";
  auto node = StartNode(dir, {"--config", config});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  // 12 x 4 MiB = 48 MiB in one call: the client must send it as several messages under 16 MiB.
  std::vector<std::string> keys, values;
  std::vector<PutBlock> blocks;
  for (int i = 0; i < 12; ++i) {
    keys.push_back("m" + std::to_string(i));
    values.push_back(std::string(4 << 20, static_cast<char>('a' + i)));
  }
  for (int i = 0; i < 12; ++i) blocks.push_back({keys[i], "", {}, values[i]});
  auto put = client->Put("ns", blocks);
  ASSERT_TRUE(put.ok()) << put.status();
  for (const auto& st : *put) EXPECT_TRUE(st.ok()) << st;
  auto got = client->Get("ns", std::vector<std::string>{keys[0], keys[11]});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].payload, values[0]);
  EXPECT_EQ((*got)[1].payload, values[11]);
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Connected but idle clients do not hold a graceful shutdown for its whole grace period.
TEST(NodeProcessTest, ShutdownDoesNotWaitOutTheGracePeriodForIdleClients) {
  const std::string dir = testing::FreshDir("drain");
  const std::string config = dir + "/node.yaml";
  std::ofstream(config) << "dram: 4MiB\nssd: 0\nshutdown_grace_ms: 60000\n";
  auto node = StartNode(dir, {"--config", config});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node);  // stays connected through the shutdown
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Stats().ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(node->Stop(SIGTERM), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "shutdown waited for an idle client connection";
  // The client sees the node gone as UNAVAILABLE, a retryable error.
  auto after = client->Stats();
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable) << after.status();
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Minor page faults of process `pid` so far (field 10 of /proc/PID/stat), or -1.
long MinorFaults(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::vector<std::string> fields(std::istream_iterator<std::string>(rest),
                                  std::istream_iterator<std::string>{});
  constexpr size_t kMinflt = 10 - 3;  // fields after the name start at number 3
  return fields.size() > kMinflt ? std::atol(fields[kMinflt].c_str()) : -1;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizerAllocator = true;
#else
constexpr bool kSanitizerAllocator = false;
#endif
#else
constexpr bool kSanitizerAllocator = false;
#endif
constexpr const char* kSanitizerSkip =
    "under AddressSanitizer the node runs the sanitizer's allocator, which ignores glibc's "
    "mallopt settings; the normal build runs this check";

// Stores `blocks` distinct 1 MiB blocks in a fresh node (gRPC only), Gets all of them in one call
// a few times to warm up, then `gets` times more with every byte checked, and sets *per_get to the
// node's minor page faults per measured Get.
void MeasureFaultsPerGet(const std::string& name, int blocks, int gets, long* per_get) {
  const std::string dir = testing::FreshDir(name);
  auto node = StartNode(dir, {"--dram", "128MiB", "--ssd", "0", "--data-plane", "off"});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  const std::string ns = "it/" + name;
  std::vector<std::string> keys, values;
  for (int i = 0; i < blocks; ++i) {
    keys.push_back("key-" + std::to_string(i));
    values.push_back(std::string(1 << 20, static_cast<char>('a' + i % 26)));
  }
  for (int i = 0; i < blocks; i += 16) {
    std::vector<PutBlock> batch;
    for (int k = i; k < std::min(blocks, i + 16); ++k)
      batch.push_back({keys[k], "", {}, values[k]});
    auto put = client->Put(ns, batch);
    ASSERT_TRUE(put.ok()) << put.status();
    for (const auto& st : *put) ASSERT_TRUE(st.ok()) << st;
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Get(ns, keys).ok());
  const long before = MinorFaults(node->pid());
  ASSERT_GE(before, 0);
  for (int i = 0; i < gets; ++i) {
    auto got = client->Get(ns, keys);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), keys.size());
    for (int k = 0; k < blocks; ++k) ASSERT_EQ((*got)[k].payload, values[k]) << keys[k];
  }
  *per_get = (MinorFaults(node->pid()) - before) / gets;
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

// The node keeps the buffers of its gRPC calls in the heap for reuse (common/malloc_tuning.h):
// serving a 1 MiB block does not first-touch fresh pages for its response on every call. Before,
// each Get faulted in about 730 pages (fresh buffers for the response's copies of the block),
// which on virtual machines with dear page faults made the gRPC path 4-25x slower.
TEST(NodeProcessTest, GrpcGetsReuseTheirBuffersInsteadOfFaultingInFreshPages) {
  if (kSanitizerAllocator) GTEST_SKIP() << kSanitizerSkip;
  long per_get = -1;
  ASSERT_NO_FATAL_FAILURE(MeasureFaultsPerGet("faults", 1, 20, &per_get));
  // A 1 MiB response is 256 pages; a node that maps its buffers afresh faults in ~730 per Get.
  EXPECT_LT(per_get, 64) << "page faults per 1 MiB Get";
}

// The same for a batch whose buffers outgrow a glibc thread arena's 64 MiB heap (48 blocks of
// 1 MiB: their copies in the response plus the serialized message, ~96 MiB alive at once).
TEST(NodeProcessTest, GrpcBatchGetsReuseTheirBuffersInsteadOfFaultingInFreshPages) {
  if (kSanitizerAllocator) GTEST_SKIP() << kSanitizerSkip;
  long per_batch = -1;
  ASSERT_NO_FATAL_FAILURE(MeasureFaultsPerGet("batch-faults", 48, 5, &per_batch));
  // The batch is 12,288 pages; 1,024 faults would be a twelfth of it mapped afresh per call.
  EXPECT_LT(per_batch, 1024) << "page faults per Get of 48 x 1 MiB";
}

}  // namespace
}  // namespace strata
