// HbmTier tests on CUDA device 0 (hbm_gpu_test, CTest label `gpu`); they skip, saying why,
// without CUDA or without a device. Self-contained: no servers, no files.
#include <gtest/gtest.h>

#if defined(STRATA_KERNELS_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

#include "storage/hbm_tier.h"
#include "tests/storage/hbm_test_device.h"

namespace strata {
namespace storage_test {

std::unique_ptr<DeviceMemory> HbmTestDevice(std::string* why_not) {
  absl::StatusOr<std::unique_ptr<DeviceMemory>> d = NewCudaDeviceMemory(0);
  if (!d.ok()) {
    *why_not = std::string("HBM GPU tests skipped: ") + std::string(d.status().message());
    return nullptr;
  }
  return *std::move(d);
}

}  // namespace storage_test

namespace {

TEST(HbmTierGpu, PoolIsPlainDeviceMemoryNotManaged) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  auto tier = HbmTier::Create({.capacity_bytes = 1 << 20}, std::move(device));
  ASSERT_TRUE(tier.ok()) << tier.status();
#if defined(STRATA_KERNELS_HAVE_CUDA)
  cudaPointerAttributes attr{};
  ASSERT_EQ(cudaPointerGetAttributes(&attr, (*tier)->TEST_pool()), cudaSuccess);
  EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
#endif
  EXPECT_NE((*tier)->device().Describe().find("cuda:0"), std::string::npos);
}

}  // namespace
}  // namespace strata
