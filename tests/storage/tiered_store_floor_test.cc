// TieredStore::Put's first_tier (the floor storage/pruned_views.h puts full blocks on): the block
// is placed at or below it, a hit never promotes it above it, and re-putting the same content
// that sits above the floor moves it down.
#include <gtest/gtest.h>

#include <string>

#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/tiered_store.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;

std::unique_ptr<TieredStore> TwoTiers() {
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 4096, .page_bytes = 4096}));
  tiers.push_back(
      std::make_unique<MemTier>(MemTierOptions{.name = "ssd", .capacity_bytes = 1 << 20}));
  TieredStoreOptions o;
  o.promote_on_hit = true;
  return *TieredStore::Open(o, std::move(tiers));
}

std::string TierOf(TieredStore& s, std::string_view ns, std::string_view key) {
  auto d = s.Describe(ns, key);
  return d.has_value() ? d->tier : "absent";
}

TEST(TieredStoreFloorTest, PlacedAtTheFloorAndNeverPromotedAboveIt) {
  auto store = TwoTiers();
  const std::string payload = Bytes(5000, 1);
  ASSERT_TRUE(store->Put("ns", "floored", "", BlockLayout{}, payload, std::nullopt, 1).ok());
  ASSERT_TRUE(store->Put("ns", "plain", "", BlockLayout{}, payload).ok());
  EXPECT_EQ(TierOf(*store, "ns", "floored"), "ssd");
  EXPECT_EQ(TierOf(*store, "ns", "plain"), "dram");
  for (int i = 0; i < 3; ++i) {
    std::string got;
    ASSERT_TRUE(store->Get("ns", "floored", [&](const BlockView& v) { got = v.payload; }).ok());
    EXPECT_EQ(got, payload);
  }
  EXPECT_EQ(TierOf(*store, "ns", "floored"), "ssd");
  EXPECT_EQ(store->Stats().promotions, 0u);

  // A first_tier past the last tier means the last tier.
  ASSERT_TRUE(store->Put("ns", "past", "", BlockLayout{}, payload, std::nullopt, 7).ok());
  EXPECT_EQ(TierOf(*store, "ns", "past"), "ssd");
}

TEST(TieredStoreFloorTest, SameContentAboveTheFloorMovesDown) {
  auto store = TwoTiers();
  const std::string payload = Bytes(3000, 2);
  ASSERT_TRUE(store->Put("ns", "k", "", BlockLayout{}, payload).ok());
  EXPECT_EQ(TierOf(*store, "ns", "k"), "dram");
  ASSERT_TRUE(store->Put("ns", "k", "", BlockLayout{}, payload, std::nullopt, 1).ok());
  EXPECT_EQ(TierOf(*store, "ns", "k"), "ssd");
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.tiers[0].blocks, 0u);
  EXPECT_EQ(stats.tiers[1].blocks, 1u);
  // And again at the floor: a refresh, nothing moves.
  ASSERT_TRUE(store->Put("ns", "k", "", BlockLayout{}, payload, std::nullopt, 1).ok());
  EXPECT_EQ(TierOf(*store, "ns", "k"), "ssd");
  EXPECT_EQ(store->Stats().tiers[1].blocks, 1u);
}

}  // namespace
}  // namespace strata
