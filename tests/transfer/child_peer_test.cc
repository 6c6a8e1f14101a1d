// UcxTransport against a peer in another process -- the real case for shm/cma, where one-sided
// RMA crosses address spaces -- and against a peer that is killed mid-transfer or restarts.
//
// The child is this test binary re-executed with STRATA_TRANSFER_CHILD_PEER set: a static
// initializer runs the peer and exits before gtest starts. The child registers a buffer filled
// with a known pattern, prints its worker address and region descriptor on stdout, and serves
// (its progress thread answers AM ops) until its stdin closes or 60 s pass.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/testing/pipe_framing.h"
#include "tests/testing/spawn.h"
#include "tests/transfer/transfer_test_util.h"
#include "transfer/ucx_transport.h"

namespace strata::transfer::testing {
namespace {

constexpr size_t kChildBytes = 16 << 20;

using ::strata::testing::ReadPeerRegion;
using ::strata::testing::Reap;
using ::strata::testing::Spawn;
using ::strata::testing::WritePeerRegion;

int RunChildPeer() {
  uint64_t seed = 0;
  const char* seed_env = std::getenv("STRATA_TRANSFER_CHILD_SEED");
  if (seed_env == nullptr || !absl::SimpleAtoi(seed_env, &seed)) return 2;
  const char* tls = std::getenv("UCX_TLS");
  std::vector<uint8_t> buffer(kChildBytes);  // outlives the transport
  auto transport = UcxTransport::Create(UcxOptionsFor(tls != nullptr ? tls : "sm"));
  if (!transport.ok()) return 3;
  FillPattern(buffer.data(), buffer.size(), seed);
  auto region = (*transport)->RegisterMemory(buffer.data(), buffer.size());
  if (!region.ok()) return 4;
  if (!WritePeerRegion(1, (*transport)->LocalAddress(), region->descriptor)) return 5;
  // Serve until the parent closes our stdin (or a bound passes).
  pollfd pfd{0, POLLIN, 0};
  poll(&pfd, 1, 60000);
  return 0;
}

const bool kChildPeerRan = [] {
  if (std::getenv("STRATA_TRANSFER_CHILD_PEER") != nullptr) _exit(RunChildPeer());
  return false;
}();

// A child peer process, stopped by PID.
class ChildPeer {
 public:
  static std::unique_ptr<ChildPeer> Start(const std::string& tls, uint64_t seed) {
    auto child = std::unique_ptr<ChildPeer>(new ChildPeer());
    auto spawned =
        Spawn("/proc/self/exe", {"transfer_test_child"},
              {"STRATA_TRANSFER_CHILD_PEER=1", "STRATA_TRANSFER_CHILD_SEED=" + std::to_string(seed),
               "UCX_TLS=" + tls, "UCX_NET_DEVICES=lo"},
              /*pipes=*/true, -1);
    if (!spawned) return nullptr;
    child->child_ = *spawned;
    if (!ReadPeerRegion(child->child_.out, &child->address_, &child->descriptor_,
                        absl::Seconds(10))) {
      return nullptr;  // the destructor kills it
    }
    return child;
  }

  ~ChildPeer() { Reap(child_, absl::Seconds(3)); }  // closing its stdin asks it to exit

  void Kill() {
    if (child_.pid <= 0) return;
    kill(child_.pid, SIGKILL);
    int status = 0;
    waitpid(child_.pid, &status, 0);
    child_.pid = -1;
  }

  const std::string& address() const { return address_; }
  const RegionDescriptor& descriptor() const { return descriptor_; }

 private:
  ChildPeer() = default;
  ::strata::testing::Child child_;
  std::string address_;
  RegionDescriptor descriptor_;
};

class ChildPeerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto node = UcxTransport::Create(UcxOptionsFor(GetParam()));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    auto pool = RegisterBuffer(*node_, kChildBytes);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }

  // Connects (or reconnects) to `child` under the name "client" and attaches its region.
  void Attach(const ChildPeer& child) {
    auto peer = node_->Connect("client", child.address());
    ASSERT_TRUE(peer.ok()) << peer.status();
    peer_ = *peer;
    auto remote = node_->AddRemoteRegion(peer_, child.descriptor());
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

  std::unique_ptr<Buffer> pool_;  // outlives node_ (members are destroyed in reverse)
  std::unique_ptr<UcxTransport> node_;
  PeerHandle peer_;
  RemoteRegionHandle remote_;
};

TEST_P(ChildPeerTest, ByteExactBothWays) {
  auto child = ChildPeer::Start(GetParam(), 77);
  ASSERT_NE(child, nullptr);
  Attach(*child);
  auto info = node_->DescribePeer(peer_);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->protocol, Protocol::kActiveMessage) << info->detail;

  // Get the child's whole buffer in random pieces and compare with its pattern.
  std::mt19937_64 rng(5);
  std::vector<TransferOp> gets;
  for (uint64_t offset = 0; offset < kChildBytes;) {
    const uint64_t length = std::min<uint64_t>(kChildBytes - offset, 1 + rng() % (1 << 20));
    gets.push_back(Op(OpKind::kGet, offset, offset, length));
    offset += length;
  }
  ASSERT_TRUE(node_->Run(gets, absl::Seconds(10)).ok());
  std::vector<uint8_t> expected(kChildBytes);
  FillPattern(expected.data(), kChildBytes, 77);
  ASSERT_EQ(0, std::memcmp(expected.data(), pool_->data, kChildBytes));

