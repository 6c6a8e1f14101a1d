// The pieces of UcxTransport that decide things: the one ucs_status_t conversion and the
// reading of UCX's endpoint configuration that picks RMA or active messages.
#include "gtest/gtest.h"
#include "transfer/internal/ucx_lanes.h"
#include "transfer/internal/ucx_status.h"
#include "transfer/transport.h"

namespace strata::transfer::internal {
namespace {

TransferOp MakeOp(OpKind kind, uint64_t local, uint64_t remote, uint64_t length,
                  uint64_t region = 1, uint64_t generation = 1) {
  return TransferOp{kind, 7, local, RemoteRegionHandle{3, generation, region}, remote, length};
}

TEST(MergeAdjacentOpsTest, JoinsRunsThatContinueOnBothSidesOnly) {
  std::vector<TransferOp> ops = {
      MakeOp(OpKind::kPut, 0, 100, 10),
      MakeOp(OpKind::kPut, 10, 110, 5),                                  // joined
      MakeOp(OpKind::kPut, 15, 200, 5),                                  // remote gap
      MakeOp(OpKind::kPut, 20, 205, 5),                                  // joined to previous
      MakeOp(OpKind::kGet, 25, 210, 5),                                  // other kind
      MakeOp(OpKind::kGet, 30, 215, 5, /*region=*/2),                    // other region
      MakeOp(OpKind::kGet, 35, 220, 5, /*region=*/2, /*generation=*/2),  // other generation
      MakeOp(OpKind::kGet, 40, 225, 5, 2, 2),
      MakeOp(OpKind::kGet, 45, 230, 5, 2, 2)};
  std::vector<TransferOp> merged = MergeAdjacentOps(ops);
  ASSERT_EQ(merged.size(), 5u);
  EXPECT_EQ(merged[0].length, 15u);
  EXPECT_EQ(merged[1].local_offset, 15u);
  EXPECT_EQ(merged[1].length, 10u);
  EXPECT_EQ(merged[2].kind, OpKind::kGet);
  EXPECT_EQ(merged[3].local_offset, 30u);
  EXPECT_EQ(merged[3].length, 5u);
  EXPECT_EQ(merged[4].local_offset, 35u);
  EXPECT_EQ(merged[4].length, 15u);
  uint64_t before = 0, after = 0;
  for (const auto& op : ops) before += op.length;
  for (const auto& op : merged) after += op.length;
  EXPECT_EQ(before, after);
  // The cap splits a long run.
  std::vector<TransferOp> run;
  for (uint64_t i = 0; i < 10; ++i) run.push_back(MakeOp(OpKind::kPut, i * 4, i * 4, 4));
  merged = MergeAdjacentOps(run, /*max_length=*/12);
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[0].length, 12u);
  EXPECT_EQ(merged[3].length, 4u);
  EXPECT_EQ(merged[3].local_offset, 36u);
}

TEST(UcsToStatusTest, PeerFailuresAreUnavailable) {
  for (ucs_status_t s :
       {UCS_ERR_CONNECTION_RESET, UCS_ERR_ENDPOINT_TIMEOUT, UCS_ERR_CANCELED, UCS_ERR_UNREACHABLE,
        UCS_ERR_TIMED_OUT, UCS_ERR_IO_ERROR, UCS_ERR_SHMEM_SEGMENT}) {
    EXPECT_EQ(UcsToStatus(s, "op").code(), absl::StatusCode::kUnavailable) << s;
  }
  EXPECT_TRUE(UcsToStatus(UCS_OK, "op").ok());
  EXPECT_EQ(UcsToStatus(UCS_ERR_INVALID_PARAM, "op").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UcsToStatus(UCS_ERR_NO_MEMORY, "op").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(UcsToStatus(UCS_ERR_UNSUPPORTED, "op").code(), absl::StatusCode::kFailedPrecondition);
}

// Text as UCX 1.13 prints it (ucx_info -e) on this host.
constexpr char kShmEndpoint[] = R"(#
# UCP endpoint
#
#               peer: <no debug data>
#                 lane[0]:  0:sysv/memory.0 md[0]           -> md[0]/sysv/sysdev[255] amo#0 am am_bw#0
#                 lane[1]:  1:posix/memory.0 md[1]          -> md[1]/posix/sysdev[255] amo#1
#                 lane[2]:  2:cma/memory.0 md[2]            -> md[2]/cma/sysdev[255] rma_bw#0
#
#                tag_send: 0..<egr/short>..93..<egr/bcopy>..8256..<rndv>..(inf)
#                  put[0]: 0..<short>..4294967296..<bcopy>..(inf)
#                  get[0]: 0..<bcopy>..(inf)
#
#                  rma_bw: mds rndv_rkey_size 9
)";

constexpr char kTcpEndpoint[] = R"(#
# UCP endpoint
#
#               peer: <no debug data>
#                 lane[0]:  0:tcp/lo.0 md[0]                -> md[0]/tcp/sysdev[255] rma_bw#0 am am_bw#0 wireup
#
#                tag_send: 0..<egr/short>..8185..<egr/zcopy>..20553..<rndv>..(inf)
#                  rma_bw: mds [0] rndv_rkey_size 10
)";

