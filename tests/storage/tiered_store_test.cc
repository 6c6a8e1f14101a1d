#include "storage/tiered_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "common/checksum.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/ssd_tier.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;
using storage_test::TempDir;

constexpr uint64_t kPage = 4096;

struct Fixture {
  std::unique_ptr<TieredStore> store;
  MemTier* ssd = nullptr;  // owned by store
  std::atomic<int64_t> now{1000};
};

// DRAM of `dram_pages` pages over an in-memory "ssd" of `ssd_bytes` (0: no second tier).
std::unique_ptr<Fixture> Make(uint64_t dram_pages, uint64_t ssd_bytes,
                              TieredStoreOptions options = {}) {
  auto f = std::make_unique<Fixture>();
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = dram_pages * kPage, .page_bytes = kPage}));
  if (ssd_bytes > 0) {
    auto ssd =
        std::make_unique<MemTier>(MemTierOptions{.name = "ssd", .capacity_bytes = ssd_bytes});
    f->ssd = ssd.get();
    tiers.push_back(std::move(ssd));
  }
  Fixture* raw = f.get();
  options.now_ms = [raw] { return raw->now.load(); };
  if (options.shards == 0) options.shards = 2;
  f->store = *TieredStore::Open(options, std::move(tiers));
  return f;
}

absl::StatusOr<std::pair<std::string, std::string>> Read(TieredStore& s, std::string_view ns,
                                                         std::string_view key) {
  std::pair<std::string, std::string> out;
  absl::Status st = s.Get(ns, key, [&](const BlockView& v) {
    out.first.assign(v.payload);
    out.second.assign(v.tier);
  });
  if (!st.ok()) return st;
  return out;
}