  // Put random pieces at random offsets, read them back elsewhere, compare.
  FillPattern(pool_->data, kChildBytes / 2, 78);
  for (int round = 0; round < 8; ++round) {
    const uint64_t length = 1 + rng() % (2 << 20);
    const uint64_t src = rng() % (kChildBytes / 2 - length);
    const uint64_t dst = rng() % (kChildBytes - length);
    ASSERT_TRUE(node_->Run({Op(OpKind::kPut, src, dst, length)}, absl::Seconds(5)).ok());
    const uint64_t back = kChildBytes / 2;
    ASSERT_TRUE(node_->Run({Op(OpKind::kGet, back, dst, length)}, absl::Seconds(5)).ok());
    ASSERT_EQ(0, std::memcmp(pool_->data + src, pool_->data + back, length)) << round;
  }
  // Out of the child's region: rejected before anything moves.
  EXPECT_EQ(node_->Run({Op(OpKind::kPut, 0, kChildBytes - 1, 2)}, absl::Seconds(5)).code(),
            absl::StatusCode::kInvalidArgument);
}

// The child is killed between batches, then batches keep going until its death shows. Killing it
// while batches are in flight is not tested on either lane with Debian's UCX 1.13: over shm a peer
// dying during a cma copy aborts the copying process (see
// UcxTransportOptions::allow_endpoints_without_peer_error_handling), and over tcp the surviving
// process sometimes aborts inside UCX's own error path (assertion `comp->count > 0` in
// uct_iface.h:884 from uct_tcp_iface_progress, seen in 2 of about 13 full runs). Both are UCX
// defects the node must not be exposed to; docs/data-plane.md tracks them.
TEST_P(ChildPeerTest, PeerKilledBetweenBatchesIsUnavailableAndNodeKeepsServing) {
  auto child = ChildPeer::Start(GetParam(), 1);
  ASSERT_NE(child, nullptr);
  Attach(*child);
  ASSERT_TRUE(node_->Run({Op(OpKind::kGet, 0, 0, 1 << 20)}, absl::Seconds(5)).ok());
  child->Kill();
  // Keep 16 x 1 MiB batches going until the death shows; each is bounded by its deadline.
  absl::Status last;
  const absl::Time start = absl::Now();
  int batches = 0;
  for (; batches < 2000 && absl::Now() - start < absl::Seconds(10); ++batches) {
    std::vector<TransferOp> ops;
    for (int i = 0; i < 16; ++i) {
      ops.push_back(Op(batches % 2 ? OpKind::kPut : OpKind::kGet, i << 20, i << 20, 1 << 20));
    }
    const absl::Time t0 = absl::Now();
    last = node_->Run(ops, absl::Seconds(2));
    EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
    if (!last.ok()) break;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last << " after " << batches;
  // Dead for good: later ops fail by the deadline too.
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(node_->Run({Op(OpKind::kGet, 0, 0, 4096)}, absl::Seconds(2)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));

  // The node keeps serving another client, with nothing of the dead one left in flight.
  auto other = ChildPeer::Start(GetParam(), 2);
  ASSERT_NE(other, nullptr);
  auto peer = node_->Connect("other", other->address());
  ASSERT_TRUE(peer.ok());
  auto remote = node_->AddRemoteRegion(*peer, other->descriptor());
  ASSERT_TRUE(remote.ok());
  TransferOp op = Op(OpKind::kGet, 0, 0, 1 << 20);
  op.remote_region = *remote;
  ASSERT_TRUE(node_->Run({op}, absl::Seconds(5)).ok());
  std::vector<uint8_t> expected(1 << 20);
  FillPattern(expected.data(), expected.size(), 2);
  EXPECT_EQ(0, std::memcmp(expected.data(), pool_->data, expected.size()));
  EXPECT_EQ(node_->TEST_LiveBatches(), 0u);
}

TEST_P(ChildPeerTest, RestartedPeerGetsANewGenerationAndOldKeysAreRejected) {
  auto first = ChildPeer::Start(GetParam(), 10);
  ASSERT_NE(first, nullptr);
  Attach(*first);
  ASSERT_TRUE(node_->Run({Op(OpKind::kGet, 0, 0, 4096)}, absl::Seconds(5)).ok());
  const PeerHandle old_peer = peer_;
  const RemoteRegionHandle old_remote = remote_;
  first->Kill();

  auto second = ChildPeer::Start(GetParam(), 20);
  ASSERT_NE(second, nullptr);
  Attach(*second);  // same name, new address: a new generation
  EXPECT_EQ(peer_.id, old_peer.id);
  EXPECT_GT(peer_.generation, old_peer.generation);
  TransferOp stale = Op(OpKind::kGet, 0, 0, 4096);
  stale.remote_region = old_remote;
  EXPECT_EQ(node_->Run({stale}, absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(node_->Run({Op(OpKind::kGet, 0, 0, 1 << 20)}, absl::Seconds(5)).ok());
  std::vector<uint8_t> expected(1 << 20);
  FillPattern(expected.data(), expected.size(), 20);
  EXPECT_EQ(0, std::memcmp(expected.data(), pool_->data, expected.size()));
}

INSTANTIATE_TEST_SUITE_P(Tls, ChildPeerTest, ::testing::Values("sm", "tcp"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "sm" ? std::string("ShmCma") : std::string("Tcp");
                         });

}  // namespace
}  // namespace strata::transfer::testing