// sysv/posix RMA lanes cannot reach ucp_mem_map'ed user memory and cma is a rendezvous lane
// only: ucp_put_nbx would be emulated, so shared memory goes by active-message rendezvous.
TEST(EndpointLanesTest, SharedMemoryRmaIsEmulatedForRegisteredMemory) {
  EndpointLanes lanes = ParseEndpointInfo(kShmEndpoint);
  EXPECT_FALSE(lanes.native_rma);
  EXPECT_EQ(lanes.transports, "sysv/memory,posix/memory,cma/memory");
}

TEST(EndpointLanesTest, TcpRmaIsEmulated) {
  EndpointLanes lanes = ParseEndpointInfo(kTcpEndpoint);
  EXPECT_FALSE(lanes.native_rma);
  EXPECT_EQ(lanes.transports, "tcp/lo");
}

TEST(EndpointLanesTest, RdmaHasNativeRma) {
  EndpointLanes lanes = ParseEndpointInfo(
      "#                 lane[0]:  0:rc_mlx5/mlx5_0:1.0 md[0] -> md[0]/ib/sysdev[255] rma#0 "
      "rma_bw#0 am am_bw#0 wireup\n"
      "#                  put[0]: 0..<short>..196..<bcopy>..8256..<zcopy>..(inf)\n");
  EXPECT_TRUE(lanes.native_rma);
  EXPECT_EQ(lanes.transports, "rc_mlx5/mlx5_0:1");
}

TEST(EndpointLanesTest, PeerFailureSupport) {
  EXPECT_FALSE(ParseContextHasPeerFailureTransport(
      "#      resource 2  :  md 2  dev 2  flags -- sysv/memory\n"
      "#      resource 4  :  md 4  dev 2  flags -- cma/memory\n"));
  EXPECT_TRUE(
      ParseContextHasPeerFailureTransport("#      resource 1  :  md 1  dev 1  flags -- tcp/lo\n"));
}

TEST(EndpointLanesTest, SharedMemoryInTlsConfig) {
  EXPECT_TRUE(ParseConfigMayUseSharedMemory("UCX_NET_DEVICES=lo\nUCX_TLS=sm\n"));
  EXPECT_TRUE(ParseConfigMayUseSharedMemory("UCX_TLS=all\n"));
  EXPECT_TRUE(ParseConfigMayUseSharedMemory("UCX_TLS=^tcp\n"));
  EXPECT_TRUE(ParseConfigMayUseSharedMemory("UCX_TLS=tcp,posix\n"));
  EXPECT_FALSE(ParseConfigMayUseSharedMemory("UCX_TLS=tcp\n"));
  EXPECT_FALSE(ParseConfigMayUseSharedMemory("UCX_TLS=tcp,cma\n"));
}

TEST(EndpointLanesTest, ContextResources) {
  EXPECT_TRUE(ParseContextHasNativeRma("#      resource 4  :  md 4  dev 2  flags -- cma/memory\n"));
  EXPECT_FALSE(
      ParseContextHasNativeRma("#      resource 0  :  md 0  dev 0  flags -- self/memory0\n"
                               "#      resource 1  :  md 1  dev 1  flags -- tcp/lo\n"));
}

}  // namespace
}  // namespace strata::transfer::internal