TEST(TieredStore, RoundTripsInDram) {
  auto f = Make(64, 0);
  const std::string v = Bytes(10000, 1);
  ASSERT_TRUE(f->store->Put("ns", "k1", "", {}, v).ok());
  auto got = Read(*f->store, "ns", "k1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->first, v);
  EXPECT_EQ(got->second, "dram");
  EXPECT_EQ(Read(*f->store, "ns", "k2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Read(*f->store, "other", "k1").status().code(), absl::StatusCode::kNotFound);
  auto stats = f->store->Stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
}

TEST(TieredStore, DemotesToSsdKeepingEveryByteAndTheDramBound) {
  auto f = Make(/*dram_pages=*/64, /*ssd_bytes=*/4 << 20);
  std::vector<std::string> values;
  for (int i = 0; i < 60; ++i) {
    values.push_back(Bytes(16384, i));
    ASSERT_TRUE(f->store->Put("ns", "k" + std::to_string(i), "", {}, values.back()).ok()) << i;
    ASSERT_LE(f->store->tier(0).used_bytes(), 64 * kPage);
  }
  auto stats = f->store->Stats();
  EXPECT_GT(stats.demotions, 0u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.tiers[0].blocks + stats.tiers[1].blocks, 60u);
  EXPECT_GT(stats.tiers[1].blocks, 0u);
  // Once above the high watermark, DRAM was drained to the low one.
  EXPECT_LE(f->store->tier(0).used_bytes(), 0.95 * 64 * kPage);
  for (int i = 0; i < 60; ++i) {
    auto got = Read(*f->store, "ns", "k" + std::to_string(i));
    ASSERT_TRUE(got.ok()) << i;
    ASSERT_EQ(got->first, values[i]) << i;
  }
}

TEST(TieredStore, PromotesOnHitAndLruDemotesTheColdest) {
  TieredStoreOptions o;
  o.shards = 1;                   // one LRU order over all blocks
  auto f = Make(16, 1 << 20, o);  // 64 KiB DRAM: four 16 KiB blocks at most
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(f->store->Put("ns", "k" + std::to_string(i), "", {}, Bytes(16384, i)).ok());
  }
  // 4 x 16 KiB = 100% > 95%: drained to <= 85%, so the least recent (k0) went down.
  auto got = Read(*f->store, "ns", "k0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->second, "ssd");
  EXPECT_EQ(got->first, Bytes(16384, 0));
  got = Read(*f->store, "ns", "k0");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->second, "dram");  // promoted by the first hit
  EXPECT_EQ(f->store->Stats().promotions, 1u);
  EXPECT_EQ(f->store->Stats().hits_by_tier[1], 1u);
}

TEST(TieredStore, CorruptSsdBlockIsAMissDeletedAndCounted) {
  auto f = Make(8, 1 << 20);  // 32 KiB DRAM
  const std::string v = Bytes(20000, 9);
  ASSERT_TRUE(f->store->Put("ns", "victim", "", {}, v).ok());
  ASSERT_TRUE(f->store->Put("ns", "pusher", "", {}, Bytes(20000, 10)).ok());
  ASSERT_EQ(f->store->Stats().tiers[1].blocks, 1u);
  ASSERT_TRUE(f->ssd->TEST_Corrupt(std::string("ns\0victim", 9), 1234).ok());
  auto got = Read(*f->store, "ns", "victim");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(f->store->Stats().checksum_failures, 1u);
  EXPECT_FALSE(f->store->Exists("ns", "victim"));
  EXPECT_EQ(f->store->Stats().tiers[1].blocks, 0u);
  EXPECT_EQ(f->ssd->used_bytes(), 0u);
}

TEST(TieredStore, LookupCountsTheLeadingRunOfAChain) {
  auto f = Make(256, 0);
  std::vector<std::string> keys = {"b0", "b1", "b2", "b3", "b4"};
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(f->store->Put("ns", keys[i], i ? keys[i - 1] : "", {}, Bytes(100, i)).ok());
  }
  EXPECT_EQ(f->store->Lookup("ns", keys), 5u);
  ASSERT_TRUE(f->store->Remove("ns", "b2"));
  EXPECT_FALSE(f->store->Remove("ns", "b2"));
  EXPECT_EQ(f->store->Lookup("ns", keys), 2u);
  EXPECT_EQ(f->store->Lookup("other", keys), 0u);
}

TEST(TieredStore, LeasedBlocksSurvivePressureUntilTheLeaseEnds) {
  TieredStoreOptions o;
  o.shards = 1;
  auto f = Make(16, 0, o);  // one tier, room for four 16 KiB blocks
  std::vector<std::string> keys = {"a", "b"};
  for (const auto& k : keys) ASSERT_TRUE(f->store->Put("ns", k, "", {}, Bytes(16384, 1)).ok());
  EXPECT_EQ(f->store->Lookup("ns", keys, /*lease_ms=*/500), 2u);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(f->store->Put("ns", "x" + std::to_string(i), "", {}, Bytes(16384, 2)).ok());
  }
  EXPECT_TRUE(f->store->Exists("ns", "a"));
  EXPECT_TRUE(f->store->Exists("ns", "b"));
  EXPECT_EQ(f->store->Stats().leased_bytes, 2 * 16384u);
  f->now += 501;  // the lease ends: a and b are the coldest and go first
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f->store->Put("ns", "y" + std::to_string(i), "", {}, Bytes(16384, 3)).ok());
  }
  EXPECT_FALSE(f->store->Exists("ns", "a"));
  EXPECT_FALSE(f->store->Exists("ns", "b"));
}

