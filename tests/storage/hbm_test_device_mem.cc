// HbmTier tests on the in-memory twin (storage_test), plus what only the twin can show.
#include <gtest/gtest.h>

#include "storage/hbm_tier.h"
#include "tests/storage/hbm_test_device.h"

namespace strata {
namespace storage_test {

std::unique_ptr<DeviceMemory> HbmTestDevice(std::string* /*why_not*/) {
  return NewMemDeviceMemory();
}

}  // namespace storage_test

namespace {

TEST(HbmTierTwin, PoolLargerThanTheDeviceIsRefused) {
  auto tier = HbmTier::Create({.capacity_bytes = 2 << 20, .page_bytes = 4096},
                              NewMemDeviceMemory(1 << 20));
  ASSERT_FALSE(tier.ok());
  EXPECT_EQ(tier.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(tier.status().message().find("2097152"), std::string::npos) << tier.status();
}

TEST(HbmTierTwin, StagingThatDoesNotFitTheDeviceFailsTheEncodeNotTheTier) {
  // 64 KiB pool + 64 KiB of device left: a 1 MiB staging buffer cannot be allocated.
  auto tier = HbmTier::Create(
      {.capacity_bytes = 64 << 10, .page_bytes = 4096, .staging_bytes = 1 << 20},
      NewMemDeviceMemory(128 << 10));
  ASSERT_TRUE(tier.ok()) << tier.status();
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 1, 32, 8);
  const std::string payload(l.Bytes(), '\0');
  BlockRecord r;
  r.layout = l;
  r.payload_bytes = r.stored_bytes = payload.size();
  auto slot = (*tier)->Write("ns\0k", 1, r, payload);
  ASSERT_TRUE(slot.ok());
  std::string out;
  EXPECT_EQ((*tier)->ReadEncoded("ns\0k", *slot, r, *FindCodec("int8"), &out).code(),
            absl::StatusCode::kResourceExhausted);
  // Plain reads still work.
  ASSERT_TRUE((*tier)->Read("ns\0k", *slot, &out).ok());
  EXPECT_EQ(out, payload);
}

}  // namespace
}  // namespace strata
