// TieredStore over a failing SSD (issue 17, storage faults): a FaultTier around a real SsdTier
// injects write errors, a full disk, read errors, lost blocks and silent corruption. The store
// keeps serving what DRAM holds, reports the tier degraded while it refuses writes, never serves
// a damaged block (a miss, deleted and counted), and works normally again once the fault clears.
#include "storage/fault_tier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/ssd_tier.h"
#include "storage/tiered_store.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;

constexpr uint64_t kPage = 4096;
constexpr size_t kBlock = 16384;  // DRAM holds four of them (64 KiB)

// A 64 KiB DRAM tier over a FaultTier around an SsdTier in a fresh temp dir (removed at the
// end), with the SSD codec given.
class StoreOverFaultySsd {
 public:
  explicit StoreOverFaultySsd(const std::string& ssd_codec = "raw")
      : dir_(std::filesystem::temp_directory_path() /
             ("strata-faulttier-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 16 * kPage, .page_bytes = kPage}));
    auto ssd = SsdTier::Open({.dir = dir_.string(),
                              .capacity_bytes = 8ull << 20,
                              .reserve_free_bytes = 1,
                              .log = [](const std::string&) {}});
    EXPECT_TRUE(ssd.ok()) << ssd.status();
    auto fault = std::make_unique<FaultTier>(std::move(*ssd));
    ssd_ = fault.get();
    tiers.push_back(std::move(fault));
    TieredStoreOptions options;
    options.shards = 1;  // one LRU order: the oldest blocks are the ones on the SSD
    options.tier_codecs = {"raw", ssd_codec};
    store_ = *TieredStore::Open(options, std::move(tiers));
  }
  ~StoreOverFaultySsd() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  TieredStore& store() { return *store_; }
  FaultTier& ssd() { return *ssd_; }

  // The block's bytes, or the status of the Get.
  absl::StatusOr<std::string> Read(const std::string& key) {
    std::string out;
    absl::Status st = store_->Get("ns", key, [&](const BlockView& v) { out.assign(v.payload); });
    if (!st.ok()) return st;
    return out;
  }
  std::string TierOf(const std::string& key) {
    auto d = store_->Describe("ns", key);
    return d ? d->tier : "";
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<TieredStore> store_;
  FaultTier* ssd_ = nullptr;  // owned by store_
};

std::string Key(int i) { return "k" + std::to_string(i); }

// Puts blocks first..last-1; returns which were acknowledged. Every refusal is one of the codes
// the store documents for a tier that cannot take writes.
std::vector<int> PutRange(StoreOverFaultySsd& f, int first, int last) {
  std::vector<int> acked;
  for (int i = first; i < last; ++i) {
    absl::Status st = f.store().Put("ns", Key(i), "", {}, Bytes(kBlock, i));
    if (st.ok()) {
      acked.push_back(i);
    } else {
      EXPECT_TRUE(absl::IsResourceExhausted(st) || absl::IsUnavailable(st)) << i << ": " << st;
    }
  }
  return acked;
}

void RefusedWritesRound(const TierFaults& fault, const std::string& reason_words) {
  StoreOverFaultySsd f;
  std::vector<int> acked = PutRange(f, 0, 8);  // five of them demoted to the SSD
  ASSERT_EQ(acked.size(), 8u);
  ASSERT_EQ(f.TierOf(Key(0)), "ssd");
  ASSERT_EQ(f.TierOf(Key(7)), "dram");

  f.ssd().Set(fault);
  StoreStats stats = f.store().Stats();
  ASSERT_TRUE(stats.tiers[1].health.degraded);
  EXPECT_NE(stats.tiers[1].health.reason.find(reason_words), std::string::npos)
      << stats.tiers[1].health.reason;
  // New writes: DRAM is full and cannot demote, the SSD refuses; nothing already acknowledged
  // is dropped to make room.
  const std::vector<int> during = PutRange(f, 8, 16);
  EXPECT_LT(during.size(), 8u);
  acked.insert(acked.end(), during.begin(), during.end());
  stats = f.store().Stats();
  EXPECT_GT(stats.demotion_failures, 0u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_GT(f.ssd().counts().writes_refused, 0u);
  // Every acknowledged block is served, exact: DRAM's from DRAM, the SSD's from the SSD (a
  // degraded tier still serves reads).
  for (int i : acked) {
    auto got = f.Read(Key(i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_EQ(*got, Bytes(kBlock, i)) << i;
  }

  f.ssd().Set({});
  stats = f.store().Stats();
  EXPECT_FALSE(stats.tiers[1].health.degraded);
  // Writes demote again: all 16 new blocks are taken, and every acknowledged block reads back.
  const std::vector<int> after = PutRange(f, 100, 116);
  EXPECT_EQ(after.size(), 16u);
  acked.insert(acked.end(), after.begin(), after.end());
  for (int i : acked) {
    auto got = f.Read(Key(i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_EQ(*got, Bytes(kBlock, i)) << i;
  }
  EXPECT_EQ(f.store().Stats().checksum_failures, 0u);
}

TEST(StorageFaults, WriteErrorsKeepDramServingAndMarkTheSsdDegradedUntilTheyClear) {
  RefusedWritesRound({.fail_writes = true}, "write error");
}

TEST(StorageFaults, FullDiskKeepsDramServingAndMarksTheSsdDegradedUntilSpaceReturns) {
  RefusedWritesRound({.no_space = true}, "disk full");
}

TEST(StorageFaults, ReadErrorsAnswerUnavailableAndKeepTheBlockForLater) {
  StoreOverFaultySsd f;
  ASSERT_EQ(PutRange(f, 0, 8).size(), 8u);
  ASSERT_EQ(f.TierOf(Key(0)), "ssd");
  f.ssd().Set({.fail_reads = true});
  auto got = f.Read(Key(0));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_EQ(f.ssd().counts().reads_failed, 1u);
  EXPECT_TRUE(f.store().Exists("ns", Key(0)));  // unknown, not known bad: kept
  got = f.Read(Key(7));                         // DRAM still serves
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Bytes(kBlock, 7));
  EXPECT_FALSE(f.store().Stats().tiers[1].health.degraded);  // reads do not stop writes

  f.ssd().Set({});
  got = f.Read(Key(0));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Bytes(kBlock, 0));
  EXPECT_EQ(f.store().Stats().checksum_failures, 0u);
}

// Silent corruption on the SSD, raw and compressed: every damaged block is a counted miss and
// gone from the index; blocks in DRAM are untouched; once the medium is sound again new blocks
// go down and come back exact.
void CorruptionRound(const std::string& codec) {
  StoreOverFaultySsd f(codec);
  ASSERT_EQ(PutRange(f, 0, 8).size(), 8u);
  std::vector<int> on_ssd, in_dram;
  for (int i = 0; i < 8; ++i) (f.TierOf(Key(i)) == "ssd" ? on_ssd : in_dram).push_back(i);
  // 64 KiB of DRAM drains to its 85% low watermark: three blocks stay, five went down.
  ASSERT_EQ(on_ssd.size(), 5u);
  ASSERT_EQ(in_dram.size(), 3u);

  f.ssd().Set({.corrupt_reads = true});
  for (int i : on_ssd) {
    auto got = f.Read(Key(i));
    EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << i << ": " << got.status();
    EXPECT_FALSE(f.store().Exists("ns", Key(i))) << i;
  }
  EXPECT_EQ(f.ssd().counts().reads_corrupted, on_ssd.size());
  StoreStats stats = f.store().Stats();
  EXPECT_EQ(stats.checksum_failures, on_ssd.size());
  EXPECT_EQ(stats.tiers[1].blocks, 0u);
  EXPECT_EQ(stats.hits, 0u);
  for (int i : in_dram) {
    auto got = f.Read(Key(i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_EQ(*got, Bytes(kBlock, i)) << i;
  }

  f.ssd().Set({});
  ASSERT_EQ(PutRange(f, 100, 108).size(), 8u);
  for (int i : in_dram) {
    auto got = f.Read(Key(i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_EQ(*got, Bytes(kBlock, i)) << i;
  }
  for (int i = 100; i < 108; ++i) {
    auto got = f.Read(Key(i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_EQ(*got, Bytes(kBlock, i)) << i;
  }
  EXPECT_EQ(f.store().Stats().checksum_failures, on_ssd.size());
}

TEST(StorageFaults, SilentCorruptionOfRawBlocksIsNeverServed) { CorruptionRound("raw"); }

TEST(StorageFaults, SilentCorruptionOfCompressedBlocksIsNeverServed) {
  CorruptionRound("shuffle-zstd");
}

TEST(StorageFaults, BlocksTheMediumReportsLostAreCountedMisses) {
  StoreOverFaultySsd f;
  ASSERT_EQ(PutRange(f, 0, 8).size(), 8u);
  ASSERT_EQ(f.TierOf(Key(1)), "ssd");
  f.ssd().Set({.lose_reads = true});
  EXPECT_EQ(f.Read(Key(1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(f.store().Exists("ns", Key(1)));
  EXPECT_EQ(f.store().Stats().checksum_failures, 1u);
  EXPECT_EQ(f.ssd().counts().reads_lost, 1u);
}

// The wrapper around a memory tier: its in-place view is withheld while a read fault is set, so
// the fault is met on every path (corruption of a verified tier is still caught).
TEST(StorageFaults, WrapperWithholdsInPlaceViewsWhileReadsFail) {
  FaultTier tier(std::make_unique<MemTier>(MemTierOptions{.name = "ssd"}));
  BlockRecord record;
  record.stored_bytes = 5;
  auto slot = tier.Write("id", 1, record, "hello");
  ASSERT_TRUE(slot.ok());
  std::string out;
  ASSERT_TRUE(tier.Read("id", *slot, &out).ok());
  EXPECT_EQ(out, "hello");
  tier.Set({.corrupt_reads = true});
  EXPECT_FALSE(tier.View(*slot).has_value());
  ASSERT_TRUE(tier.Read("id", *slot, &out).ok());
  EXPECT_EQ(out, "he|lo");  // 'l' ^ 0x10
  tier.Set({.no_space = true});
  EXPECT_EQ(tier.Write("id", 2, record, "hello").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tier.used_bytes(), 5u);
  EXPECT_TRUE(tier.health().degraded);
  tier.Set({});
  EXPECT_FALSE(tier.health().degraded);
  EXPECT_TRUE(tier.Write("id", 2, record, "world").ok());
  EXPECT_EQ(tier.counts().writes_refused, 1u);
  EXPECT_EQ(tier.counts().reads_corrupted, 1u);
}

}  // namespace
}  // namespace strata