// Pins hold a block's bytes in place for the data plane: not evicted, not moved, and still intact
// when the block is removed or replaced meanwhile; its space comes back at the last Unpin.
TEST(TieredStore, PinnedBlocksStayInPlaceUntilUnpinned) {
  TieredStoreOptions o;
  o.shards = 1;
  auto f = Make(16, 1 << 20, o);  // DRAM: room for four 16 KiB blocks
  const std::string a = Bytes(16384, 1), b = Bytes(16384, 2);
  ASSERT_TRUE(f->store->Put("ns", "a", "", {}, a).ok());
  absl::StatusOr<BlockPin> pin = f->store->Pin("ns", "a");
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->bytes, a);
  EXPECT_EQ(pin->tier, "dram");
  EXPECT_EQ(f->store->pinned_blocks(), 1u);
  for (int i = 0; i < 8; ++i) {  // pressure: everything else moves to the second tier
    ASSERT_TRUE(f->store->Put("ns", "x" + std::to_string(i), "", {}, Bytes(16384, 3)).ok());
  }
  EXPECT_EQ(Read(*f->store, "ns", "a")->second, "dram") << "a pinned block is never demoted";
  // Replaced while pinned: readers see the new bytes, the pin still sees the old ones.
  ASSERT_TRUE(f->store->Put("ns", "a", "", {}, b).ok());
  EXPECT_EQ(Read(*f->store, "ns", "a")->first, b);
  EXPECT_EQ(pin->bytes, a);
  const uint64_t used_before = f->store->Stats().tiers[0].used_bytes;
  f->store->Unpin(*pin);
  EXPECT_EQ(f->store->pinned_blocks(), 0u);
  EXPECT_LE(f->store->Stats().tiers[0].used_bytes, used_before - 16384) << "space freed at Unpin";

  // Removed while pinned (twice): freed at the last Unpin only.
  auto p1 = f->store->Pin("ns", "a");
  auto p2 = f->store->Pin("ns", "a");
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_TRUE(f->store->Remove("ns", "a"));
  EXPECT_FALSE(f->store->Exists("ns", "a"));
  f->store->Unpin(*p1);
  EXPECT_EQ(p2->bytes, b);
  f->store->Unpin(*p2);

  // A miss, and a block in the second tier (not readable in place).
  EXPECT_TRUE(absl::IsNotFound(f->store->Pin("ns", "nope").status()));
  o.promote_on_hit = false;
  auto g = Make(4, 1 << 20, o);
  ASSERT_TRUE(g->store->Put("ns", "big", "", {}, Bytes(3 * 16384, 4)).ok());
  ASSERT_TRUE(g->store->Put("ns", "big2", "", {}, Bytes(3 * 16384, 5)).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(g->store->Pin("ns", "big").status()))
      << "a block in the second tier is copied by Get, not pinned";

  // ReadableInPlace says what Pin would do, and counts nothing. (This store's 16 KiB of DRAM
  // holds "small"; both 48 KiB blocks went to the second tier.)
  ASSERT_TRUE(g->store->Put("ns", "small", "", {}, Bytes(8192, 6)).ok());
  const StoreStats before = g->store->Stats();
  EXPECT_FALSE(g->store->ReadableInPlace("ns", "big"));
  EXPECT_TRUE(g->store->ReadableInPlace("ns", "small"));
  EXPECT_TRUE(g->store->ReadableInPlace("ns", "nope")) << "a miss needs no read either";
  const StoreStats after = g->store->Stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
  absl::StatusOr<BlockPin> in_place = g->store->Pin("ns", "small");
  ASSERT_TRUE(in_place.ok()) << in_place.status();
  g->store->Unpin(*in_place);
}

