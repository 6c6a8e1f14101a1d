// Tenants' shares of the tiers (storage/tier_shares.h): a tenant filling the cache evicts only
// its own blocks; a share full of blocks it cannot move refuses; a reload recounts exactly.
#include "storage/tier_shares.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/tiered_store.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;

constexpr uint64_t kPage = 4096;
constexpr size_t kBlock = 4000;  // charged one page in DRAM, 4000 bytes in the MemTier "ssd"

// Shares by namespace prefix, limits per tier.
class PrefixShares final : public TierShares {
 public:
  struct Share {
    std::string prefix;
    std::vector<uint64_t> limits;  // per tier; missing: unlimited
  };
  explicit PrefixShares(std::vector<Share> shares) : shares_(std::move(shares)) {}
  size_t ShareOf(std::string_view ns) const override {
    for (size_t i = 0; i < shares_.size(); ++i) {
      if (ns.substr(0, shares_[i].prefix.size()) == shares_[i].prefix) return i;
    }
    return kNoShare;
  }
  uint64_t LimitBytes(size_t share, size_t tier) const override {
    const auto& l = shares_[share].limits;
    return tier < l.size() ? l[tier] : kUnlimited;
  }
  std::string Describe(size_t share) const override {
    return "quota '" + shares_[share].prefix + "*'";
  }

 private:
  std::vector<Share> shares_;
};

struct Fixture {
  std::unique_ptr<TieredStore> store;
  std::atomic<int64_t> now{1000};
};

std::unique_ptr<Fixture> Make(uint64_t dram_pages, uint64_t ssd_bytes, bool track = true) {
  auto f = std::make_unique<Fixture>();
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = dram_pages * kPage, .page_bytes = kPage}));
  if (ssd_bytes > 0) {
    tiers.push_back(
        std::make_unique<MemTier>(MemTierOptions{.name = "ssd", .capacity_bytes = ssd_bytes}));
  }
  TieredStoreOptions options;
  options.shards = 2;
  options.policies = std::vector<std::string>(ssd_bytes > 0 ? 2 : 1, "lru");
  options.track_shares = track;
  options.promote_on_hit = false;  // reads in the checks move nothing
  Fixture* raw = f.get();
  options.now_ms = [raw] { return raw->now.load(); };
  f->store = *TieredStore::Open(options, std::move(tiers));
  return f;
}

std::string Key(int i) { return "k" + std::to_string(i); }

// The payload read back, or "" on a miss.
std::string Read(TieredStore& s, std::string_view ns, std::string_view key) {
  std::string out;
  (void)s.Get(ns, key, [&](const BlockView& v) { out.assign(v.payload); });
  return out;
}

// B stores 20 blocks, then A writes 200: how many of B's read back byte-exact.
int BSurvivorsAfterAFills(TieredStore& store) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(store.Put("b/m", Key(i), "", {}, Bytes(kBlock, 1000 + i)).ok());
  }
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(store.Put("a/m", Key(i), "", {}, Bytes(kBlock, i)).ok()) << i;
  }
  int survivors = 0;
  for (int i = 0; i < 20; ++i) survivors += Read(store, "b/m", Key(i)) == Bytes(kBlock, 1000 + i);
  return survivors;
}

TEST(TierShares, WithoutSharesATenantFillingDramEvictsTheOther) {
  auto f = Make(64, 0);
  EXPECT_EQ(BSurvivorsAfterAFills(*f->store), 0);
}

TEST(TierShares, ATenantFillingDramEvictsOnlyItsOwnBlocks) {
  auto f = Make(64, 0);
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(
                      std::vector<PrefixShares::Share>{{"a/", {48 * kPage}}, {"b/", {32 * kPage}}}))
                  .ok());
  // The shares add up to more than the tier (68 of 64 pages): A, within its share, fills the
  // tier and then needs room that only B's blocks or its own could give. It takes its own.
  EXPECT_EQ(BSurvivorsAfterAFills(*f->store), 20);
  EXPECT_EQ(f->store->ShareBytes(0, 0), 44 * kPage);  // what B left of the tier
  EXPECT_EQ(f->store->ShareBytes(1, 0), 20 * kPage);
  // A kept 44 of its own blocks (approximately its newest: LRU per index shard), byte-exact,
  // the last one stored among them.
  int a_present = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string got = Read(*f->store, "a/m", Key(i));
    if (got.empty()) continue;
    ++a_present;
    EXPECT_TRUE(got == Bytes(kBlock, i)) << i;
  }
  EXPECT_EQ(a_present, 44);
  EXPECT_TRUE(Read(*f->store, "a/m", Key(199)) == Bytes(kBlock, 199));
}

TEST(TierShares, UnsharedNamespacesAreEvictedBeforeAShareWithinItsLimit) {
  auto f = Make(64, 0);
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(
                      std::vector<PrefixShares::Share>{{"b/", {16 * kPage}}}))
                  .ok());
  // "b/" holds 16 pages (its limit); "free/" (no share) writes 200 blocks through the rest.
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(f->store->Put("b/m", Key(i), "", {}, Bytes(kBlock, 1000 + i)).ok());
  }
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(f->store->Put("free/m", Key(i), "", {}, Bytes(kBlock, i)).ok());
  }
  for (int i = 0; i < 16; ++i)
    EXPECT_TRUE(Read(*f->store, "b/m", Key(i)) == Bytes(kBlock, 1000 + i));
}

