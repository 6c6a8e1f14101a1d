#include "storage/page_allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace strata {
namespace {

TEST(PageAllocator, NeverHandsOutMoreThanItHas) {
  PageAllocator a(10);
  auto x = a.Allocate(4);
  auto y = a.Allocate(6);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(a.used_pages(), 10u);
  EXPECT_FALSE(a.Allocate(1).has_value());
  a.Free(*x, 4);
  EXPECT_FALSE(a.Allocate(5).has_value());
  EXPECT_EQ(*a.Allocate(4), *x);  // reuse of the freed run
}

TEST(PageAllocator, CoalescesNeighbours) {
  PageAllocator a(12);
  auto p0 = *a.Allocate(4), p1 = *a.Allocate(4), p2 = *a.Allocate(4);
  a.Free(p0, 4);
  a.Free(p2, 4);
  EXPECT_EQ(a.largest_free_run(), 4u);
  a.Free(p1, 4);
  EXPECT_EQ(a.largest_free_run(), 12u);
  EXPECT_EQ(a.free_extents(), 1u);
  EXPECT_EQ(*a.Allocate(12), 0u);
}

TEST(PageAllocator, BestFitKeepsLargeRunsWhole) {
  PageAllocator a(20);
  auto a1 = *a.Allocate(2);
  auto hold = *a.Allocate(1);
  auto b = *a.Allocate(8);
  (void)hold;
  a.Free(a1, 2);                  // free runs: [0,2) and the tail [11,20)
  a.Free(b, 8);                   // [3,20) now
  EXPECT_EQ(*a.Allocate(2), a1);  // the small hole, not the big run
  EXPECT_EQ(a.largest_free_run(), 17u);
}

TEST(PageAllocator, RandomWorkloadKeepsAccountsExact) {
  PageAllocator a(1000);
  std::mt19937 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  std::vector<bool> owned(1000, false);
  for (int i = 0; i < 5000; ++i) {
    if (live.empty() || rng() % 2 == 0) {
      const uint64_t n = 1 + rng() % 40;
      auto p = a.Allocate(n);
      if (!p) continue;
      for (uint64_t j = *p; j < *p + n; ++j) {
        ASSERT_LT(j, 1000u);
        ASSERT_FALSE(owned[j]) << "page handed out twice";
        owned[j] = true;
      }
      live.emplace_back(*p, n);
    } else {
      const size_t k = rng() % live.size();
      for (uint64_t j = live[k].first; j < live[k].first + live[k].second; ++j) owned[j] = false;
      a.Free(live[k].first, live[k].second);
      live.erase(live.begin() + static_cast<long>(k));
    }
    uint64_t used = 0;
    for (auto& [p, n] : live) used += n;
    ASSERT_EQ(a.used_pages(), used);
  }
}

}  // namespace
}  // namespace strata
