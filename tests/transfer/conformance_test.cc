// The Transport contract, checked on every backend: loopback, UCX over shared memory + cma
// (RMA), UCX over tcp (active-message rendezvous), and the two forced cross-combinations.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/transfer/transfer_test_util.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace strata::transfer::testing {
namespace {

constexpr size_t kRegionBytes = 2 << 20;
constexpr absl::Duration kTimeout = absl::Seconds(5);

class ConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    factory_ = std::make_unique<TransportFactory>(GetParam());
    auto node = factory_->Make();
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    auto client = factory_->Make();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    auto pool = RegisterBuffer(*node_, kRegionBytes);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto buffer = RegisterBuffer(*client_, kRegionBytes);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    client_buffer_ = std::move(*buffer);
    // What phase 2 does over gRPC: Hello (address) + RegisterRegion (descriptor).
    auto peer = node_->Connect("client-1", client_->LocalAddress());
    ASSERT_TRUE(peer.ok()) << peer.status();
    peer_ = *peer;
    auto remote = node_->AddRemoteRegion(peer_, client_buffer_->region.descriptor);
    ASSERT_TRUE(remote.ok()) << remote.status();
    remote_ = *remote;
  }

  TransferOp Op(OpKind kind, uint64_t local_offset, uint64_t remote_offset, uint64_t length) {
    TransferOp op;
    op.kind = kind;
    op.local_region = pool_->region.id;
    op.local_offset = local_offset;
    op.remote_region = remote_;
    op.remote_offset = remote_offset;
    op.length = length;
    return op;
  }

  // Buffers first: members are destroyed in reverse, and the transports must be gone (every
  // transfer finished or purged) before the memory they may touch is freed.
  std::unique_ptr<Buffer> pool_;
  std::unique_ptr<Buffer> client_buffer_;
  std::unique_ptr<TransportFactory> factory_;
  std::unique_ptr<Transport> node_;
  std::unique_ptr<Transport> client_;
  PeerHandle peer_;
  RemoteRegionHandle remote_;
};

TEST_P(ConformanceTest, ProtocolFollowsTheLanes) {
  auto info = node_->DescribePeer(peer_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->failed);
  switch (GetParam()) {
    case Backend::kLoopback:
      EXPECT_EQ(info->protocol, Protocol::kMemcpy);
      break;
    case Backend::kUcxShm:  // cma serves rendezvous only: RMA would be emulated
    case Backend::kUcxTcp:
      EXPECT_EQ(info->protocol, Protocol::kActiveMessage) << info->detail;
      break;
    case Backend::kUcxShmRma:
    case Backend::kUcxTcpRma:
      EXPECT_EQ(info->protocol, Protocol::kRma) << info->detail;
      break;
  }
  if (GetParam() == Backend::kUcxShm) {
    EXPECT_NE(info->detail.find("cma"), std::string::npos) << info->detail;
  }
  if (GetParam() == Backend::kUcxTcp) {
    EXPECT_NE(info->detail.find("tcp"), std::string::npos) << info->detail;
  }
}

