// Tokens, namespaces and TLS end to end (docs/security.md): strata-node as a real process with
// --auth-tokens for two tenants and an operator, the client library and stratactl as callers.
#include "cachenode/auth.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "proto/strata.grpc.pb.h"
#include "tests/testing/process.h"
#include "transfer/ucx_transport.h"

namespace strata {
namespace {

using testing::NodeProcess;
using Path = ClientOptions::DataPath;

constexpr char kTokenA[] = "tenant-a-secret-7f3c";
constexpr char kTokenB[] = "tenant-b-secret-91d2";
constexpr char kTokenOps[] = "operator-secret-0a55";
constexpr char kTokenC[] = "tenant-c-secret-44e1";

std::string Entry(const std::string& name, const std::string& token, const std::string& ns,
                  bool admin = false) {
  return absl::StrCat("  - name: ", name, "\n    token_sha256: ", DigestHex(HashToken(token)),
                      "\n    namespaces: [", ns, "]\n    admin: ", admin ? "true" : "false", "\n");
}

std::string TwoTenants() {
  return "tokens:\n" + Entry("tenant-a", kTokenA, "\"a/*\"") +
         Entry("tenant-b", kTokenB, "\"b/*\"") + Entry("ops", kTokenOps, "", /*admin=*/true);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::unique_ptr<NodeProcess> StartNode(const std::string& dir,
                                       const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--dram", "16MiB", "--ssd", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::string error;
  auto node = NodeProcess::Start(dir, args, &error);
  EXPECT_NE(node, nullptr) << error;
  return node;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectAs(const NodeProcess& node, const std::string& token,
                                                  Path path = Path::kGrpc, bool messages = true) {
  ClientOptions o;
  o.address = node.address();
  o.token = token;
  o.data_path = path;
  o.ucx_messages = messages;
  o.deadline_ms = 10'000;
  o.connect_timeout_ms = 5'000;
  return Client::Connect(o);
}

template <typename T>
absl::StatusCode Code(const absl::StatusOr<T>& s) {
  return s.status().code();
}

class AuthNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    tokens_ = dir_ + "/tokens.yaml";
    WriteFile(tokens_, TwoTenants());
    node_ = StartNode(dir_, {"--auth-tokens", tokens_});
    ASSERT_NE(node_, nullptr);
  }
  void TearDown() override {
    node_.reset();  // SIGKILL if still running
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Client> Must(const std::string& token, Path path = Path::kGrpc,
                               bool messages = true) {
    auto c = ConnectAs(*node_, token, path, messages);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::string dir_, tokens_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_F(AuthNodeTest, CallersWithoutAValidTokenAreUnauthenticated) {
  EXPECT_EQ(Code(ConnectAs(*node_, "")), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(ConnectAs(*node_, "not-a-token")), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(ConnectAs(*node_, DigestHex(HashToken(kTokenA)))),  // the hash is not the token
            absl::StatusCode::kUnauthenticated);

  // Raw calls, so that no client-side step stands in front: every service refuses.
  auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  auto cache = v1::CacheService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  grpc::ClientContext c1, c2, c3, c4;
  v1::GetRequest get;
  get.set_namespace_("a/x");
  get.add_keys("k");
  v1::GetResponse got;
  EXPECT_EQ(cache->Get(&c1, get, &got).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::NodeInfoResponse info;
  EXPECT_EQ(admin->NodeInfo(&c2, {}, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  c3.AddMetadata("authorization", std::string("Basic ") + kTokenA);
  v1::HelloResponse hello;
  EXPECT_EQ(cache->Hello(&c3, {}, &hello).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  c4.AddMetadata("authorization", std::string("Bearer ") + kTokenA);
  EXPECT_EQ(admin->NodeInfo(&c4, {}, &info).error_code(), grpc::StatusCode::OK);

  // stratactl: one line naming the refusal, exit 1; the token from STRATA_TOKEN or --token.
  const std::string ctl = testing::BinDir() + "/stratactl";
  auto r = testing::Run({ctl, "--node", node_->address(), "lookup", "--ns", "a/x", "--keys", "01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
  r = testing::Run({ctl, "--node", node_->address(), "--token", kTokenA, "lookup", "--ns", "a/x",
                    "--keys", "01"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0"), std::string::npos) << r.out;
  r = testing::Run({"/usr/bin/env", std::string("STRATA_TOKEN=") + kTokenA, ctl, "--node",
                    node_->address(), "lookup", "--ns", "b/x", "--keys", "01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
}

// Tenant A may not touch tenant B's namespace by any call; B's block stays as B stored it; A is
// served on its own namespace; admin calls need the admin token.
TEST_F(AuthNodeTest, TenantsAreConfinedToTheirNamespaces) {
  auto a = Must(kTokenA);
  auto b = Must(kTokenB);
  auto ops = Must(kTokenOps);
  ASSERT_TRUE(a && b && ops);
  const std::string key = "block-key-1";
  const std::string payload_b(3000, 'B');
  const std::vector<std::string> keys = {key};
  auto put_b = b->Put("b/llama", {PutBlock{key, "", {}, payload_b}});
  ASSERT_TRUE(put_b.ok()) << put_b.status();
  ASSERT_TRUE((*put_b)[0].ok());

  const auto kDenied = absl::StatusCode::kPermissionDenied;
  EXPECT_EQ(Code(a->Get("b/llama", keys)), kDenied);
  EXPECT_EQ(Code(a->Put("b/llama", {PutBlock{key, "", {}, std::string(3000, 'A')}})), kDenied);
  EXPECT_EQ(Code(a->Lookup("b/llama", keys)), kDenied);
  EXPECT_EQ(Code(a->Lookup("b/llama", keys, /*lease_ms=*/1000)), kDenied);
  EXPECT_EQ(Code(a->Exists("b/llama", keys)), kDenied);
  EXPECT_EQ(Code(a->Remove("b/llama", keys)), kDenied);
  EXPECT_EQ(Code(a->Evict("b/llama")), kDenied);
  EXPECT_EQ(Code(a->Get("b", keys)), kDenied);     // "b/*" does not grant "b" itself
  EXPECT_EQ(Code(a->Get("a", keys)), kDenied);     // nor "a/*" grant "a"
  EXPECT_EQ(Code(a->Get("ab/x", keys)), kDenied);  // nor a sibling sharing the letters
  // The message names the token's entry and the namespace, never the token.
  auto denied = a->Get("b/llama", keys);
  EXPECT_NE(denied.status().message().find("token 'tenant-a' may not use namespace 'b/llama'"),
            absl::string_view::npos)
      << denied.status();
  EXPECT_EQ(denied.status().message().find(kTokenA), absl::string_view::npos);

  // B's block is untouched: same bytes, still there.
  auto got_b = b->Get("b/llama", keys);
  ASSERT_TRUE(got_b.ok()) << got_b.status();
  ASSERT_TRUE((*got_b)[0].found());
  EXPECT_EQ((*got_b)[0].payload, payload_b);

  // A is served on its own namespace, every call.
  const std::string payload_a(2000, 'A');
  auto put_a = a->Put("a/llama", {PutBlock{key, "", {}, payload_a}});
  ASSERT_TRUE(put_a.ok()) << put_a.status();
  EXPECT_TRUE((*put_a)[0].ok());
  auto got_a = a->Get("a/llama", keys);
  ASSERT_TRUE(got_a.ok()) << got_a.status();
  EXPECT_EQ((*got_a)[0].payload, payload_a);
  auto matched = a->Lookup("a/llama", keys);
  ASSERT_TRUE(matched.ok());
  EXPECT_EQ(*matched, 1u);
  auto exists = a->Exists("a/llama", keys);
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE((*exists)[0]);
  auto removed = a->Remove("a/llama", keys);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE((*removed)[0]);
  ASSERT_TRUE(a->Put("a/llama", {PutBlock{key, "", {}, payload_a}}).ok());
  auto evicted = a->Evict("a/llama");  // a tenant may evict its own namespace
  ASSERT_TRUE(evicted.ok()) << evicted.status();
  EXPECT_EQ(evicted->blocks(), 1u);
  EXPECT_EQ(evicted->bytes(), payload_a.size());

  // Admin calls: Stats and Drain need the admin token; an admin may evict any namespace.
  EXPECT_EQ(Code(a->Stats()), kDenied);
  auto stats = ops->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto drain = [&](const std::string& token) {
    auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + token);
    auto reader = admin->Drain(&ctx, v1::DrainRequest());
    v1::DrainProgress p;
    while (reader->Read(&p)) {
    }
    return reader->Finish().error_code();
  };
  EXPECT_EQ(drain(kTokenA), grpc::StatusCode::PERMISSION_DENIED);
  auto inspect = [&](const std::string& token, const std::string& ns) {
    auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    v1::InspectRequest request;
    request.set_namespace_(ns);
    request.set_key(key);
    v1::InspectResponse response;
    const grpc::Status st = admin->Inspect(&ctx, request, &response);
    return std::make_pair(st.error_code(), response.found());
  };
  EXPECT_EQ(inspect(kTokenA, "b/llama").first, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(inspect(kTokenB, "b/llama"), std::make_pair(grpc::StatusCode::OK, true));
  EXPECT_EQ(inspect(kTokenOps, "b/llama"), std::make_pair(grpc::StatusCode::OK, true));
  // Past the auth check: a node outside any cluster cannot drain.
  EXPECT_EQ(drain(kTokenOps), grpc::StatusCode::FAILED_PRECONDITION);
  auto ops_evict = ops->Evict("b/llama");
  ASSERT_TRUE(ops_evict.ok()) << ops_evict.status();
  EXPECT_EQ(ops_evict->blocks(), 1u);
  // An admin token is not granted tenants' data by being admin.
  EXPECT_EQ(Code(ops->Get("b/llama", keys)), kDenied);
}

// A client's data-plane session carries its token's grants: GetInto/PutFrom on another tenant's
// namespace are refused over UCX, whether the call travels as a UCX message or a gRPC call.
TEST_F(AuthNodeTest, DataPlaneSessionsCarryTheirTokensGrants) {
  auto b = Must(kTokenB);
  ASSERT_NE(b, nullptr);
  const std::string payload_b(5000, 'B');
  const std::vector<std::string> keys = {"k"};
  ASSERT_TRUE(b->Put("b/llama", {PutBlock{"k", "", {}, payload_b}}).ok());
  for (bool messages : {true, false}) {
    SCOPED_TRACE(messages ? "UCX messages" : "gRPC calls");
    auto a = Must(kTokenA, Path::kUcx, messages);
    ASSERT_NE(a, nullptr);
    std::string mem(64 << 10, 'x');
    auto buffer = a->RegisterBuffer(mem.data(), mem.size());
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    const std::vector<uint64_t> offsets = {0}, capacities = {8192};

    auto stolen = a->GetInto("b/llama", keys, **buffer, offsets, capacities);
    EXPECT_EQ(Code(stolen), absl::StatusCode::kPermissionDenied) << stolen.status();
    EXPECT_EQ(mem, std::string(64 << 10, 'x')) << "nothing may be written";
    std::memset(mem.data(), 'A', 4000);
    const std::vector<PutFromBlock> blocks = {PutFromBlock{"k", "", {}, 0, 4000}};
    EXPECT_EQ(Code(a->PutFrom("b/llama", **buffer, blocks)), absl::StatusCode::kPermissionDenied);

    // On its own namespace the same session moves bytes both ways.
    auto put = a->PutFrom("a/llama", **buffer, blocks);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_TRUE((*put)[0].ok()) << (*put)[0];
    std::memset(mem.data(), 'x', mem.size());
    auto got = a->GetInto("a/llama", keys, **buffer, {8192}, capacities);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE((*got)[0].found()) << (*got)[0].status;
    EXPECT_EQ(mem.substr(8192, 4000), std::string(4000, 'A'));

    // Refused on the data plane itself: no fallback to gRPC bytes happened.
    const auto counters = a->data_path_counters();
    EXPECT_EQ(counters.fallbacks, 0u);
    EXPECT_EQ(counters.grpc_calls, 0u);
    EXPECT_GE(counters.ucx_calls, 2u);
    if (messages) {
      EXPECT_GE(counters.message_calls, 2u);
    }
  }
  auto got_b = b->Get("b/llama", keys);
  ASSERT_TRUE(got_b.ok());
  EXPECT_EQ((*got_b)[0].payload, payload_b);
}

// What the client library does not do on its own: a session's id used with another tenant's
// token over gRPC, a session used by UCX message for a namespace its token lacks, and a session
// whose token is revoked by a reload.
TEST_F(AuthNodeTest, SessionsAreBoundToTheTokenTheyWereOpenedWith) {
  auto transport = transfer::UcxTransport::Create(
      {.ucx_config = {{"TLS", "tcp"}, {"NET_DEVICES", "lo"}}, .name = "auth-test"});
  ASSERT_TRUE(transport.ok()) << transport.status();
  std::string mem(1 << 20, 'x');
  auto region = (*transport)->RegisterMemory(mem.data(), mem.size());
  ASSERT_TRUE(region.ok());
  auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  auto call = [&](const std::string& token, auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return ((*stub).*method)(&ctx, request, response).error_code();
  };
  v1::HelloRequest hello;
  hello.set_worker_address((*transport)->LocalAddress());
  v1::HelloResponse session_b, session_b2;
  EXPECT_EQ(call("", &v1::CacheService::Stub::Hello, hello, &session_b),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(call(kTokenB, &v1::CacheService::Stub::Hello, hello, &session_b), grpc::StatusCode::OK);
  ASSERT_EQ(call(kTokenB, &v1::CacheService::Stub::Hello, hello, &session_b2),
            grpc::StatusCode::OK);
  // Ids are random, not a sequence that one session's id would reveal the next from.
  EXPECT_GT(session_b2.session_id() - session_b.session_id(), 1u << 20);

  v1::RegisterRegionRequest reg;
  reg.set_session_id(session_b.session_id());
  reg.set_base(region->descriptor.base);
  reg.set_length(region->descriptor.length);
  reg.set_packed_rkey(region->descriptor.packed_rkey);
  v1::RegisterRegionResponse registered;
  EXPECT_EQ(call(kTokenA, &v1::CacheService::Stub::RegisterRegion, reg, &registered),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(call(kTokenB, &v1::CacheService::Stub::RegisterRegion, reg, &registered),
            grpc::StatusCode::OK);
  v1::PutRequest put;
  put.set_namespace_("b/x");
  put.add_items()->set_key("k");
  put.mutable_items(0)->set_payload(std::string(1000, 'B'));
  v1::PutResponse put_response;
  ASSERT_EQ(call(kTokenB, &v1::CacheService::Stub::Put, put, &put_response), grpc::StatusCode::OK);

  v1::GetIntoRequest get;
  get.set_namespace_("b/x");
  get.set_session_id(session_b.session_id());
  get.set_region_id(registered.region_id());
  get.add_items()->set_key("k");
  get.mutable_items(0)->set_capacity(1000);
  v1::GetIntoResponse got;
  // A's token with B's session on B's namespace: refused (the namespace and the session).
  EXPECT_EQ(call(kTokenA, &v1::CacheService::Stub::GetInto, get, &got),
            grpc::StatusCode::PERMISSION_DENIED);
  get.set_namespace_("a/x");  // A's own namespace through B's session: still B's session
  EXPECT_EQ(call(kTokenA, &v1::CacheService::Stub::GetInto, get, &got),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::GoodbyeRequest bye;
  bye.set_session_id(session_b.session_id());
  v1::GoodbyeResponse bye_response;
  EXPECT_EQ(call(kTokenA, &v1::CacheService::Stub::Goodbye, bye, &bye_response),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(mem, std::string(1 << 20, 'x')) << "nothing may be written";
  get.set_namespace_("b/x");
  ASSERT_EQ(call(kTokenB, &v1::CacheService::Stub::GetInto, get, &got), grpc::StatusCode::OK);
  EXPECT_EQ(mem.substr(0, 1000), std::string(1000, 'B'));

  // Revoke B (a reload without it): B's open session is refused from then on.
  WriteFile(tokens_, "tokens:\n" + Entry("tenant-a", kTokenA, "\"a/*\""));
  ASSERT_EQ(kill(node_->pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  grpc::StatusCode code = grpc::StatusCode::OK;
  while (std::chrono::steady_clock::now() < deadline) {
    v1::NodeInfoResponse info;
    auto admin = v1::AdminService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kTokenB);
    code = admin->NodeInfo(&ctx, {}, &info).error_code();
    if (code == grpc::StatusCode::UNAUTHENTICATED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(code, grpc::StatusCode::UNAUTHENTICATED) << "the reload did not take";
  EXPECT_EQ(call(kTokenB, &v1::CacheService::Stub::GetInto, get, &got),
            grpc::StatusCode::UNAUTHENTICATED);
}

// UCX message calls name their session by id alone: the session's token decides.
TEST_F(AuthNodeTest, MessageCallsAreCheckedAgainstTheSessionsToken) {
  const transfer::UcxTransportOptions uo{.ucx_config = {{"TLS", "tcp"}, {"NET_DEVICES", "lo"}},
                                         .name = "auth-msg"};
  absl::Mutex mu;
  std::vector<v1::DataPlaneReply> replies;
  auto data = transfer::UcxTransport::Create(uo);
  auto control = transfer::UcxTransport::Create(uo);
  ASSERT_TRUE(data.ok() && control.ok());
  (*control)->SetMessageHandler([&](std::string bytes) -> std::optional<std::string> {
    v1::DataPlaneReply reply;
    if (reply.ParseFromString(bytes)) {
      absl::MutexLock lock(&mu);
      replies.push_back(std::move(reply));
    }
    return std::nullopt;
  });
  std::string mem(1 << 20, 'x');
  auto region = (*data)->RegisterMemory(mem.data(), mem.size());
  ASSERT_TRUE(region.ok());
  auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::CacheService::NewStub(channel);
  auto rpc = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", std::string("Bearer ") + kTokenA);
    return ((*stub).*method)(&ctx, request, response);
  };
  v1::HelloRequest hello;
  hello.set_worker_address((*data)->LocalAddress());
  hello.set_control_address((*control)->LocalAddress());
  v1::HelloResponse session;
  ASSERT_TRUE(rpc(&v1::CacheService::Stub::Hello, hello, &session).ok());
  ASSERT_TRUE(session.control_messages());
  v1::RegisterRegionRequest reg;
  reg.set_session_id(session.session_id());
  reg.set_base(region->descriptor.base);
  reg.set_length(region->descriptor.length);
  reg.set_packed_rkey(region->descriptor.packed_rkey);
  v1::RegisterRegionResponse registered;
  ASSERT_TRUE(rpc(&v1::CacheService::Stub::RegisterRegion, reg, &registered).ok());
  auto peer = (*control)->Connect("node", session.node_address());
  ASSERT_TRUE(peer.ok()) << peer.status();
  uint64_t next_id = 1;
  auto send = [&](v1::DataPlaneCall c) {
    c.set_call_id(++next_id);
    (*control)->SendMessage(*peer, c.SerializeAsString(), absl::Now() + absl::Seconds(5),
                            [](absl::Status) {});
    absl::MutexLock lock(&mu);
    const uint64_t id = c.call_id();
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      for (const auto& r : replies) {
        if (r.call_id() == id) return true;
      }
      return false;
    };
    mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10));
    for (const auto& r : replies) {
      if (r.call_id() == id) return r.code();
    }
    return -1;
  };
  const int kDenied = static_cast<int>(absl::StatusCode::kPermissionDenied);
  v1::DataPlaneCall get;
  get.mutable_get_into()->set_namespace_("b/x");
  get.mutable_get_into()->set_session_id(session.session_id());
  get.mutable_get_into()->set_region_id(registered.region_id());
  get.mutable_get_into()->add_items()->set_key("k");
  get.mutable_get_into()->mutable_items(0)->set_capacity(1000);
  EXPECT_EQ(send(get), kDenied);
  v1::DataPlaneCall put;
  put.mutable_put_from()->set_namespace_("b/x");
  put.mutable_put_from()->set_session_id(session.session_id());
  put.mutable_put_from()->set_region_id(registered.region_id());
  put.mutable_put_from()->add_items()->set_key("k");
  put.mutable_put_from()->mutable_items(0)->set_size(100);
  EXPECT_EQ(send(put), kDenied);
  get.mutable_get_into()->set_namespace_("a/x");  // a miss in its own namespace: served
  EXPECT_EQ(send(get), 0);
  EXPECT_EQ(mem, std::string(1 << 20, 'x'));
}

TEST_F(AuthNodeTest, SighupReloadAddsAndRevokesTokensAndKeepsThemOnABadFile) {
  auto a = Must(kTokenA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(Code(ConnectAs(*node_, kTokenC)), absl::StatusCode::kUnauthenticated);
  // Add C, revoke A.
  WriteFile(tokens_, "tokens:\n" + Entry("tenant-c", kTokenC, "\"c/*\"") +
                         Entry("ops", kTokenOps, "", true));
  ASSERT_EQ(kill(node_->pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  absl::StatusOr<std::unique_ptr<Client>> c = ConnectAs(*node_, kTokenC);
  while (!c.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c = ConnectAs(*node_, kTokenC);
  }
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Put("c/x", {PutBlock{"k", "", {}, "payload"}}).ok());
  const std::vector<std::string> keys = {"k"};
  // A's connected client is refused from now on: revocation needs no restart.
  EXPECT_EQ(Code(a->Get("a/x", keys)), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(testing::WaitForText(dir_ + "/node.out", "SIGHUP: 2 tokens in force")
                .find("SIGHUP: 2 tokens in force"),
            std::string::npos);

  // A file that does not load: the node says why, and the tokens in force stay.
  WriteFile(tokens_, "tokens:\n  - name: broken\n    token_sha256: 1234\n");
  ASSERT_EQ(kill(node_->pid(), SIGHUP), 0);
  // The node writes the line in pieces (unbuffered stderr): wait for its last part, the reason.
  const std::string err =
      testing::WaitForText(dir_ + "/node.err", tokens_ + ": tokens[0].token_sha256: 4 characters");
  EXPECT_NE(err.find("SIGHUP: token file not reloaded, the previous tokens stay in force"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(tokens_ + ": tokens[0].token_sha256: 4 characters"), std::string::npos) << err;
  auto still = (*c)->Get("c/x", keys);
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ((*still)[0].payload, "payload");
  EXPECT_EQ(Code(a->Get("a/x", keys)), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace strata