// Reserve/CommitReserved: a block written in place (as the data plane reads one from a client)
// is invisible and never evicted until committed, is then read back exactly, replaces an older
// block under its key, and gives its room back when aborted.
TEST(TieredStore, ReservedBlocksAreWrittenInPlaceThenPublished) {
  TieredStoreOptions o;
  o.shards = 1;
  auto f = Make(16, 1 << 20, o);  // DRAM: four 16 KiB blocks
  const std::string a = Bytes(16384, 7);
  absl::StatusOr<TieredStore::Reservation> r = f->store->Reserve("ns", "a", a.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, 0u);
  EXPECT_EQ(r->size, a.size());
  EXPECT_FALSE(f->store->Exists("ns", "a")) << "invisible until committed";
  std::memcpy(r->data, a.data(), a.size());
  for (int i = 0; i < 8; ++i) {  // pressure: the reserved room is not a victim
    ASSERT_TRUE(f->store->Put("ns", "x" + std::to_string(i), "", {}, Bytes(16384, 3)).ok());
  }
  EXPECT_EQ(std::string(r->data, a.size()), a) << "reserved bytes untouched by eviction";
  const uint64_t puts = f->store->Stats().puts;
  f->store->CommitReserved(*r, "ns", "", {}, BlockChecksum(a));
  EXPECT_EQ(f->store->Stats().puts, puts + 1);
  auto got = Read(*f->store, "ns", "a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->first, a);
  EXPECT_EQ(got->second, "dram");

  // A second commit under the same key replaces the block; the same content only refreshes.
  const std::string b = Bytes(8192, 8);
  r = f->store->Reserve("ns", "a", b.size());
  ASSERT_TRUE(r.ok()) << r.status();
  std::memcpy(r->data, b.data(), b.size());
  f->store->CommitReserved(*r, "ns", "", {}, BlockChecksum(b));
  EXPECT_EQ(Read(*f->store, "ns", "a")->first, b);
  const uint64_t used = f->store->Stats().tiers[0].used_bytes;
  r = f->store->Reserve("ns", "a", b.size());
  ASSERT_TRUE(r.ok()) << r.status();
  std::memcpy(r->data, b.data(), b.size());
  f->store->CommitReserved(*r, "ns", "", {}, BlockChecksum(b));
  EXPECT_EQ(f->store->Stats().tiers[0].used_bytes, used) << "identical content: room given back";

  // Aborted: nothing stored, the room comes back.
  r = f->store->Reserve("ns", "gone", 4096);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(f->store->Stats().tiers[0].used_bytes, used + 4096);
  f->store->AbortReserved(*r);
  EXPECT_EQ(f->store->Stats().tiers[0].used_bytes, used);
  EXPECT_FALSE(f->store->Exists("ns", "gone"));

  // Larger than the first tier: Put's business (it goes to the second tier).
  EXPECT_TRUE(absl::IsFailedPrecondition(f->store->Reserve("ns", "big", 1 << 20).status()));
}

TEST(TieredStore, ReserveRefusesTiersThatDoNotHoldTheBlockPlainOrHaveNoRoom) {
  TieredStoreOptions o;
  o.shards = 1;
  o.tier_codecs = {"shuffle-lz4", "raw"};  // DRAM stores blocks encoded
  auto encoded = Make(16, 1 << 20, o);
  EXPECT_TRUE(absl::IsFailedPrecondition(encoded->store->Reserve("ns", "k", 4096).status()));

  // Everything leased: no room can be made.
  TieredStoreOptions l;
  l.shards = 1;
  l.max_leased_bytes = 1 << 20;
  auto f = Make(9, 0, l);  // 36 KiB, one tier: two 16 KiB blocks stay under the watermark
  std::vector<std::string> keys = {"a", "b"};
  for (const auto& k : keys) ASSERT_TRUE(f->store->Put("ns", k, "", {}, Bytes(16384, 1)).ok());
  ASSERT_EQ(f->store->Lookup("ns", keys, 60'000), 2u);
  EXPECT_TRUE(absl::IsResourceExhausted(f->store->Reserve("ns", "c", 16384).status()));
  EXPECT_TRUE(f->store->Exists("ns", "a") && f->store->Exists("ns", "b"));
}

TEST(TieredStore, LeasesAreBounded) {
  TieredStoreOptions o;
  o.max_leased_bytes = 16384;
  o.max_lease_ms = 100;
  auto f = Make(64, 0, o);
  std::vector<std::string> keys = {"a", "b"};
  for (const auto& k : keys) ASSERT_TRUE(f->store->Put("ns", k, "", {}, Bytes(16384, 1)).ok());
  EXPECT_EQ(f->store->Lookup("ns", keys, 60'000), 2u);  // both match, one fits the lease budget
  EXPECT_EQ(f->store->Stats().leased_bytes, 16384u);
  f->now += 101;  // capped at max_lease_ms
  f->store->ReleaseLeases("ns", keys);
  EXPECT_EQ(f->store->Stats().leased_bytes, 0u);
}

TEST(TieredStore, FullOfLeasedBlocksAnswersResourceExhaustedAndKeepsThem) {
  TieredStoreOptions o;
  o.shards = 1;
  o.max_leased_bytes = 1 << 20;
  auto f = Make(9, 0, o);  // 36 KiB, one tier: two 16 KiB blocks stay under the watermark
  std::vector<std::string> keys = {"a", "b"};
  ASSERT_TRUE(f->store->Put("ns", "a", "", {}, Bytes(16384, 1)).ok());
  ASSERT_TRUE(f->store->Put("ns", "b", "", {}, Bytes(16384, 2)).ok());
  ASSERT_EQ(f->store->Lookup("ns", keys, 10'000), 2u);
  auto st = f->store->Put("ns", "c", "", {}, Bytes(16384, 3));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(f->store->Stats().no_space, 1u);
  EXPECT_EQ(Read(*f->store, "ns", "a")->first, Bytes(16384, 1));
  EXPECT_EQ(Read(*f->store, "ns", "b")->first, Bytes(16384, 2));
  // Larger than every tier even when empty: retrying cannot help, and the message says why.
  const absl::Status huge = f->store->Put("ns", "huge", "", {}, Bytes(64 * 1024, 4));
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument) << huge;
  EXPECT_EQ(huge.message(),
            "block of 65536 bytes is larger than every tier (the largest, dram, holds 36864 "
            "bytes)");
}

TEST(TieredStore, ReplacesDifferentContentAndRefreshesIdentical) {
  auto f = Make(16, 1 << 20);
  ASSERT_TRUE(f->store->Put("ns", "k", "", {}, "first").ok());
  ASSERT_TRUE(f->store->Put("ns", "k", "", {}, "first").ok());
  EXPECT_EQ(f->store->Stats().tiers[0].blocks, 1u);
  ASSERT_TRUE(f->store->Put("ns", "k", "", {}, "second!").ok());
  EXPECT_EQ(Read(*f->store, "ns", "k")->first, "second!");
  EXPECT_EQ(f->store->Stats().tiers[0].blocks, 1u);
  EXPECT_EQ(f->store->tier(0).used_bytes(), kPage);
}

TEST(TieredStore, EvictNamespaceTouchesOnlyThatNamespace) {
  auto f = Make(64, 1 << 20);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f->store->Put("t1", "k" + std::to_string(i), "", {}, Bytes(1000, i)).ok());
    ASSERT_TRUE(f->store->Put("t2", "k" + std::to_string(i), "", {}, Bytes(1000, i)).ok());
  }
  auto r = f->store->EvictNamespace("t1");
  EXPECT_EQ(r.blocks, 5u);
  EXPECT_EQ(r.bytes, 5000u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(f->store->Exists("t1", "k" + std::to_string(i)));
    EXPECT_TRUE(f->store->Exists("t2", "k" + std::to_string(i)));
  }
}

TEST(TieredStore, UnknownPolicyAndBadWatermarksAreRejected) {
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = 1 << 20}));
  TieredStoreOptions o;
  o.policies = {"nope"};
  auto st = TieredStore::Open(o, std::move(tiers)).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nope"), absl::string_view::npos);
  std::vector<std::unique_ptr<Tier>> tiers2;
  tiers2.push_back(*DramTier::Create({.capacity_bytes = 1 << 20}));
  TieredStoreOptions w;
  w.low_watermark = 0.9;
  w.high_watermark = 0.5;
  EXPECT_EQ(TieredStore::Open(w, std::move(tiers2)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TieredStore, ConcurrentWritersAndReadersSeeExactBytes) {
  auto f = Make(64, 2 << 20);
  std::atomic<int> wrong{0};
  auto worker = [&](int seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 400; ++i) {
      const int k = static_cast<int>(rng() % 50);
      const std::string key = "k" + std::to_string(k);
      if (rng() % 2) {
        (void)f->store->Put("ns", key, "", {}, Bytes(8192 + k * 10, k));
      } else {
        auto got = Read(*f->store, "ns", key);
        if (got.ok() && got->first != Bytes(8192 + k * 10, k)) ++wrong;
      }
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(f->store->tier(0).used_bytes(), 64 * kPage);
}

// The real SSD tier: blocks demoted to RocksDB survive a restart byte-exact, and a byte flipped
// on disk turns that block into a counted miss.
TEST(TieredStoreOnRocksDb, SsdBlocksSurviveRestartAndCorruptionIsNeverServed) {
  const std::string dir = TempDir("store-restart");
  std::vector<std::string> values;
  auto open = [&]() {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 16 * kPage, .page_bytes = kPage}));
    tiers.push_back(*SsdTier::Open({.dir = dir, .capacity_bytes = 8 << 20}));
    TieredStoreOptions o;
    o.shards = 4;
    return *TieredStore::Open(o, std::move(tiers));
  };
  std::vector<std::string> in_ssd;
  {
    auto store = open();
    for (int i = 0; i < 30; ++i) {
      values.push_back(Bytes(12000 + i, 100 + i));
      const std::string parent = i ? "k" + std::to_string(i - 1) : "";
      ASSERT_TRUE(store->Put("ns", "k" + std::to_string(i), parent, {}, values.back()).ok());
    }
    ASSERT_GT(store->Stats().tiers[1].blocks, 20u);
    for (int i = 0; i < 30; ++i) {
      if (store->Exists("ns", "k" + std::to_string(i))) in_ssd.push_back("k" + std::to_string(i));
    }
    ASSERT_TRUE(store->Flush().ok());
  }
  {
    auto store = open();
    auto stats = store->Stats();
    EXPECT_GE(stats.recovered_blocks, 20u);
    EXPECT_EQ(stats.tiers[1].blocks, stats.recovered_blocks);
    size_t recovered_hits = 0;
    for (int i = 0; i < 30; ++i) {
      auto got = Read(*store, "ns", "k" + std::to_string(i));
      if (!got.ok()) continue;  // was in DRAM at shutdown
      ++recovered_hits;
      ASSERT_EQ(got->first, values[i]) << i;
    }
    EXPECT_EQ(recovered_hits, stats.recovered_blocks);
    ASSERT_TRUE(store->Flush().ok());
  }
  // Flip one payload byte of k0 in the database itself.
  {
    rocksdb::Options opts;
    opts.enable_blob_files = true;
    opts.min_blob_size = 4096;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(opts, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    int flipped = 0;
    for (it->Seek("d"); it->Valid() && it->key().starts_with("d"); it->Next()) {
      std::string value = it->value().ToString();
      value[value.size() / 2] ^= 0x01;
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), it->key(), value).ok());
      ++flipped;
    }
    ASSERT_GT(flipped, 0);
    it.reset();
    ASSERT_TRUE(db->Close().ok());
  }
  {
    auto store = open();
    const uint64_t before = store->Stats().tiers[1].blocks;
    ASSERT_GT(before, 0u);
    for (int i = 0; i < 30; ++i) {
      auto got = Read(*store, "ns", "k" + std::to_string(i));
      EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << "served a corrupt block " << i;
    }
    EXPECT_EQ(store->Stats().checksum_failures, before);
    EXPECT_EQ(store->Stats().tiers[1].blocks, 0u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Every registered policy can run each tier: chained blocks demote, come back exact, and the
// DRAM bound holds. leaf-lru and prefix-aware see the store's resident-child counts.
TEST(TieredStore, EveryPolicyRunsEveryTier) {
  for (const std::string& name : EvictionPolicyNames()) {
    SCOPED_TRACE(name);
    TieredStoreOptions o;
    o.policies = {name, name};
    auto f = Make(/*dram_pages=*/32, /*ssd_bytes=*/4 << 20, o);
    std::vector<std::string> values;
    for (int chain = 0; chain < 6; ++chain) {
      for (int i = 0; i < 10; ++i) {
        const std::string key = "c" + std::to_string(chain) + "b" + std::to_string(i);
        const std::string parent =
            i ? "c" + std::to_string(chain) + "b" + std::to_string(i - 1) : "";
        values.push_back(Bytes(8192, chain * 100 + i));
        ASSERT_TRUE(f->store->Put("ns", key, parent, {}, values.back()).ok());
        ASSERT_LE(f->store->tier(0).used_bytes(), 32 * kPage);
      }
    }
    EXPECT_GT(f->store->Stats().demotions, 0u);
    for (int chain = 0; chain < 6; ++chain) {
      for (int i = 0; i < 10; ++i) {
        auto got = Read(*f->store, "ns", "c" + std::to_string(chain) + "b" + std::to_string(i));
        ASSERT_TRUE(got.ok());
        EXPECT_EQ(got->first, values[chain * 10 + i]);
      }
    }
  }
}

}  // namespace
}  // namespace strata