// Random batches of puts (node pool -> client buffer) and gets (client buffer -> node pool) at
// random sizes and offsets; a model of both buffers must match byte for byte after each batch,
// including the bytes no op touched.
TEST_P(ConformanceTest, RandomBatchesAreByteExactBothWays) {
  std::mt19937_64 rng(42);
  FillPattern(pool_->data, kRegionBytes, 1);
  FillPattern(client_buffer_->data, kRegionBytes, 2);
  std::vector<uint8_t> pool_model(pool_->data, pool_->data + kRegionBytes);
  std::vector<uint8_t> client_model(client_buffer_->data, client_buffer_->data + kRegionBytes);
  const size_t kMaxOp = 256 << 10;
  for (int round = 0; round < 24; ++round) {
    const OpKind kind = (round % 2 == 0) ? OpKind::kPut : OpKind::kGet;
    const int count = 1 + static_cast<int>(rng() % 8);
    std::vector<TransferOp> ops;
    // Non-overlapping destinations within the batch: split the region into `count` slots.
    const size_t slot = kRegionBytes / count;
    for (int i = 0; i < count; ++i) {
      const uint64_t length = 1 + rng() % std::min(kMaxOp, slot - 1);
      const uint64_t dst = i * slot + rng() % (slot - length + 1);
      const uint64_t src = rng() % (kRegionBytes - length + 1);
      ops.push_back(kind == OpKind::kPut ? Op(kind, src, dst, length) : Op(kind, dst, src, length));
    }
    absl::Status status = node_->Run(ops, kTimeout);
    ASSERT_TRUE(status.ok()) << "round " << round << ": " << status;
    for (const TransferOp& op : ops) {
      if (op.kind == OpKind::kPut) {
        std::memcpy(client_model.data() + op.remote_offset, pool_model.data() + op.local_offset,
                    op.length);
      } else {
        std::memcpy(pool_model.data() + op.local_offset, client_model.data() + op.remote_offset,
                    op.length);
      }
    }
    ASSERT_EQ(0, std::memcmp(client_model.data(), client_buffer_->data, kRegionBytes))
        << "round " << round;
    ASSERT_EQ(0, std::memcmp(pool_model.data(), pool_->data, kRegionBytes)) << "round " << round;
  }
}

