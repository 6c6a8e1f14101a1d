#include "cachenode/inflight_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(InflightBudget, GrowsUntilFullThenRefusesNamingTheBudget) {
  InflightBudget budget(100);
  InflightBudget::Reservation a = budget.NewReservation();
  ASSERT_TRUE(a.Grow(60).ok());
  InflightBudget::Reservation b = budget.NewReservation();
  absl::Status refused = b.Grow(41);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("limits.inflight_bytes"), absl::string_view::npos);
  EXPECT_EQ(b.bytes(), 0u);  // nothing added on refusal
  EXPECT_EQ(budget.refused(), 1u);
  ASSERT_TRUE(b.Grow(40).ok());
  EXPECT_EQ(budget.in_use(), 100u);
  a.Reset();
  EXPECT_EQ(budget.in_use(), 40u);
}

TEST(InflightBudget, ReservationsReleaseWhenDestroyedOrMoved) {
  InflightBudget budget(10);
  {
    InflightBudget::Reservation r = budget.NewReservation();
    ASSERT_TRUE(r.Grow(7).ok());
    InflightBudget::Reservation moved = std::move(r);
    EXPECT_EQ(budget.in_use(), 7u);
    InflightBudget::Reservation other = budget.NewReservation();
    ASSERT_TRUE(other.Grow(3).ok());
    other = std::move(moved);  // releases other's 3, takes moved's 7
    EXPECT_EQ(budget.in_use(), 7u);
  }
  EXPECT_EQ(budget.in_use(), 0u);
  InflightBudget::Reservation detached;  // no budget: counts nothing
  EXPECT_TRUE(detached.Grow(1u << 30).ok());
}

TEST(InflightBudget, ConcurrentReservationsNeverOverdraw) {
  InflightBudget budget(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&budget] {
      for (int i = 0; i < 10000; ++i) {
        InflightBudget::Reservation r = budget.NewReservation();
        if (r.Grow(300).ok()) {
          EXPECT_LE(budget.in_use(), 1000u);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(budget.in_use(), 0u);
}

}  // namespace
}  // namespace strata
