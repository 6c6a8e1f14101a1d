// The data plane end to end: strata-node as a real process, the client library in this process
// moving blocks between its own registered buffers and the node over UCX (tcp on loopback) or as
// gRPC bytes. The same round-trip tests run on both paths.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "common/checksum.h"
#include "proto/strata.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"
#include "transfer/ucx_transport.h"

namespace strata {
namespace {

using testing::NodeProcess;
using testing::StartNode;
using Path = ClientOptions::DataPath;

std::unique_ptr<Client> ConnectTo(const NodeProcess& node, Path path, int attempts = 3,
                                  bool messages = true) {
  ClientOptions options;
  options.data_path = path;
  options.ucx_attempts = attempts;
  options.ucx_messages = messages;
  options.deadline_ms = 20'000;
  return testing::ConnectTo(node, options);
}

std::string WriteConfig(const std::string& dir, const std::string& yaml) {
  const std::string path = dir + "/node.yaml";
  std::ofstream(path) << yaml;
  return path;
}

// Blocks laid out at random offsets (random gaps) in a buffer, with random contents.
struct Blocks {
  std::vector<std::string> keys;
  std::vector<uint64_t> offsets, sizes;
  uint64_t end = 0;
};

Blocks Layout(std::mt19937_64& rng, size_t n, uint64_t max_size, uint64_t base_gap) {
  Blocks b;
  uint64_t at = rng() % 4096;
  for (size_t i = 0; i < n; ++i) {
    b.keys.push_back("block-" + std::to_string(i));
    b.sizes.push_back(1 + rng() % max_size);
    b.offsets.push_back(at);
    at += b.sizes.back() + rng() % base_gap;
  }
  b.end = at;
  return b;
}

void Fill(std::mt19937_64& rng, std::string& buf) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(buf.data() + i, &v, 8);
  }
}

std::vector<PutFromBlock> PutBlocks(const Blocks& b, size_t from, size_t n) {
  std::vector<PutFromBlock> out;
  for (size_t i = from; i < from + n && i < b.keys.size(); ++i) {
    out.push_back(PutFromBlock{b.keys[i], "", {}, b.offsets[i], b.sizes[i]});
  }
  return out;
}

// What a client sends to register `region` in `session` (as DataSession does).
v1::RegisterRegionRequest RegisterRequest(uint64_t session,
                                          const transfer::RegionDescriptor& region) {
  v1::RegisterRegionRequest request;
  request.set_session_id(session);
  request.set_base(region.base);
  request.set_length(region.length);
  request.set_packed_rkey(region.packed_rkey);
  return request;
}

struct PathCase {
  std::string name;
  Path path;
  std::string tls;  // the node's --data-plane
  bool messages;    // ClientOptions::ucx_messages: calls as UCX messages, else gRPC calls
};

class DataPlaneTest : public ::testing::TestWithParam<PathCase> {};