TEST_P(ConformanceTest, LargeBlocksRoundTrip) {
  FillPattern(pool_->data, kRegionBytes, 7);
  std::vector<TransferOp> puts;
  for (int i = 0; i < 2; ++i) puts.push_back(Op(OpKind::kPut, i << 20, i << 20, 1 << 20));
  ASSERT_TRUE(node_->Run(puts, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp(pool_->data, client_buffer_->data, kRegionBytes));
  std::memset(pool_->data, 0, kRegionBytes);
  std::vector<TransferOp> gets;
  for (int i = 0; i < 2; ++i) gets.push_back(Op(OpKind::kGet, i << 20, i << 20, 1 << 20));
  ASSERT_TRUE(node_->Run(gets, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp(pool_->data, client_buffer_->data, kRegionBytes));
}

TEST_P(ConformanceTest, OutOfRegionIsInvalidArgumentAndChangesNothing) {
  FillPattern(pool_->data, kRegionBytes, 3);
  FillPattern(client_buffer_->data, kRegionBytes, 4);
  std::vector<uint8_t> before(client_buffer_->data, client_buffer_->data + kRegionBytes);
  const std::vector<std::vector<TransferOp>> bad = {
      {Op(OpKind::kPut, 0, kRegionBytes - 10, 11)},  // remote end past the region
      {Op(OpKind::kPut, kRegionBytes, 0, 1)},        // local offset at the end
      {Op(OpKind::kGet, 0, ~uint64_t{0} - 3, 16)},   // remote offset overflows
      {Op(OpKind::kPut, 0, 0, 0)},                   // zero length
      {Op(OpKind::kPut, 0, 0, 64), Op(OpKind::kPut, 0, kRegionBytes, 1)},  // one bad op spoils all
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    absl::Status status = node_->Run(bad[i], kTimeout);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "case " << i << ": " << status;
  }
  TransferOp unknown = Op(OpKind::kPut, 0, 0, 8);
  unknown.remote_region.id = 999;
  EXPECT_EQ(node_->Run({unknown}, kTimeout).code(), absl::StatusCode::kInvalidArgument);
  unknown = Op(OpKind::kPut, 0, 0, 8);
  unknown.local_region = 999;
  EXPECT_EQ(node_->Run({unknown}, kTimeout).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(0, std::memcmp(before.data(), client_buffer_->data, kRegionBytes));
  // The transport still works afterwards.
  EXPECT_TRUE(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).ok());
}

TEST_P(ConformanceTest, DeregisteredLocalRegionIsRejected) {
  ASSERT_TRUE(node_->DeregisterMemory(pool_->region.id).ok());
  EXPECT_EQ(node_->Run({Op(OpKind::kPut, 0, 0, 64)}, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(node_->DeregisterMemory(pool_->region.id).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(ConformanceTest, SameDescriptorGivesTheSameHandle) {
  auto again = node_->AddRemoteRegion(peer_, client_buffer_->region.descriptor);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, remote_.id);
  EXPECT_EQ(again->generation, remote_.generation);
}

TEST_P(ConformanceTest, DisconnectFailsLaterOpsWithUnavailable) {
  ASSERT_TRUE(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).ok());
  ASSERT_TRUE(node_->Disconnect(peer_).ok());
  EXPECT_EQ(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).code(),
            absl::StatusCode::kUnavailable);
  // Reconnecting starts a new generation; the old handle stays dead.
  auto peer = node_->Connect("client-1", client_->LocalAddress());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_GT(peer->generation, peer_.generation);
  EXPECT_EQ(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).code(),
            absl::StatusCode::kUnavailable);
  auto remote = node_->AddRemoteRegion(*peer, client_buffer_->region.descriptor);
  ASSERT_TRUE(remote.ok()) << remote.status();
  remote_ = *remote;
  FillPattern(pool_->data, 4096, 9);
  EXPECT_TRUE(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp(pool_->data, client_buffer_->data, 4096));
}

// The client restarts (new transport, new address, new buffer registration). The node reconnects
// under the same name: the old generation's handle is rejected, never used against the new
// process's memory, and the re-registered region works.
TEST_P(ConformanceTest, PeerRestartInvalidatesOldGeneration) {
  ASSERT_TRUE(node_->Run({Op(OpKind::kPut, 0, 0, 4096)}, kTimeout).ok());
  client_.reset();
  client_buffer_.reset();
  auto restarted = factory_->Make();
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  client_ = std::move(*restarted);
  auto buffer = RegisterBuffer(*client_, kRegionBytes);
  ASSERT_TRUE(buffer.ok());
  client_buffer_ = std::move(*buffer);

  const RemoteRegionHandle old_remote = remote_;
  auto peer = node_->Connect("client-1", client_->LocalAddress());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->id, peer_.id);
  EXPECT_GT(peer->generation, peer_.generation);
  EXPECT_EQ(node_->Run({Op(OpKind::kPut, 0, 0, 64)}, kTimeout).code(),
            absl::StatusCode::kUnavailable);
  // The old descriptor cannot be attached to the old handle either.
  EXPECT_EQ(node_->AddRemoteRegion(peer_, client_buffer_->region.descriptor).status().code(),
            absl::StatusCode::kUnavailable);

  auto remote = node_->AddRemoteRegion(*peer, client_buffer_->region.descriptor);
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_NE(remote->generation, old_remote.generation);
  remote_ = *remote;
  FillPattern(pool_->data, kRegionBytes, 11);
  ASSERT_TRUE(node_->Run({Op(OpKind::kPut, 100, 200, 300000)}, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp(pool_->data + 100, client_buffer_->data + 200, 300000));
}

// The client dies (its transport is destroyed) with no warning: ops towards it fail UNAVAILABLE
// by the deadline, and the node keeps serving a second client with nothing left in flight.
TEST_P(ConformanceTest, DeadPeerGivesUnavailableAndOthersKeepWorking) {
  auto other = factory_->Make();
  ASSERT_TRUE(other.ok());
  std::unique_ptr<Transport> other_client = std::move(*other);
  auto other_buffer = RegisterBuffer(*other_client, kRegionBytes);
  ASSERT_TRUE(other_buffer.ok());
  auto other_peer = node_->Connect("client-2", other_client->LocalAddress());
  ASSERT_TRUE(other_peer.ok());
  auto other_remote = node_->AddRemoteRegion(*other_peer, (*other_buffer)->region.descriptor);
  ASSERT_TRUE(other_remote.ok());

  // Deregister first so the dying client's memory is gone before the process "dies".
  client_->DeregisterMemory(client_buffer_->region.id).IgnoreError();
  client_.reset();
  const absl::Time start = absl::Now();
  absl::Status status = node_->Run({Op(OpKind::kPut, 0, 0, 64 << 10)}, absl::Seconds(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  status = node_->Run({Op(OpKind::kGet, 0, 0, 64 << 10)}, absl::Seconds(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;

  FillPattern(pool_->data, kRegionBytes, 5);
  TransferOp op = Op(OpKind::kPut, 0, 0, 1 << 20);
  op.remote_region = *other_remote;
  ASSERT_TRUE(node_->Run({op}, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp(pool_->data, (*other_buffer)->data, 1 << 20));
  other_client.reset();  // before its buffer (declared later, destroyed first)
  if (auto* ucx = dynamic_cast<UcxTransport*>(node_.get())) {
    EXPECT_EQ(ucx->TEST_LiveBatches(), 0u);
  }
}

TEST_P(ConformanceTest, ManyConcurrentBatches) {
  FillPattern(pool_->data, kRegionBytes, 13);
  std::vector<std::future<absl::Status>> futures;
  const size_t kBlock = 16 << 10;
  for (size_t i = 0; i < kRegionBytes / kBlock; ++i) {
    futures.push_back(node_->PostAsync({Op(OpKind::kPut, i * kBlock, i * kBlock, kBlock)},
                                       absl::Now() + kTimeout));
  }
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(f.get().ok());
  }
  EXPECT_EQ(0, std::memcmp(pool_->data, client_buffer_->data, kRegionBytes));
}

// Over UCX a batch that misses its deadline declares its peer failed (CheckDeadlines); the
// loopback twin must do the same, or tests above the data plane would see a peer that UCX would
// have dropped keep working. A deadline already past is the one miss the twin can be made to
// have deterministically.
TEST(LoopbackTransportTest, MissedDeadlineFailsThePeerUntilReconnect) {
  TransportFactory factory(Backend::kLoopback);
  auto node_or = factory.Make();
  ASSERT_TRUE(node_or.ok()) << node_or.status();
  std::unique_ptr<Transport> node = std::move(*node_or);
  auto client_or = factory.Make();
  ASSERT_TRUE(client_or.ok()) << client_or.status();
  std::unique_ptr<Transport> client = std::move(*client_or);
  auto pool = RegisterBuffer(*node, 1 << 16);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto buffer = RegisterBuffer(*client, 1 << 16);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  auto peer = node->Connect("client-1", client->LocalAddress());
  ASSERT_TRUE(peer.ok()) << peer.status();
  auto remote = node->AddRemoteRegion(*peer, (*buffer)->region.descriptor);
  ASSERT_TRUE(remote.ok()) << remote.status();
  TransferOp op;
  op.kind = OpKind::kPut;
  op.local_region = (*pool)->region.id;
  op.remote_region = *remote;
  op.length = 4096;
  FillPattern((*pool)->data, 4096, 21);
  std::memset((*buffer)->data, 0, 4096);

  absl::Status missed = node->PostAsync({op}, absl::Now() - absl::Milliseconds(1)).get();
  EXPECT_EQ(missed.code(), absl::StatusCode::kUnavailable) << missed;
  EXPECT_NE(missed.message().find("declared failed"), std::string::npos) << missed;
  auto info = node->DescribePeer(*peer);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->failed);
  // Nothing moves towards the failed generation, even with time to spare.
  absl::Status later = node->Run({op}, kTimeout);
  EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable) << later;
  EXPECT_EQ(node->AddRemoteRegion(*peer, (*buffer)->region.descriptor).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*buffer)->data[0], 0);

  // Reconnecting the same name at the same address starts a new generation that works.
  auto again = node->Connect("client-1", client->LocalAddress());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id, peer->id);
  EXPECT_GT(again->generation, peer->generation);
  auto fresh = node->AddRemoteRegion(*again, (*buffer)->region.descriptor);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  op.remote_region = *fresh;
  ASSERT_TRUE(node->Run({op}, kTimeout).ok());
  EXPECT_EQ(0, std::memcmp((*pool)->data, (*buffer)->data, 4096));
  node.reset();  // transports before the buffers they may touch
  client.reset();
}

INSTANTIATE_TEST_SUITE_P(Backends, ConformanceTest,
                         ::testing::Values(Backend::kLoopback, Backend::kUcxShm, Backend::kUcxTcp,
                                           Backend::kUcxShmRma, Backend::kUcxTcpRma),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

}  // namespace
}  // namespace strata::transfer::testing