TEST(TierShares, OwnBlocksAreDemotedWithinTheShareOfTheTierBelow) {
  // DRAM 64 pages, "ssd" 1 MB. A: 8 pages of DRAM, 20 blocks' bytes of ssd. B: 40 blocks in ssd.
  auto f = Make(64, 1 << 20);
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(std::vector<PrefixShares::Share>{
                      {"a/", {8 * kPage, 20 * kBlock}}, {"b/", {8 * kPage, 40 * kBlock}}}))
                  .ok());
  for (int i = 0; i < 48; ++i) {
    ASSERT_TRUE(f->store->Put("b/m", Key(i), "", {}, Bytes(kBlock, 1000 + i)).ok());
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(f->store->Put("a/m", Key(i), "", {}, Bytes(kBlock, i)).ok());
  }
  EXPECT_EQ(f->store->ShareBytes(0, 0), 8 * kPage);
  EXPECT_EQ(f->store->ShareBytes(0, 1), 20 * kBlock);
  int a_present = 0;
  for (int i = 0; i < 100; ++i) a_present += Read(*f->store, "a/m", Key(i)) == Bytes(kBlock, i);
  EXPECT_EQ(a_present, 28);  // its 8 DRAM and 20 ssd blocks; reading promotes within the share
  for (int i = 0; i < 48; ++i) {
    EXPECT_TRUE(Read(*f->store, "b/m", Key(i)) == Bytes(kBlock, 1000 + i)) << i;
  }
}

TEST(TierShares, AShareFullOfLeasedBlocksRefusesNamingTheQuota) {
  auto f = Make(64, 0);
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(
                      std::vector<PrefixShares::Share>{{"a/", {4 * kPage}}}))
                  .ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(f->store->Put("a/m", Key(i), "", {}, Bytes(kBlock, i)).ok());
    keys.push_back(Key(i));
  }
  ASSERT_EQ(f->store->Lookup("a/m", keys, /*lease_ms=*/10'000), 4u);
  absl::Status st = f->store->Put("a/m", "new", "", {}, Bytes(kBlock, 99));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("quota 'a/*' holds 16384 of 16384 bytes"), std::string::npos)
      << st.message();
  // A block larger than the share can never fit: refused without evicting anything.
  f->now += 20'000;  // leases over
  st = f->store->Put("a/m", "big", "", {}, Bytes(5 * kPage, 7));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Read(*f->store, "a/m", Key(i)) == Bytes(kBlock, i));
  // Once the leases are over the share makes room from its own blocks.
  EXPECT_TRUE(f->store->Put("a/m", "new", "", {}, Bytes(kBlock, 99)).ok());
  EXPECT_EQ(f->store->ShareBytes(0, 0), 4 * kPage);
}

TEST(TierShares, SettingSharesRecountsWhatTheStoreHolds) {
  auto f = Make(64, 0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f->store->Put("a/x", Key(i), "", {}, Bytes(100, i)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f->store->Put("a/y", Key(i), "", {}, Bytes(100, i)).ok());
  ASSERT_TRUE(f->store->Put("b/x", "k", "", {}, Bytes(100, 1)).ok());
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(
                      std::vector<PrefixShares::Share>{{"b/", {}}, {"a/", {}}}))
                  .ok());
  EXPECT_EQ(f->store->ShareBytes(1, 0), 8 * kPage);
  EXPECT_EQ(f->store->ShareBytes(0, 0), 1 * kPage);
  ASSERT_TRUE(f->store->Remove("a/x", Key(0)));
  EXPECT_EQ(f->store->ShareBytes(1, 0), 7 * kPage);
}

TEST(TierShares, ConcurrentTenantsEachEndAtTheirOwnShare) {
  auto f = Make(64, 0);
  ASSERT_TRUE(f->store
                  ->SetShares(std::make_shared<PrefixShares>(
                      std::vector<PrefixShares::Share>{{"a/", {24 * kPage}}, {"b/", {24 * kPage}}}))
                  .ok());
  auto writer = [&](const std::string& ns, uint32_t seed) {
    for (int i = 0; i < 300; ++i) {
      EXPECT_TRUE(f->store->Put(ns, Key(i), "", {}, Bytes(kBlock, seed + i)).ok()) << ns << i;
      (void)Read(*f->store, ns, Key(i / 2));  // readers too: hits move blocks in the policy
    }
  };
  std::thread a(writer, "a/m", 0), b(writer, "b/m", 10'000);
  a.join();
  b.join();
  EXPECT_EQ(f->store->ShareBytes(0, 0), 24 * kPage);
  EXPECT_EQ(f->store->ShareBytes(1, 0), 24 * kPage);
  int present = 0;
  for (int i = 0; i < 300; ++i) {
    for (const auto& [ns, seed] : {std::pair<std::string, uint32_t>{"a/m", 0}, {"b/m", 10'000}}) {
      const std::string got = Read(*f->store, ns, Key(i));
      if (got.empty()) continue;
      ++present;
      EXPECT_EQ(got, Bytes(kBlock, seed + i)) << ns << i;
    }
  }
  EXPECT_EQ(present, 48);
}

TEST(TierShares, AStoreThatDoesNotTrackRefusesShares) {
  auto f = Make(8, 0, /*track=*/false);
  EXPECT_EQ(f->store->SetShares(nullptr).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strata
