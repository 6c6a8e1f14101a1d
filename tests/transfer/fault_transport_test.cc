// FaultTransport: every injected fault reaches the caller as UNAVAILABLE, and a batch that
// reports OK always carries exactly the right bytes. Runs over loopback and UCX (shm and tcp).
#include "transfer/fault_transport.h"

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/transfer/transfer_test_util.h"

namespace strata::transfer::testing {
namespace {

constexpr size_t kBytes = 1 << 20;

class FaultTransportTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    factory_ = std::make_unique<TransportFactory>(GetParam());
    auto node = factory_->Make();
    ASSERT_TRUE(node.ok()) << node.status();
    inner_ = std::move(*node);
    auto client = factory_->Make();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    fault_ = std::make_unique<FaultTransport>(inner_.get(), FaultPolicy{});
    auto pool = RegisterBuffer(*fault_, kBytes);
    ASSERT_TRUE(pool.ok());
    pool_ = std::move(*pool);
    auto buffer = RegisterBuffer(*client_, kBytes);
    ASSERT_TRUE(buffer.ok());
    client_buffer_ = std::move(*buffer);
    Reconnect();
  }

  void TearDown() override {
    fault_.reset();  // before the inner transport it wraps
  }

  void Reconnect() {
    auto peer = fault_->Connect("client", client_->LocalAddress());
    ASSERT_TRUE(peer.ok()) << peer.status();
    auto remote = fault_->AddRemoteRegion(*peer, client_buffer_->region.descriptor);
    ASSERT_TRUE(remote.ok()) << remote.status();
    remote_ = *remote;
  }

  TransferOp Put(uint64_t offset, uint64_t length) {
    TransferOp op;
    op.kind = OpKind::kPut;
    op.local_region = pool_->region.id;
    op.local_offset = offset;
    op.remote_region = remote_;
    op.remote_offset = offset;
    op.length = length;
    return op;
  }

  // One put under `policy`: returns its status; the client's bytes are exactly the pool's on
  // success, and untouched when an injected fault failed the batch. A batch the inner transport
  // ran and failed itself (its deadline passed mid-transfer on a slow host) leaves them undefined,
  // as transport.h says, so they are not checked then.
  absl::Status PutUnder(const FaultPolicy& policy, absl::Duration timeout) {
    fault_->SetPolicy(policy);
    std::memset(client_buffer_->data, 0xAB, kBytes);
    FillPattern(pool_->data, kBytes, ++seed_);
    const FaultTransport::Stats before = fault_->GetStats();
    absl::Status status = fault_->Run({Put(0, kBytes)}, timeout);
    const FaultTransport::Stats after = fault_->GetStats();
    const bool injected = after.failed > before.failed || after.dropped > before.dropped ||
                          after.disconnected > before.disconnected ||
                          absl::StartsWith(status.message(), "fault transport:");
    if (status.ok()) {
      EXPECT_EQ(0, std::memcmp(pool_->data, client_buffer_->data, kBytes));
    } else if (injected) {
      for (size_t i = 0; i < kBytes; i += 4093) EXPECT_EQ(client_buffer_->data[i], 0xAB) << i;
    }
    return status;
  }

  // Buffers first: destroyed after the transports that may touch them.
  std::unique_ptr<Buffer> pool_;
  std::unique_ptr<Buffer> client_buffer_;
  std::unique_ptr<TransportFactory> factory_;
  std::unique_ptr<Transport> inner_;
  std::unique_ptr<Transport> client_;
  std::unique_ptr<FaultTransport> fault_;
  RemoteRegionHandle remote_;
  uint64_t seed_ = 100;
};

TEST_P(FaultTransportTest, InjectedFailureIsUnavailable) {
  FaultPolicy policy;
  policy.fail_probability = 1.0;
  EXPECT_EQ(PutUnder(policy, absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fault_->GetStats().failed, 1u);
  EXPECT_TRUE(PutUnder(FaultPolicy{}, absl::Seconds(5)).ok());
}

TEST_P(FaultTransportTest, DroppedBatchIsUnavailableAtItsDeadline) {
  FaultPolicy policy;
  policy.drop_probability = 1.0;
  const absl::Time start = absl::Now();
  EXPECT_EQ(PutUnder(policy, absl::Milliseconds(200)).code(), absl::StatusCode::kUnavailable);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_TRUE(PutUnder(FaultPolicy{}, absl::Seconds(5)).ok());
}

TEST_P(FaultTransportTest, DelayPastTheDeadlineIsUnavailable) {
  FaultPolicy policy;
  policy.delay_probability = 1.0;
  policy.delay = absl::Milliseconds(300);
  EXPECT_EQ(PutUnder(policy, absl::Milliseconds(100)).code(), absl::StatusCode::kUnavailable);
  // A delay within the deadline is only slow.
  policy.delay = absl::Milliseconds(20);
  EXPECT_TRUE(PutUnder(policy, absl::Seconds(5)).ok());
  EXPECT_EQ(fault_->GetStats().delayed, 2u);
}

TEST_P(FaultTransportTest, DisconnectIsUnavailableUntilReconnect) {
  FaultPolicy policy;
  policy.disconnect_probability = 1.0;
  EXPECT_EQ(PutUnder(policy, absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);
  // The generation is gone even without further faults...
  EXPECT_EQ(PutUnder(FaultPolicy{}, absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);
  // ...until the caller reconnects and re-registers, as a client does after UNAVAILABLE.
  Reconnect();
  EXPECT_TRUE(PutUnder(FaultPolicy{}, absl::Seconds(5)).ok());
}

// A seeded mix: every outcome is OK with exact bytes or UNAVAILABLE with untouched bytes; the
// caller's retry loop (reconnect on UNAVAILABLE) always gets there.
TEST_P(FaultTransportTest, SeededMixNeverGivesWrongBytes) {
  FaultPolicy policy;
  policy.seed = 2024;
  policy.fail_probability = 0.15;
  policy.drop_probability = 0.1;
  policy.delay_probability = 0.15;
  policy.disconnect_probability = 0.1;
  policy.delay = absl::Milliseconds(5);
  int ok = 0;
  int unavailable = 0;
  for (int i = 0; i < 30; ++i) {
    policy.seed = 2024 + i;  // PutUnder reseeds: one fresh draw per batch
    absl::Status status = PutUnder(policy, absl::Milliseconds(300));
    if (status.ok()) {
      ++ok;
    } else {
      ASSERT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
      ++unavailable;
      fault_->SetPolicy(FaultPolicy{});
      Reconnect();
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(unavailable, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultTransportTest,
                         ::testing::Values(Backend::kLoopback, Backend::kUcxShm, Backend::kUcxTcp),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

}  // namespace
}  // namespace strata::transfer::testing
