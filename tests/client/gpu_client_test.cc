// GpuClient end to end with the in-memory copier twin: device buffers (the twin's) through a
// real strata-node, staged and direct, byte for byte; chunk boundaries; refused batches.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "client/gpu_client.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"

namespace strata {
namespace {

using Registration = GpuClientOptions::Registration;
constexpr uint64_t kChunk = 64 << 10;

class GpuClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir("gpu-client-" +
                             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    node_ = testing::StartNode(dir_, {"--dram", "32MiB", "--ssd", "0"});
    ASSERT_NE(node_, nullptr);
    ClientOptions options;
    options.deadline_ms = 20'000;
    client_ = testing::ConnectTo(*node_, options);
    ASSERT_NE(client_, nullptr);
  }
  std::unique_ptr<GpuClient> Gpu(Registration registration, uint64_t chunk = kChunk) {
    GpuClientOptions o;
    o.chunk_bytes = chunk;
    o.registration = registration;
    auto g = GpuClient::Create(client_.get(), &copier_, o);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? *std::move(g) : nullptr;
  }
  std::unique_ptr<gpu::CopierMemory> Device(size_t bytes, uint64_t seed) {
    auto m = *copier_.AllocDevice(bytes);
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < bytes; ++i) m->data()[i] = static_cast<char>(rng());
    return m;
  }
  // Puts blocks of `sizes` packed from offset 0 of a device buffer, reads them back into
  // another device buffer at other offsets, and checks every byte, on the node too.
  void RoundTrip(GpuClient& gpu, const std::vector<uint64_t>& sizes, const std::string& ns) {
    uint64_t total = 0;
    for (uint64_t s : sizes) total += s;
    auto src = Device(total, total);
    auto dst = Device(total + 64 * sizes.size() + 64, 7);
    std::memset(dst->data(), 0, dst->size());
    auto src_buf = gpu.RegisterDeviceBuffer(src->data(), src->size());
    auto dst_buf = gpu.RegisterDeviceBuffer(dst->data(), dst->size());
    ASSERT_TRUE(src_buf.ok() && dst_buf.ok()) << src_buf.status() << dst_buf.status();
    std::vector<std::string> keys;
    std::vector<PutFromBlock> blocks;
    std::vector<uint64_t> src_offsets, dst_offsets, caps;
    uint64_t at = 0, dst_at = 13;
    for (size_t i = 0; i < sizes.size(); ++i) keys.push_back(ns + "-" + std::to_string(i));
    for (size_t i = 0; i < sizes.size(); ++i) {
      blocks.push_back(PutFromBlock{keys[i], "", {}, at, sizes[i]});
      src_offsets.push_back(at);
      dst_offsets.push_back(dst_at);
      caps.push_back(sizes[i]);
      at += sizes[i];
      dst_at += sizes[i] + 50;
    }
    auto put = gpu.PutFrom(ns, **src_buf, blocks);
    ASSERT_TRUE(put.ok()) << put.status();
    for (const absl::Status& st : *put) ASSERT_TRUE(st.ok()) << st;
    // What the node holds is the device bytes.
    auto held = client_->Get(ns, keys);
    ASSERT_TRUE(held.ok()) << held.status();
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE((*held)[i].found()) << keys[i];
      ASSERT_EQ((*held)[i].payload, std::string(src->data() + src_offsets[i], sizes[i])) << i;
    }
    auto got = gpu.GetInto(ns, keys, **dst_buf, dst_offsets, caps);
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE((*got)[i].found()) << (*got)[i].status;
      EXPECT_EQ((*got)[i].size, sizes[i]);
      ASSERT_EQ(std::string(dst->data() + dst_offsets[i], sizes[i]),
                std::string(src->data() + src_offsets[i], sizes[i]))
          << "block " << i << " of " << sizes[i] << " bytes";
      // The gap after each block is untouched.
      if (i + 1 < keys.size()) {
        EXPECT_EQ(std::string(dst->data() + dst_offsets[i] + sizes[i], 50), std::string(50, '\0'));
      }
    }
  }

  std::string dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<Client> client_;
  gpu::MemoryCopier copier_;
};

TEST_F(GpuClientTest, AutoStagesWhenUcxHasNoCudaMemory) {
  auto gpu = Gpu(Registration::kAuto);
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->mode(), client_->data_plane_cuda_memory() ? "direct" : "staged");
  // Two pinned staging buffers of one chunk each, no more.
  EXPECT_EQ(copier_.pinned_bytes(), 2 * kChunk);
}

TEST_F(GpuClientTest, StagedRoundTripsAreByteExactAtChunkBoundaries) {
  auto gpu = Gpu(Registration::kStaged);
  ASSERT_NE(gpu, nullptr);
  ASSERT_EQ(gpu->mode(), "staged");
  RoundTrip(*gpu, {1}, "one-byte");
  EXPECT_EQ(gpu->counters().chunks, 2u);  // one chunk each way
  RoundTrip(*gpu, std::vector<uint64_t>(8, kChunk / 4), "exactly-two-chunks");
  EXPECT_EQ(gpu->counters().chunks, 2u + 4u);
  RoundTrip(*gpu, {kChunk, kChunk - 1, 1, 3, kChunk / 3, kChunk, 777}, "uneven");
  RoundTrip(*gpu, {kChunk}, "one-full-chunk");
  std::mt19937_64 rng(5);
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 40; ++i) sizes.push_back(1 + rng() % kChunk);
  RoundTrip(*gpu, sizes, "random");
}