// Random sizes and offsets both ways; 8 MiB of DRAM pushes blocks to SSD, so GetInto serves from
// the DRAM pool in place and from SSD through the node's staging area.
TEST_P(DataPlaneTest, RandomSizesAndOffsetsRoundTripByteExact) {
  const Path path = GetParam().path;
  const std::string dir = testing::FreshDir("dp-roundtrip-" + GetParam().name);
  auto node = StartNode(dir, {"--dram", "8MiB", "--ssd-dir", dir + "/ssd", "--ssd", "128MiB",
                              "--data-plane", GetParam().tls});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node, path, 3, GetParam().messages);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->data_path(), path == Path::kUcx ? "ucx" : "grpc");

  std::mt19937_64 rng(path == Path::kUcx ? 11 : 12);
  const Blocks src = Layout(rng, 120, 200 << 10, 8192);
  std::string src_mem(src.end + 4096, '\0'), dst_mem(src.end + 4096 + (1 << 20), '\0');
  Fill(rng, src_mem);
  auto src_buf = client->RegisterBuffer(src_mem.data(), src_mem.size());
  auto dst_buf = client->RegisterBuffer(dst_mem.data(), dst_mem.size());
  ASSERT_TRUE(src_buf.ok() && dst_buf.ok());

  for (size_t i = 0; i < src.keys.size(); i += 20) {
    auto put = client->PutFrom("dp/rt", **src_buf, PutBlocks(src, i, 20));
    ASSERT_TRUE(put.ok()) << put.status();
    for (const absl::Status& st : *put) ASSERT_TRUE(st.ok()) << st;
  }
  // Read back in a shuffled order, to other random offsets, with exact and roomy capacities.
  std::vector<size_t> order(src.keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::string> keys;
  std::vector<uint64_t> offsets, capacities;
  uint64_t at = 0;
  for (size_t i : order) {
    keys.push_back(src.keys[i]);
    offsets.push_back(at);
    capacities.push_back(src.sizes[i] + (i % 2) * (rng() % 1000));
    at += capacities.back() + rng() % 512;
  }
  ASSERT_LE(at, dst_mem.size());
  for (size_t i = 0; i < keys.size(); i += 32) {
    const size_t n = std::min<size_t>(32, keys.size() - i);
    auto got = client->GetInto("dp/rt", absl::MakeConstSpan(keys).subspan(i, n), **dst_buf,
                               absl::MakeConstSpan(offsets).subspan(i, n),
                               absl::MakeConstSpan(capacities).subspan(i, n));
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t k = 0; k < n; ++k) {
      const size_t block = order[i + k];
      ASSERT_TRUE((*got)[k].status.ok()) << keys[i + k] << ": " << (*got)[k].status;
      ASSERT_EQ((*got)[k].size, src.sizes[block]);
      ASSERT_EQ(std::memcmp(dst_mem.data() + offsets[i + k], src_mem.data() + src.offsets[block],
                            src.sizes[block]),
                0)
          << keys[i + k] << " differs";
    }
  }
  // A miss, and a block larger than the room given.
  const std::vector<std::string> odd = {"never-stored", src.keys[0]};
  const std::vector<uint64_t> odd_offsets = {0, 4096}, odd_caps = {4096, 1};
  auto odd_got = client->GetInto("dp/rt", odd, **dst_buf, odd_offsets, odd_caps);
  ASSERT_TRUE(odd_got.ok()) << odd_got.status();
  EXPECT_TRUE(absl::IsNotFound((*odd_got)[0].status)) << (*odd_got)[0].status;
  EXPECT_TRUE(absl::IsOutOfRange((*odd_got)[1].status)) << (*odd_got)[1].status;
  EXPECT_EQ((*odd_got)[1].size, src.sizes[0]);

  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->hits_by_tier().at("ssd"), 0u) << "some blocks must come from SSD";
  EXPECT_EQ(stats->dp_pinned_blocks(), 0u);
  const Client::DataPathCounters c = client->data_path_counters();
  if (path == Path::kUcx) {
    EXPECT_GT(c.ucx_calls, 0u);
    EXPECT_EQ(c.grpc_calls, 0u);
    EXPECT_EQ(c.fallbacks, 0u);
    EXPECT_EQ(stats->dp_sessions(), 1u);
    EXPECT_GE(stats->dp_get_bytes(), at / 2);
    if (GetParam().messages) {
      EXPECT_EQ(c.message_calls, c.ucx_calls) << "every call went as a UCX message";
      EXPECT_EQ(stats->dp_message_calls(), c.ucx_calls);
    } else {
      EXPECT_EQ(c.message_calls, 0u);
      EXPECT_EQ(stats->dp_message_calls(), 0u);
    }
  } else {
    EXPECT_EQ(c.ucx_calls, 0u);
    EXPECT_GT(c.grpc_calls, 0u);
  }
  node->Stop(SIGTERM);
}

// shm: shared memory + CMA between the two processes (the node's opt-in mode).
INSTANTIATE_TEST_SUITE_P(Paths, DataPlaneTest,
                         ::testing::Values(PathCase{"ucx_tcp", Path::kUcx, "tcp", true},
                                           PathCase{"ucx_shm", Path::kUcx, "shm", true},
                                           PathCase{"ucx_tcp_grpc_calls", Path::kUcx, "tcp", false},
                                           PathCase{"grpc", Path::kGrpc, "tcp", true}),
                         [](const auto& info) { return info.param.name; });

