// GpuClient with real CUDA memory (cudaMalloc through the CUDA copier) through a strata-node.
// Labelled `gpu` in CTest; every test skips, saying why, without a CUDA build or device.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "client/gpu_client.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"

namespace strata {
namespace {

class GpuClientCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto copier = gpu::NewCudaCopier();
    if (!copier.ok()) GTEST_SKIP() << "no GPU: " << copier.status().message();
    copier_ = *std::move(copier);
  }
  // Copies host bytes to or from device memory through a pinned buffer.
  void ToDevice(char* device, const std::string& bytes) {
    auto pinned = *copier_->AllocPinned(bytes.size());
    std::memcpy(pinned->data(), bytes.data(), bytes.size());
    auto stream = *copier_->NewStream();
    ASSERT_TRUE(stream->CopyToDevice(device, pinned->data(), bytes.size()).ok());
    ASSERT_TRUE(stream->Synchronize().ok());
  }
  std::string FromDevice(const char* device, size_t n) {
    auto pinned = *copier_->AllocPinned(n);
    auto stream = *copier_->NewStream();
    EXPECT_TRUE(stream->CopyToHost(pinned->data(), device, n).ok());
    EXPECT_TRUE(stream->Synchronize().ok());
    return std::string(pinned->data(), n);
  }
  std::unique_ptr<gpu::DeviceCopier> copier_;
};

TEST_F(GpuClientCudaTest, TellsDeviceMemoryFromHostMemory) {
  auto device = copier_->AllocDevice(4096);
  ASSERT_TRUE(device.ok()) << device.status();
  auto pinned = *copier_->AllocPinned(4096);
  std::string host(4096, 'h');
  EXPECT_TRUE(*copier_->IsDeviceMemory((*device)->data()));
  EXPECT_FALSE(*copier_->IsDeviceMemory(pinned->data()));
  EXPECT_FALSE(*copier_->IsDeviceMemory(host.data()));
}

TEST_F(GpuClientCudaTest, DeviceBuffersRoundTripThroughANodeByteExact) {
  const std::string dir = testing::FreshDir("gpu-client-cuda");
  auto node = testing::StartNode(dir, {"--dram", "256MiB", "--ssd", "0"});
  ASSERT_NE(node, nullptr);
  auto client = testing::ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  GpuClientOptions o;
  o.chunk_bytes = 1 << 20;
  auto gpu = GpuClient::Create(client.get(), copier_.get(), o);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  std::printf("copier: %s; mode: %s; data path: %s\n", copier_->Describe().c_str(),
              std::string((*gpu)->mode()).c_str(), std::string(client->data_path()).c_str());

  const std::vector<uint64_t> sizes{1, 1 << 20, (1 << 20) - 1, 12345, 256 << 10, 256 << 10,
                                    256 << 10, 256 << 10, 3};
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  std::string bytes(total, '\0');
  std::mt19937_64 rng(9);
  for (char& c : bytes) c = static_cast<char>(rng());
  auto src = *copier_->AllocDevice(total);
  auto dst = *copier_->AllocDevice(total);
  ToDevice(src->data(), bytes);
  ToDevice(dst->data(), std::string(total, '\0'));
  auto sbuf = (*gpu)->RegisterDeviceBuffer(src->data(), total);
  auto dbuf = (*gpu)->RegisterDeviceBuffer(dst->data(), total);
  ASSERT_TRUE(sbuf.ok() && dbuf.ok()) << sbuf.status() << dbuf.status();

  std::vector<std::string> keys;
  for (size_t i = 0; i < sizes.size(); ++i) keys.push_back("cuda-" + std::to_string(i));
  std::vector<PutFromBlock> blocks;
  std::vector<uint64_t> offsets;
  uint64_t at = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    blocks.push_back(PutFromBlock{keys[i], "", {}, at, sizes[i]});
    offsets.push_back(at);
    at += sizes[i];
  }
  auto put = (*gpu)->PutFrom("cuda", **sbuf, blocks);
  ASSERT_TRUE(put.ok()) << put.status();
  for (const absl::Status& st : *put) ASSERT_TRUE(st.ok()) << st;
  auto held = client->Get("cuda", keys);
  ASSERT_TRUE(held.ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ((*held)[i].payload, bytes.substr(offsets[i], sizes[i])) << i;
  }
  auto got = (*gpu)->GetInto("cuda", keys, **dbuf, offsets, sizes);
  ASSERT_TRUE(got.ok()) << got.status();
  for (const GetIntoResult& r : *got) ASSERT_TRUE(r.found()) << r.status;
  EXPECT_TRUE(FromDevice(dst->data(), total) == bytes);
}

}  // namespace
}  // namespace strata