TEST_F(GpuClientTest, DirectRegistrationRoundTripsWithoutStagingTheGet) {
  if (client_->data_path() != "ucx") GTEST_SKIP() << "no UCX data plane here: " << client_->data_path();
  auto gpu = Gpu(Registration::kDirect);
  ASSERT_NE(gpu, nullptr);
  ASSERT_EQ(gpu->mode(), "direct");
  RoundTrip(*gpu, {1, kChunk, 3000, kChunk - 5}, "direct");
  const GpuClient::Counters c = gpu->counters();
  EXPECT_GT(c.direct_calls, 0u);
  // Only the Put's checksum copies went through staging; the Get none.
  EXPECT_EQ(c.staged_bytes, 1 + kChunk + 3000 + kChunk - 5);
  size_t to_device = 0;
  for (const auto& e : copier_.log())
    if (e.kind == gpu::MemoryCopier::LogEntry::kIssueToDevice) ++to_device;
  EXPECT_EQ(to_device, 0u);
}

TEST_F(GpuClientTest, HostMemoryIsRefusedAsADeviceBuffer) {
  auto gpu = Gpu(Registration::kStaged);
  ASSERT_NE(gpu, nullptr);
  std::string host(4096, 'x');
  auto r = gpu->RegisterDeviceBuffer(host.data(), host.size());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not device memory"), std::string::npos) << r.status();
  EXPECT_EQ(gpu->RegisterDeviceBuffer(nullptr, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GpuClientTest, ABadBlockRefusesTheWholeBatchAndStoresNothing) {
  auto gpu = Gpu(Registration::kStaged);
  ASSERT_NE(gpu, nullptr);
  auto src = Device(4 * kChunk, 1);
  auto buf = *gpu->RegisterDeviceBuffer(src->data(), src->size());
  const std::vector<std::string> keys{"k0", "k1", "k2"};
  auto expect_refused = [&](std::vector<PutFromBlock> blocks, const std::string& field) {
    auto r = gpu->PutFrom("bad", *buf, blocks);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status();
    auto present = client_->Exists("bad", keys);
    ASSERT_TRUE(present.ok());
    EXPECT_EQ(*present, (std::vector<bool>{false, false, false})) << field;
  };
  // The first block alone would fit in an earlier chunk: it must not be stored either.
  expect_refused({{keys[0], "", {}, 0, 100}, {keys[1], "", {}, 3 * kChunk, 2 * kChunk}},
                 "items[1].offset");
  expect_refused({{keys[0], "", {}, 0, kChunk}, {keys[1], "", {}, kChunk, kChunk + 1}},
                 "items[1].size");
  expect_refused({{keys[0], "", {}, 0, 100}, {"", "", {}, 100, 100}}, "items[1].key");
  expect_refused({{keys[0], "", {}, 0, 0}}, "items[0].size");

  auto dst = Device(1000, 2);
  auto dbuf = *gpu->RegisterDeviceBuffer(dst->data(), dst->size());
  const std::vector<uint64_t> offsets{0, 900}, caps{100, 200};
  auto g = gpu->GetInto("bad", {keys[0], keys[1]}, *dbuf, offsets, caps);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("offsets[1]"), std::string::npos) << g.status();
  const std::vector<uint64_t> one{0};
  g = gpu->GetInto("bad", {keys[0], keys[1]}, *dbuf, one, one);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("offsets/capacities"), std::string::npos) << g.status();
}

TEST_F(GpuClientTest, MissesAndBlocksLargerThanAStagingBufferAreAnsweredPerKey) {
  auto big = Gpu(Registration::kStaged, 4 * kChunk);
  ASSERT_NE(big, nullptr);
  auto src = Device(4 * kChunk, 3);
  auto sbuf = *big->RegisterDeviceBuffer(src->data(), src->size());
  auto put = big->PutFrom("per-key", *sbuf, {{"large", "", {}, 0, 2 * kChunk}, {"small", "", {}, 2 * kChunk, 10}});
  ASSERT_TRUE(put.ok()) << put.status();
  big.reset();

  auto gpu = Gpu(Registration::kStaged);
  ASSERT_NE(gpu, nullptr);
  auto dst = Device(4 * kChunk, 4);
  std::memset(dst->data(), 0, dst->size());
  auto dbuf = *gpu->RegisterDeviceBuffer(dst->data(), dst->size());
  const std::vector<std::string> keys{"small", "absent", "large"};
  const std::vector<uint64_t> offsets{0, 100, kChunk}, caps{100, 100, 3 * kChunk};
  auto got = gpu->GetInto("per-key", keys, *dbuf, offsets, caps);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)[0].found());
  EXPECT_EQ(std::string(dst->data(), 10), std::string(src->data() + 2 * kChunk, 10));
  EXPECT_EQ((*got)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(dst->data() + 100, 100), std::string(100, '\0'));
  EXPECT_EQ((*got)[2].status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE((*got)[2].status.message().find("staging buffer"), std::string::npos)
      << (*got)[2].status;
  EXPECT_EQ(std::string(dst->data() + kChunk, 100), std::string(100, '\0'));
}

}  // namespace
}  // namespace strata