// A session made by hand with raw stubs, so the node's own checks are what answer.
TEST(DataPlaneChecks, OutOfRegionOffsetsAndUnknownSessionsAreRefused) {
  const std::string dir = testing::FreshDir("dp-checks");
  auto node = StartNode(dir, {"--dram", "16MiB", "--ssd", "0"});
  ASSERT_NE(node, nullptr);
  auto transport = transfer::UcxTransport::Create(
      {.ucx_config = {{"TLS", "tcp"}, {"NET_DEVICES", "lo"}}, .name = "test"});
  ASSERT_TRUE(transport.ok()) << transport.status();
  std::string mem(1 << 20, 'x');
  auto region = (*transport)->RegisterMemory(mem.data(), mem.size());
  ASSERT_TRUE(region.ok());

  auto channel = grpc::CreateChannel(node->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  auto call = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ((*stub).*method)(&ctx, request, response);
  };
  v1::HelloRequest hello;
  hello.set_worker_address((*transport)->LocalAddress());
  v1::HelloResponse session;
  ASSERT_TRUE(call(&v1::CacheService::Stub::Hello, hello, &session).ok());
  const v1::RegisterRegionRequest reg = RegisterRequest(session.session_id(), region->descriptor);
  v1::RegisterRegionResponse registered;
  ASSERT_TRUE(call(&v1::CacheService::Stub::RegisterRegion, reg, &registered).ok());

  // Put one block the ordinary way, so GetInto has something it could send.
  {
    v1::PutRequest put;
    put.set_namespace_("dp/checks");
    auto* item = put.add_items();
    item->set_key("k");
    item->set_payload(std::string(1000, 'p'));
    v1::PutResponse r;
    ASSERT_TRUE(call(&v1::CacheService::Stub::Put, put, &r).ok());
  }
  v1::GetIntoRequest get;
  get.set_namespace_("dp/checks");
  get.set_session_id(session.session_id());
  get.set_region_id(registered.region_id());
  auto* g = get.add_items();
  g->set_key("k");
  g->set_offset(mem.size() - 500);
  g->set_capacity(1000);  // past the end of the region
  v1::GetIntoResponse got;
  grpc::Status st = call(&v1::CacheService::Stub::GetInto, get, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("items[0].offset"), std::string::npos) << st.error_message();
  EXPECT_EQ(mem.substr(mem.size() - 500), std::string(500, 'x')) << "nothing may be written";

  g->set_offset(UINT64_MAX - 10);  // overflow
  st = call(&v1::CacheService::Stub::GetInto, get, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::PutFromRequest put;
  put.set_namespace_("dp/checks");
  put.set_session_id(session.session_id());
  put.set_region_id(registered.region_id());
  auto* p = put.add_items();
  p->set_key("k2");
  p->set_offset(mem.size());
  p->set_size(1);
  v1::PutFromResponse put_response;
  st = call(&v1::CacheService::Stub::PutFrom, put, &put_response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("items[0].offset"), std::string::npos) << st.error_message();

  // A wrong checksum: DATA_LOSS, nothing stored.
  p->set_offset(0);
  p->set_size(4096);
  p->set_checksum(BlockChecksum(mem.data(), 4096) ^ 1);
  st = call(&v1::CacheService::Stub::PutFrom, put, &put_response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS) << st.error_message();
  v1::ExistsRequest exists;
  exists.set_namespace_("dp/checks");
  exists.add_keys("k2");
  v1::ExistsResponse present;
  ASSERT_TRUE(call(&v1::CacheService::Stub::Exists, exists, &present).ok());
  EXPECT_FALSE(present.present(0));

  get.set_region_id(registered.region_id() + 100);
  g->set_offset(0);
  st = call(&v1::CacheService::Stub::GetInto, get, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  get.set_session_id(session.session_id() + 1);
  st = call(&v1::CacheService::Stub::GetInto, get, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();

  // The valid request still works after all that.
  get.set_session_id(session.session_id());
  get.set_region_id(registered.region_id());
  st = call(&v1::CacheService::Stub::GetInto, get, &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got.items(0).size(), 1000u);
  EXPECT_EQ(mem.substr(0, 1000), std::string(1000, 'p'));

  // The client library refuses the same mistakes before sending anything.
  auto client = ConnectTo(*node, Path::kUcx);
  ASSERT_NE(client, nullptr);
  std::string small(4096, '\0');
  auto buf = client->RegisterBuffer(small.data(), small.size());
  ASSERT_TRUE(buf.ok());
  const std::vector<std::string> keys = {"k"};
  const std::vector<uint64_t> offsets = {4000}, caps = {1000};
  auto bad = client->GetInto("dp/checks", keys, **buf, offsets, caps);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  node->Stop(SIGTERM);
}

// Collects the DataPlaneReply messages a hand-made control transport receives.
class Replies {
 public:
  transfer::MessageHandler Handler() {
    return [this](std::string bytes) -> std::optional<std::string> {
      v1::DataPlaneReply reply;
      if (reply.ParseFromString(bytes)) {
        absl::MutexLock lock(&mu_);
        replies_.push_back(std::move(reply));
      }
      return std::nullopt;
    };
  }
  // The reply to `call_id`, waiting up to 10 s; a reply with code -1 when none came.
  v1::DataPlaneReply Await(uint64_t call_id) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& r : replies_) {
        if (r.call_id() == call_id) return true;
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10));
    for (const auto& r : replies_) {
      if (r.call_id() == call_id) return r;
    }
    v1::DataPlaneReply none;
    none.set_code(-1);
    return none;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::DataPlaneReply> replies_ ABSL_GUARDED_BY(mu_);
};

// DataPlaneCall messages sent by hand from a control transport: the node answers every mistake
// with the code and field the gRPC calls give, serves DRAM hits inline on its progress thread and
// blocks from SSD through its call threads, and verifies PutFrom's checksums.
TEST(DataPlaneMessages, CallsAreCheckedAndAnsweredLikeGrpcCalls) {
  const std::string dir = testing::FreshDir("dp-messages");
  auto node = StartNode(dir, {"--dram", "16MiB", "--ssd-dir", dir + "/ssd", "--ssd", "64MiB"});
  ASSERT_NE(node, nullptr);
  const transfer::UcxTransportOptions uo{.ucx_config = {{"TLS", "tcp"}, {"NET_DEVICES", "lo"}},
                                         .name = "test"};
  Replies replies;  // before the transport whose handler fills it
  auto data = transfer::UcxTransport::Create(uo);
  auto control = transfer::UcxTransport::Create(uo);
  ASSERT_TRUE(data.ok() && control.ok());
  (*control)->SetMessageHandler(replies.Handler());
  std::string mem(2 << 20, 'x');
  auto region = (*data)->RegisterMemory(mem.data(), mem.size());
  ASSERT_TRUE(region.ok());

  auto channel = grpc::CreateChannel(node->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  auto rpc = [&](auto* s, auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ((*s).*method)(&ctx, request, response);
  };
  auto stats = [&] {
    v1::StatsResponse out;
    EXPECT_TRUE(rpc(admin.get(), &v1::AdminService::Stub::Stats, v1::StatsRequest(), &out).ok());
    return out;
  };
  v1::HelloRequest hello;
  hello.set_worker_address((*data)->LocalAddress());
  hello.set_control_address((*control)->LocalAddress());
  v1::HelloResponse session;
  ASSERT_TRUE(rpc(stub.get(), &v1::CacheService::Stub::Hello, hello, &session).ok());
  ASSERT_TRUE(session.control_messages());
  const v1::RegisterRegionRequest reg = RegisterRequest(session.session_id(), region->descriptor);
  v1::RegisterRegionResponse registered;
  ASSERT_TRUE(rpc(stub.get(), &v1::CacheService::Stub::RegisterRegion, reg, &registered).ok());
  {
    // 20 x 1 MiB overflow 16 MiB of DRAM, so the oldest ("big-0", ...) go to SSD; "k", the newest,
    // stays in DRAM.
    v1::PutResponse r;
    for (int i = 0; i < 20; ++i) {
      v1::PutRequest big;
      big.set_namespace_("dp/msg");
      auto* b = big.add_items();
      b->set_key("big-" + std::to_string(i));
      b->set_payload(std::string(1 << 20, static_cast<char>('a' + i)));
      ASSERT_TRUE(rpc(stub.get(), &v1::CacheService::Stub::Put, big, &r).ok());
    }
    v1::PutRequest put;
    put.set_namespace_("dp/msg");
    auto* item = put.add_items();
    item->set_key("k");
    item->set_payload(std::string(1000, 'p'));
    ASSERT_TRUE(rpc(stub.get(), &v1::CacheService::Stub::Put, put, &r).ok());
  }
  auto node_peer = (*control)->Connect("node", session.node_address());
  ASSERT_TRUE(node_peer.ok()) << node_peer.status();
  auto send = [&](const std::string& bytes) {
    (*control)->SendMessage(*node_peer, bytes, absl::Now() + absl::Seconds(5), [](absl::Status) {});
  };
  uint64_t next_id = 100;
  auto call = [&](v1::DataPlaneCall c) {
    c.set_call_id(++next_id);
    send(c.SerializeAsString());
    return replies.Await(c.call_id());
  };
  auto get_into = [&](uint64_t session_id, const std::string& key, uint64_t offset, uint64_t cap) {
    v1::DataPlaneCall c;
    v1::GetIntoRequest* g = c.mutable_get_into();
    g->set_namespace_("dp/msg");
    g->set_session_id(session_id);
    g->set_region_id(registered.region_id());
    v1::GetIntoItem* item = g->add_items();
    item->set_key(key);
    item->set_offset(offset);
    item->set_capacity(cap);
    return call(std::move(c));
  };
  const int kInvalid = static_cast<int>(absl::StatusCode::kInvalidArgument);
  const int kPrecondition = static_cast<int>(absl::StatusCode::kFailedPrecondition);

  send(std::string(12, '\xff'));  // not a DataPlaneCall at all: answered at once, call id 0
  EXPECT_EQ(replies.Await(0).code(), kInvalid);
  v1::DataPlaneCall empty;
  EXPECT_EQ(call(empty).code(), kInvalid);
  v1::DataPlaneReply r = get_into(session.session_id() + 1, "k", 0, 1000);
  EXPECT_EQ(r.code(), kPrecondition) << r.message();
  r = get_into(session.session_id(), "k", mem.size() - 500, 1000);  // past the region's end
  EXPECT_EQ(r.code(), kInvalid);
  EXPECT_NE(r.message().find("items[0].offset"), std::string::npos) << r.message();
  EXPECT_EQ(mem.substr(mem.size() - 500), std::string(500, 'x')) << "nothing may be written";

  // A DRAM hit: served inline.
  const uint64_t inline_before = stats().dp_inline_calls();
  r = get_into(session.session_id(), "k", 0, 1000);
  ASSERT_EQ(r.code(), 0) << r.message();
  ASSERT_EQ(r.get_into().items_size(), 1);
  EXPECT_EQ(r.get_into().items(0).size(), 1000u);
  EXPECT_EQ(r.get_into().items(0).tier(), "dram");
  EXPECT_EQ(mem.substr(0, 1000), std::string(1000, 'p'));
  EXPECT_EQ(stats().dp_inline_calls(), inline_before + 1);

  // A block on SSD: read, verified and staged by a call thread, not inline.
  r = get_into(session.session_id(), "big-0", 4096, 1 << 20);
  ASSERT_EQ(r.code(), 0) << r.message();
  EXPECT_EQ(r.get_into().items(0).tier(), "ssd");
  EXPECT_EQ(mem.substr(4096, 1 << 20), std::string(1 << 20, 'a'));
  const v1::StatsResponse after = stats();
  EXPECT_EQ(after.dp_inline_calls(), inline_before + 1);
  // Counted: the calls that named a session (not the unparsable one nor the empty one).
  EXPECT_EQ(after.dp_message_calls(), 4u);

  // PutFrom with a wrong checksum: DATA_LOSS, nothing stored.
  v1::DataPlaneCall put;
  v1::PutFromRequest* p = put.mutable_put_from();
  p->set_namespace_("dp/msg");
  p->set_session_id(session.session_id());
  p->set_region_id(registered.region_id());
  v1::PutFromItem* item = p->add_items();
  item->set_key("k2");
  item->set_offset(0);
  item->set_size(4096);
  item->set_checksum(BlockChecksum(mem.data(), 4096) ^ 1);
  r = call(put);
  EXPECT_EQ(r.code(), static_cast<int>(absl::StatusCode::kDataLoss)) << r.message();
  item->set_checksum(BlockChecksum(mem.data(), 4096));
  r = call(put);
  ASSERT_EQ(r.code(), 0) << r.message();
  ASSERT_EQ(r.put_from().results_size(), 1);
  EXPECT_EQ(r.put_from().results(0).code(), 0);

  // A session opened without a control address has no answer channel for messages.
  v1::HelloRequest plain;
  plain.set_worker_address((*data)->LocalAddress());
  v1::HelloResponse plain_session;
  ASSERT_TRUE(rpc(stub.get(), &v1::CacheService::Stub::Hello, plain, &plain_session).ok());
  EXPECT_FALSE(plain_session.control_messages());
  r = get_into(plain_session.session_id(), "k", 0, 1000);
  EXPECT_EQ(r.code(), kPrecondition);
  EXPECT_NE(r.message().find("control"), std::string::npos) << r.message();
  control->reset();
  data->reset();
  node->Stop(SIGTERM);
}

struct FaultCase {
  std::string name;
  std::string yaml;
};

class DataPlaneFaultTest : public ::testing::TestWithParam<FaultCase> {};

// Every fault reaches a UCX-only client as UNAVAILABLE (never an OK with wrong bytes), and an
// auto client falls back to gRPC bytes and gets the right ones.
TEST_P(DataPlaneFaultTest, FaultsGiveUnavailableOrFallbackNeverWrongBytes) {
  const std::string dir = testing::FreshDir("dp-fault-" + GetParam().name);
  const std::string config = WriteConfig(dir,
                                         "data_plane:\n  transfer_timeout_ms: 400\n"
                                         "  fault:\n" +
                                             GetParam().yaml);
  auto node = StartNode(dir, {"--dram", "32MiB", "--ssd", "0", "--config", config});
  ASSERT_NE(node, nullptr);
  std::mt19937_64 rng(5);
  const Blocks b = Layout(rng, 16, 64 << 10, 1024);
  std::string src(b.end, '\0');
  Fill(rng, src);
  {
    auto seed = ConnectTo(*node, Path::kGrpc);
    ASSERT_NE(seed, nullptr);
    std::vector<PutBlock> puts;
    for (size_t i = 0; i < b.keys.size(); ++i) {
      puts.push_back({b.keys[i], "", {}, std::string_view(src).substr(b.offsets[i], b.sizes[i])});
    }
    auto r = seed->Put("dp/fault", puts);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::vector<uint64_t> caps(b.sizes);

  auto strict = ConnectTo(*node, Path::kUcx, /*attempts=*/2);
  ASSERT_NE(strict, nullptr);
  std::string mem(b.end, '\0');
  auto buf = strict->RegisterBuffer(mem.data(), mem.size());
  ASSERT_TRUE(buf.ok());
  auto got = strict->GetInto("dp/fault", b.keys, **buf, b.offsets, caps);
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  auto put = strict->PutFrom("dp/fault2", **buf, PutBlocks(b, 0, 4));
  EXPECT_TRUE(absl::IsUnavailable(put.status())) << put.status();

  auto fallback = ConnectTo(*node, Path::kAuto, /*attempts=*/2);
  ASSERT_NE(fallback, nullptr);
  ASSERT_EQ(fallback->data_path(), "ucx");
  std::string mem2(b.end, '\0');
  auto buf2 = fallback->RegisterBuffer(mem2.data(), mem2.size());
  ASSERT_TRUE(buf2.ok());
  auto got2 = fallback->GetInto("dp/fault", b.keys, **buf2, b.offsets, caps);
  ASSERT_TRUE(got2.ok()) << got2.status();
  for (size_t i = 0; i < b.keys.size(); ++i) {
    ASSERT_TRUE((*got2)[i].status.ok()) << (*got2)[i].status;
    ASSERT_EQ(mem2.substr(b.offsets[i], b.sizes[i]), src.substr(b.offsets[i], b.sizes[i]));
  }
  EXPECT_GE(fallback->data_path_counters().fallbacks, 1u);
  EXPECT_GE(fallback->data_path_counters().sessions, 2u) << "each failed attempt reconnects";
  auto stats = fallback->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->dp_failed_batches(), 0u);
  EXPECT_EQ(stats->dp_pinned_blocks(), 0u) << "failed transfers must release their pins";
  node->Stop(SIGTERM);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, DataPlaneFaultTest,
    ::testing::Values(FaultCase{"fail", "    fail: 1.0\n"}, FaultCase{"drop", "    drop: 1.0\n"},
                      FaultCase{"delay", "    delay: 1.0\n    delay_ms: 1000\n"},
                      FaultCase{"disconnect", "    disconnect: 1.0\n"}),
    [](const auto& info) { return info.param.name; });

// Faults on some batches: retries on new sessions get through; every OK is exact.
TEST(DataPlaneFaults, IntermittentFaultsAreRetriedAndNeverCorrupt) {
  const std::string dir = testing::FreshDir("dp-flaky");
  const std::string config =
      WriteConfig(dir,
                  "data_plane:\n  transfer_timeout_ms: 400\n  fault:\n    seed: 7\n"
                  "    fail: 0.15\n    disconnect: 0.1\n    drop: 0.05\n");
  auto node = StartNode(dir, {"--dram", "32MiB", "--ssd", "0", "--config", config});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node, Path::kUcx, /*attempts=*/4);
  ASSERT_NE(client, nullptr);
  std::mt19937_64 rng(9);
  const Blocks b = Layout(rng, 8, 32 << 10, 512);
  std::string src(b.end, '\0'), dst(b.end, '\0');
  Fill(rng, src);
  auto sbuf = client->RegisterBuffer(src.data(), src.size());
  auto dbuf = client->RegisterBuffer(dst.data(), dst.size());
  ASSERT_TRUE(sbuf.ok() && dbuf.ok());
  int ok_calls = 0;
  for (int round = 0; round < 20; ++round) {
    const std::string ns = "dp/flaky" + std::to_string(round);
    auto put = client->PutFrom(ns, **sbuf, PutBlocks(b, 0, b.keys.size()));
    if (!put.ok()) {
      EXPECT_TRUE(absl::IsUnavailable(put.status())) << put.status();
      continue;
    }
    std::fill(dst.begin(), dst.end(), '\0');
    auto got = client->GetInto(ns, b.keys, **dbuf, b.offsets, b.sizes);
    if (!got.ok()) {
      EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
      continue;
    }
    for (size_t i = 0; i < b.keys.size(); ++i) {
      ASSERT_TRUE((*got)[i].status.ok()) << (*got)[i].status;
      ASSERT_EQ(dst.substr(b.offsets[i], b.sizes[i]), src.substr(b.offsets[i], b.sizes[i]))
          << "round " << round << " " << b.keys[i];
    }
    ++ok_calls;
  }
  EXPECT_GE(ok_calls, 14) << "4 attempts per call should get through ~30% faults";
  EXPECT_GT(client->data_path_counters().sessions, 1u);
  node->Stop(SIGTERM);
}

// Several threads share one client while the node's staging area holds less than one batch:
// calls take turns on the staging pages (in rounds) and every block still arrives exact.
TEST(DataPlaneConcurrency, ThreadsShareAClientThroughAStagingAreaSmallerThanABatch) {
  const std::string dir = testing::FreshDir("dp-concurrent");
  const std::string config = WriteConfig(dir, "data_plane:\n  staging_bytes: 2MiB\n");
  auto node = StartNode(dir, {"--dram", "4MiB", "--ssd-dir", dir + "/ssd", "--ssd", "64MiB",
                              "--max-payload", "1MiB", "--config", config});
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node, Path::kUcx);
  ASSERT_NE(client, nullptr);
  constexpr int kThreads = 4;
  constexpr size_t kBlocks = 12;
  constexpr size_t kBlockBytes = 256 << 10;  // 3 MiB a batch, more than the 2 MiB of staging
  std::vector<std::string> src(kThreads), dst(kThreads);
  std::vector<std::unique_ptr<RegisteredBuffer>> sbuf(kThreads), dbuf(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937_64 rng(100 + t);
    src[t].resize(kBlocks * kBlockBytes);
    dst[t].resize(kBlocks * kBlockBytes);
    Fill(rng, src[t]);
    auto s = client->RegisterBuffer(src[t].data(), src[t].size());
    auto d = client->RegisterBuffer(dst[t].data(), dst[t].size());
    ASSERT_TRUE(s.ok() && d.ok());
    sbuf[t] = *std::move(s);
    dbuf[t] = *std::move(d);
  }
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string> keys;
      std::vector<uint64_t> offsets, sizes;
      std::vector<PutFromBlock> blocks;
      for (size_t i = 0; i < kBlocks; ++i) {
        keys.push_back("t" + std::to_string(t) + "-" + std::to_string(i));
        offsets.push_back(i * kBlockBytes);
        sizes.push_back(kBlockBytes);
      }
      for (size_t i = 0; i < kBlocks; ++i)
        blocks.push_back({keys[i], "", {}, offsets[i], sizes[i]});
      for (int round = 0; round < 4; ++round) {
        auto put = client->PutFrom("dp/conc", *sbuf[t], blocks);
        if (!put.ok()) {
          failures[t] = put.status().ToString();
          return;
        }
        for (const absl::Status& st : *put) {
          if (!st.ok()) failures[t] = st.ToString();
        }
        std::fill(dst[t].begin(), dst[t].end(), '\0');
        auto got = client->GetInto("dp/conc", keys, *dbuf[t], offsets, sizes);
        if (!got.ok()) {
          failures[t] = got.status().ToString();
          return;
        }
        for (const GetIntoResult& r : *got) {
          if (!r.status.ok()) failures[t] = r.status.ToString();
        }
        if (dst[t] != src[t]) failures[t] = "bytes differ in round " + std::to_string(round);
        if (!failures[t].empty()) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->hits_by_tier().at("ssd"), 0u) << "4 MiB of DRAM must send some through staging";
  EXPECT_EQ(stats->dp_pinned_blocks(), 0u);
  EXPECT_EQ(client->data_path_counters().fallbacks, 0u);
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

// A client killed while it moves blocks: the node keeps serving others and frees the session,
// its regions and every pin.
TEST(DataPlaneProcesses, KilledClientLeavesNodeServingWithResourcesFreed) {
  const std::string dir = testing::FreshDir("dp-kill");
  const std::string config = WriteConfig(dir, "data_plane:\n  session_idle_ms: 4000\n");
  auto node = StartNode(dir, {"--dram", "64MiB", "--ssd", "0", "--config", config});
  ASSERT_NE(node, nullptr);
  auto child = testing::ChildProcess::Start(
      {testing::BinDir() + "/stratactl", "--node", node->address(), "bench", "--path", "ucx",
       "--blocks", "32", "--block-bytes", "256KiB", "--batch", "8", "--rounds", "1000000"});
  ASSERT_NE(child, nullptr);
  auto client = ConnectTo(*node, Path::kGrpc);
  ASSERT_NE(client, nullptr);
  // Wait until the child's transfers flow, then kill it in the middle of them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  uint64_t moved = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = client->Stats();
    ASSERT_TRUE(s.ok());
    moved = s->dp_get_bytes();
    if (moved > (32u << 20)) break;
    ASSERT_TRUE(child->running()) << child->err();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(moved, 32u << 20) << "the child never got going: " << child->err();
  EXPECT_EQ(child->Stop(SIGKILL), 128 + SIGKILL);

  // Another client is served, over UCX, right away.
  auto other = ConnectTo(*node, Path::kUcx);
  ASSERT_NE(other, nullptr);
  std::string mem(1 << 20, '\0');
  std::mt19937_64 rng(3);
  Fill(rng, mem);
  auto buf = other->RegisterBuffer(mem.data(), mem.size());
  ASSERT_TRUE(buf.ok());
  auto put = other->PutFrom("dp/other", **buf, {PutFromBlock{"a", "", {}, 0, 500'000}});
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE((*put)[0].ok());
  const std::vector<std::string> keys = {"a"};
  const std::vector<uint64_t> offsets = {500'000}, caps = {500'000};
  auto got = other->GetInto("dp/other", keys, **buf, offsets, caps);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::memcmp(mem.data(), mem.data() + 500'000, 500'000), 0);

  // The dead client's session goes (its endpoint fails, or at the latest it idles out).
  uint64_t sessions = 99, pinned = 99;
  const auto freed_by = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < freed_by) {
    auto s = client->Stats();
    ASSERT_TRUE(s.ok());
    sessions = s->dp_sessions();
    pinned = s->dp_pinned_blocks();
    if (sessions == 1 && pinned == 0) break;  // only `other` is left
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(sessions, 1u);
  EXPECT_EQ(pinned, 0u);
  EXPECT_EQ(kill(node->pid(), 0), 0) << "the node must still run";
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

// The node restarts (stopped, then started on the same port): the connected client reconnects,
// opens a new session and re-registers its buffers by itself. DRAM is not persisted, so the
// blocks are stored again after the restart.
TEST(DataPlaneProcesses, NodeRestartIsSurvivedByAConnectedClient) {
  const std::string dir = testing::FreshDir("dp-restart");
  const std::vector<std::string> args = {"--dram", "16MiB", "--ssd", "0"};
  auto node = StartNode(dir, args);
  ASSERT_NE(node, nullptr);
  const int port = node->port();
  auto client = ConnectTo(*node, Path::kUcx, /*attempts=*/4);
  ASSERT_NE(client, nullptr);
  std::mt19937_64 rng(21);
  const Blocks b = Layout(rng, 12, 100 << 10, 256);
  std::string src(b.end, '\0'), dst(b.end, '\0');
  Fill(rng, src);
  auto sbuf = client->RegisterBuffer(src.data(), src.size());
  auto dbuf = client->RegisterBuffer(dst.data(), dst.size());
  ASSERT_TRUE(sbuf.ok() && dbuf.ok());
  auto put = client->PutFrom("dp/restart", **sbuf, PutBlocks(b, 0, b.keys.size()));
  ASSERT_TRUE(put.ok()) << put.status();

  ASSERT_EQ(node->Stop(SIGKILL), 128 + SIGKILL);
  node = StartNode(dir, args, port);
  ASSERT_NE(node, nullptr);

  // The first calls may meet the channel still reconnecting (UNAVAILABLE); the client must get
  // through without being rebuilt.
  absl::StatusOr<std::vector<absl::Status>> put2 = absl::UnavailableError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    put2 = client->PutFrom("dp/restart", **sbuf, PutBlocks(b, 0, b.keys.size()));
    if (put2.ok()) break;
    ASSERT_TRUE(absl::IsUnavailable(put2.status())) << put2.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(put2.ok()) << put2.status();
  for (const absl::Status& st : *put2) ASSERT_TRUE(st.ok()) << st;
  auto got = client->GetInto("dp/restart", b.keys, **dbuf, b.offsets, b.sizes);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t i = 0; i < b.keys.size(); ++i) {
    ASSERT_TRUE((*got)[i].status.ok()) << b.keys[i] << ": " << (*got)[i].status;
    ASSERT_EQ(dst.substr(b.offsets[i], b.sizes[i]), src.substr(b.offsets[i], b.sizes[i]));
  }
  EXPECT_EQ(client->data_path_counters().sessions, 2u) << "one session before, one after";
  EXPECT_EQ(client->data_path_counters().fallbacks, 0u);
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->dp_sessions(), 1u);
  EXPECT_EQ(stats->dp_regions(), 2u) << "both buffers re-registered";
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

// The node comes back without a data plane: an auto client carries on as gRPC bytes, a UCX-only
// client is told UNIMPLEMENTED.
// UCX cannot start on the node (here: a UCX setting it cannot parse): the node serves without a
// data plane, says why, and an auto client moves its blocks as gRPC bytes.
TEST(DataPlaneProcesses, NodeWhoseUcxCannotStartServesGrpcBytes) {
  const std::string dir = testing::FreshDir("dp-no-ucx");
  ASSERT_EQ(setenv("UCX_RNDV_THRESH", "bogus", 1), 0);  // inherited by the node only
  auto node = StartNode(dir, {"--dram", "16MiB", "--ssd", "0"});
  ASSERT_EQ(unsetenv("UCX_RNDV_THRESH"), 0);
  ASSERT_NE(node, nullptr);
  auto client = ConnectTo(*node, Path::kAuto);
  ASSERT_NE(client, nullptr);
  auto info = client->NodeInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->data_plane());
  EXPECT_NE(info->data_plane_detail().find("ucp_config_read"), std::string::npos)
      << info->data_plane_detail();
  EXPECT_EQ(client->data_path(), "grpc");
  std::string mem(64 << 10, 'q'), back(64 << 10, '\0');
  auto buf = client->RegisterBuffer(mem.data(), mem.size());
  auto out = client->RegisterBuffer(back.data(), back.size());
  ASSERT_TRUE(buf.ok() && out.ok());
  const std::vector<PutFromBlock> blocks = {{"k", "", {}, 0, mem.size()}};
  auto put = client->PutFrom("dp/no-ucx", **buf, blocks);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE((*put)[0].ok()) << (*put)[0];
  const std::vector<std::string> keys = {"k"};
  const std::vector<uint64_t> offsets = {0}, caps = {back.size()};
  auto got = client->GetInto("dp/no-ucx", keys, **out, offsets, caps);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE((*got)[0].status.ok()) << (*got)[0].status;
  EXPECT_EQ(back, mem);
  EXPECT_EQ(node->Stop(SIGTERM), 0) << "the node stops cleanly";
}

TEST(DataPlaneProcesses, NodeRestartedWithoutDataPlaneIsServedAsGrpcBytes) {
  const std::string dir = testing::FreshDir("dp-off");
  auto node = StartNode(dir, {"--dram", "16MiB", "--ssd", "0"});
  ASSERT_NE(node, nullptr);
  const int port = node->port();
  auto autoc = ConnectTo(*node, Path::kAuto);
  auto strict = ConnectTo(*node, Path::kUcx);
  ASSERT_TRUE(autoc && strict);
  std::string mem(1 << 20, '\0');
  std::mt19937_64 rng(77);
  Fill(rng, mem);
  auto abuf = autoc->RegisterBuffer(mem.data(), mem.size());
  auto sbuf = strict->RegisterBuffer(mem.data(), mem.size());
  ASSERT_TRUE(abuf.ok() && sbuf.ok());
  const std::vector<PutFromBlock> blocks = {{"a", "", {}, 0, 300'000}};
  ASSERT_TRUE(autoc->PutFrom("dp/off", **abuf, blocks).ok());
  ASSERT_EQ(autoc->data_path_counters().ucx_calls, 1u);

  ASSERT_EQ(node->Stop(SIGKILL), 128 + SIGKILL);
  node = StartNode(dir, {"--dram", "16MiB", "--ssd", "0", "--data-plane", "off"}, port);
  ASSERT_NE(node, nullptr);
  absl::StatusOr<std::vector<absl::Status>> put = absl::UnavailableError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    put = autoc->PutFrom("dp/off", **abuf, blocks);
    if (put.ok()) break;
    ASSERT_TRUE(absl::IsUnavailable(put.status())) << put.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE((*put)[0].ok()) << (*put)[0];
  const std::vector<std::string> keys = {"a"};
  const std::vector<uint64_t> offsets = {400'000}, caps = {300'000};
  auto got = autoc->GetInto("dp/off", keys, **abuf, offsets, caps);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE((*got)[0].status.ok());
  EXPECT_EQ(std::memcmp(mem.data(), mem.data() + 400'000, 300'000), 0);
  EXPECT_GE(autoc->data_path_counters().fallbacks, 2u);

  absl::StatusOr<std::vector<GetIntoResult>> strict_got = absl::UnavailableError("not tried");
  const auto strict_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < strict_deadline) {
    strict_got = strict->GetInto("dp/off", keys, **sbuf, offsets, caps);
    if (!absl::IsUnavailable(strict_got.status())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(absl::IsUnimplemented(strict_got.status())) << strict_got.status();
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace strata
