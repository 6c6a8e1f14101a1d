#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/ssd_tier.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::TempDir;

BlockRecord RecordFor(const std::string& bytes) {
  BlockRecord r;
  r.payload_bytes = r.stored_bytes = bytes.size();
  r.checksum = 42;
  return r;
}

TEST(DramTier, ChargesWholePagesAndHoldsItsBound) {
  auto tier = *DramTier::Create({.capacity_bytes = 64 * 1024, .page_bytes = 4096});
  EXPECT_EQ(tier->capacity_bytes(), 64u * 1024);
  const std::string a(5000, 'a');
  auto slot = tier->Write("x", 1, RecordFor(a), a);
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(slot->charged_bytes, 8192u);
  EXPECT_EQ(tier->used_bytes(), 8192u);
  EXPECT_EQ(*tier->View(*slot), a);
  std::string back;
  ASSERT_TRUE(tier->Read("x", *slot, &back).ok());
  EXPECT_EQ(back, a);
  const std::string big(60 * 1024, 'b');
  EXPECT_EQ(tier->Write("y", 2, RecordFor(big), big).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(tier->used_bytes(), 8192u);  // a failed write changes nothing
  ASSERT_TRUE(tier->Erase("x", *slot).ok());
  EXPECT_EQ(tier->used_bytes(), 0u);
  EXPECT_TRUE(tier->Write("y", 2, RecordFor(big), big).ok());
}

TEST(DramTier, RejectsBadOptions) {
  EXPECT_EQ(DramTier::Create({.capacity_bytes = 100, .page_bytes = 4096}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DramTier::Create({.capacity_bytes = 1 << 20, .page_bytes = 3000}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SsdTier, ContentSurvivesReopenAndVersionsAreDistinct) {
  const std::string dir = TempDir("ssd-tier");
  const std::string id("ns\0key", 6);
  const std::string v1(10000, '1'), v2(20000, '2');
  TierSlot s1, s2;
  {
    auto tier = *SsdTier::Open({.dir = dir, .capacity_bytes = 1 << 20});
    s1 = *tier->Write(id, 5, RecordFor(v1), v1);
    s2 = *tier->Write(id, 6, RecordFor(v2), v2);
    EXPECT_EQ(tier->used_bytes(), s1.charged_bytes + s2.charged_bytes);
    ASSERT_TRUE(tier->Erase(id, s1).ok());
    std::string back;
    ASSERT_TRUE(tier->Read(id, s2, &back).ok());  // erasing v5 left v6 alone
    EXPECT_EQ(back, v2);
    EXPECT_EQ(tier->Read(id, s1, &back).code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(tier->Flush().ok());
  }
  auto tier = *SsdTier::Open({.dir = dir, .capacity_bytes = 1 << 20});
  int found = 0;
  uint64_t dropped = 0;
  ASSERT_TRUE(tier->Recover(
                      [&](std::string_view got, const BlockRecord& r, const TierSlot& slot) {
                        ++found;
                        EXPECT_EQ(got, id);
                        EXPECT_EQ(slot.offset, 6u);
                        EXPECT_EQ(r.stored_bytes, v2.size());
                        std::string back;
                        EXPECT_TRUE(tier->Read(got, slot, &back).ok());
                        EXPECT_EQ(back, v2);
                      },
                      &dropped)
                  .ok());
  EXPECT_EQ(found, 1);
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(tier->used_bytes(), s2.charged_bytes);
  tier.reset();
  std::filesystem::remove_all(dir);
}

TEST(SsdTier, HoldsItsCapacityBound) {
  const std::string dir = TempDir("ssd-bound");
  auto tier = *SsdTier::Open({.dir = dir, .capacity_bytes = 50000});
  const std::string v(20000, 'v');
  ASSERT_TRUE(tier->Write("a", 1, RecordFor(v), v).ok());
  ASSERT_TRUE(tier->Write("b", 2, RecordFor(v), v).ok());
  EXPECT_EQ(tier->Write("c", 3, RecordFor(v), v).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_LE(tier->used_bytes(), 50000u);
  tier.reset();
  std::filesystem::remove_all(dir);
}

TEST(SsdTier, SecondOpenOfTheSameDirectoryIsRefused) {
  const std::string dir = TempDir("ssd-lock");
  auto first = *SsdTier::Open({.dir = dir});
  auto second = SsdTier::Open({.dir = dir});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  first.reset();
  std::filesystem::remove_all(dir);
}

TEST(MemTier, StoresVersionsAndCanSkipPayloads) {
  MemTier keep({.name = "ssd", .capacity_bytes = 100});
  ASSERT_TRUE(keep.Write("a", 1, RecordFor("xyz"), "xyz").ok());
  auto s2 = *keep.Write("a", 2, RecordFor("uvw"), "uvw");
  std::string back;
  ASSERT_TRUE(keep.Read("a", s2, &back).ok());
  EXPECT_EQ(back, "uvw");
  MemTier counting({.name = "ssd", .capacity_bytes = 4, .keep_bytes = false});
  auto s = *counting.Write("a", 1, RecordFor("1234"), "1234");
  ASSERT_TRUE(counting.Read("a", s, &back).ok());
  EXPECT_EQ(back.size(), 4u);
  EXPECT_EQ(counting.Write("b", 2, RecordFor("x"), "x").status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace strata
