// The SSD tier when its disk fills up, and the durability of blocks read back from it.
//
// A full disk is a rocksdb::FileSystem wrapper whose writes fail with NoSpace once a switch is
// flipped (and whose reported free space follows a second switch), handed to SsdTier through
// SsdTierOptions::file_system like any other file system.
#include <gtest/gtest.h>
#include <rocksdb/file_system.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "storage/dram_tier.h"
#include "storage/ssd_tier.h"
#include "storage/tiered_store.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;
using storage_test::TempDir;

constexpr uint64_t kPage = 4096;

struct DiskSwitches {
  // Which writes fail with NoSpace: none, only table and blob files (what a background flush
  // writes), only the write-ahead log (what a foreground write appends to), or every file.
  enum Fail { kNone, kTables, kWal, kAll };
  std::atomic<int> fail{kNone};
  std::atomic<uint64_t> free_bytes{uint64_t{1} << 40};
  bool Fails(const std::string& name) const {
    const bool table = name.ends_with(".sst") || name.ends_with(".blob");
    const bool wal = name.ends_with(".log");  // NNNNNN.log; RocksDB's info log is "LOG"
    return fail == kAll || (fail == kTables && table) || (fail == kWal && wal);
  }
};

class FullDiskFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FullDiskFile(std::unique_ptr<rocksdb::FSWritableFile> f, DiskSwitches* sw, std::string name)
      : FSWritableFileOwnerWrapper(std::move(f)), sw_(sw), name_(std::move(name)) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(name_)) return NoSpace();
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(name_)) return NoSpace();
    return FSWritableFileOwnerWrapper::Append(data, o, v, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t off,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(name_)) return NoSpace();
    return FSWritableFileOwnerWrapper::PositionedAppend(data, off, o, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t off,
                                     const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& v,
                                     rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(name_)) return NoSpace();
    return FSWritableFileOwnerWrapper::PositionedAppend(data, off, o, v, dbg);
  }
  static rocksdb::IOStatus NoSpace() {
    return rocksdb::IOStatus::NoSpace("injected: No space left on device");
  }

 private:
  DiskSwitches* sw_;
  const std::string name_;
};

class FullDiskFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFs(DiskSwitches* sw)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), sw_(sw) {}
  const char* Name() const override { return "FullDiskFs"; }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(f)) return FullDiskFile::NoSpace();
    std::unique_ptr<rocksdb::FSWritableFile> inner;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &inner, dbg);
    if (s.ok()) *r = std::make_unique<FullDiskFile>(std::move(inner), sw_, f);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    if (sw_->Fails(f)) return FullDiskFile::NoSpace();
    std::unique_ptr<rocksdb::FSWritableFile> inner;
    rocksdb::IOStatus s = target()->ReopenWritableFile(f, o, &inner, dbg);
    if (s.ok()) *r = std::make_unique<FullDiskFile>(std::move(inner), sw_, f);
    return s;
  }
  rocksdb::IOStatus GetFreeSpace(const std::string&, const rocksdb::IOOptions&, uint64_t* free,
                                 rocksdb::IODebugContext*) override {
    *free = sw_->free_bytes;
    return rocksdb::IOStatus::OK();
  }

 private:
  DiskSwitches* sw_;
};

struct Node {
  std::unique_ptr<TieredStore> store;
  SsdTier* ssd = nullptr;  // owned by store
};

Node Open(const std::string& dir, uint64_t dram_bytes, uint64_t ssd_bytes, DiskSwitches* sw,
          std::vector<std::string>* log = nullptr) {
  Node n;
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = dram_bytes, .page_bytes = kPage}));
  SsdTierOptions so;
  so.dir = dir;
  so.capacity_bytes = ssd_bytes;
  so.retry_ms = 50;
  if (sw != nullptr) so.file_system = std::make_shared<FullDiskFs>(sw);
  if (log != nullptr) so.log = [log](const std::string& line) { log->push_back(line); };
  auto ssd = SsdTier::Open(so);
  EXPECT_TRUE(ssd.ok()) << ssd.status();
  n.ssd = ssd->get();
  tiers.push_back(std::move(*ssd));
  TieredStoreOptions o;
  o.shards = 4;
  n.store = *TieredStore::Open(o, std::move(tiers));
  return n;
}

absl::StatusOr<std::string> Get(TieredStore& s, const std::string& key) {
  std::string out;
  absl::Status st = s.Get("ns", key, [&](const BlockView& v) { out.assign(v.payload); });
  if (!st.ok()) return st;
  return out;
}

// The reproduction with an injected full disk (RocksDB's background flush meets it, as
// when the free-space check raced another writer): every Put answered OK reads back exact, the
// refused ones say the ssd tier is full, the accounting matches what is there, the tier says it
// is degraded, and once space returns writes work again and the tier is healthy.
TEST(SsdFullDisk, NeverAcknowledgesWhatItLosesAndRecoversWhenSpaceReturns) {
  const std::string dir = TempDir("ssd-full");
  DiskSwitches sw;
  std::vector<std::string> log;
  std::map<std::string, std::string> acked;
  constexpr size_t kBlock = 64 * 1024;
  {
    Node n = Open(dir, 8 * kBlock + 8 * kPage, 4 << 20, &sw, &log);
    int ok = 0, refused = 0;
    auto put = [&](int i) {
      const std::string key = "k" + std::to_string(i);
      const std::string value = Bytes(kBlock, i);
      const absl::Status st = n.store->Put("ns", key, "", {}, value);
      if (st.ok()) {
        acked[key] = value;
        ++ok;
        return;
      }
      ++refused;
      EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
      EXPECT_NE(st.message().find("ssd tier degraded: disk full"), std::string_view::npos) << st;
    };
    for (int i = 0; i < 40; ++i) {
      if (i == 16) sw.fail = DiskSwitches::kTables;  // the disk fills after 16 blocks
      put(i);
    }
    // RocksDB's background flush meets the full disk on its own schedule: a loaded host may not
    // have run it by the 40th Put. A few more Puts, each after a pause (bounded; well within the
    // tier's capacity), until the failed flush stops RocksDB's writes.
    for (int i = 40; refused == 0 && i < 48; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      put(i);
    }
    EXPECT_GE(ok, 16);
    EXPECT_GT(refused, 0);
    // Every acknowledged block reads back exactly; none was dropped to make room.
    for (const auto& [key, value] : acked) {
      auto got = Get(*n.store, key);
      ASSERT_TRUE(got.ok()) << key << ": " << got.status();
      EXPECT_EQ(*got, value) << key;
    }
    StoreStats stats = n.store->Stats();
    EXPECT_EQ(stats.evictions, 0u);
    EXPECT_GT(stats.demotion_failures, 0u);
    EXPECT_TRUE(stats.tiers[1].health.degraded);
    EXPECT_NE(stats.tiers[1].health.reason.find("disk full"), std::string::npos)
        << stats.tiers[1].health.reason;
    // Accounting: what the SSD charges is exactly its blocks (gets above promoted some, keeping
    // their SSD copies, so the SSD block count is unchanged by reading).
    EXPECT_EQ(stats.tiers[1].used_bytes, stats.tiers[1].blocks * n.ssd->ChargeFor(kBlock));
    ASSERT_EQ(log.size(), 1u);  // logged once, on the transition
    EXPECT_NE(log[0].find("ssd tier degraded"), std::string::npos) << log[0];

    // Shutdown's flush on the full disk neither fails nor aborts (the WAL holds the blocks).
    EXPECT_TRUE(n.store->Flush().ok());

    // Space returns: the next writes succeed (RocksDB resumed), the tier is healthy again.
    sw.fail = DiskSwitches::kNone;
    const std::string later = Bytes(kBlock, 1000);
    absl::Status st;
    // The retry is rate-limited to retry_ms and RocksDB's resume may be slow on a loaded host:
    // bounded by time, not by a count of tries.
    const auto resumed_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
      st = n.store->Put("ns", "later", "", {}, later);
      if (st.ok() || std::chrono::steady_clock::now() > resumed_by) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(st.ok()) << st;
    acked["later"] = later;
    for (int i = 0; i < 8; ++i) {  // enough to demote through the SSD again
      const std::string key = "after" + std::to_string(i);
      acked[key] = Bytes(kBlock, 2000 + i);
      ASSERT_TRUE(n.store->Put("ns", key, "", {}, acked[key]).ok());
    }
    stats = n.store->Stats();
    EXPECT_FALSE(stats.tiers[1].health.degraded) << stats.tiers[1].health.reason;
    EXPECT_EQ(n.ssd->pending_erases(), 0u);
    EXPECT_EQ(stats.tiers[1].used_bytes, stats.tiers[1].blocks * n.ssd->ChargeFor(kBlock));
    ASSERT_TRUE(n.store->Flush().ok());
  }
  // A clean restart finds every acknowledged block that was on the SSD, exact.
  {
    Node n = Open(dir, 8 * kBlock + 8 * kPage, 4 << 20, nullptr);
    const StoreStats stats = n.store->Stats();
    EXPECT_GT(stats.recovered_blocks, 0u);
    size_t found = 0;
    for (const auto& [key, value] : acked) {
      auto got = Get(*n.store, key);
      if (!got.ok()) continue;
      ++found;
      EXPECT_EQ(*got, value) << key;
    }
    EXPECT_EQ(found, stats.recovered_blocks);
  }
  std::filesystem::remove_all(dir);
}

// The write-ahead log itself meets the full disk. RocksDB cannot resume from that, so the tier
// stays degraded until a restart; it refuses writes, loses nothing it acknowledged, and shutting
// down neither aborts nor drops what the log holds: a restart (here: opening a copy of the
// directory, since this process still holds the original's lock) serves every acknowledged
// block that reached the SSD.
TEST(SsdFullDisk, FailedWriteAheadLogRefusesWritesAndShutsDownWithoutAborting) {
  const std::string dir = TempDir("ssd-walfull");
  const std::string copy = TempDir("ssd-walfull-copy");
  DiskSwitches sw;
  std::vector<std::string> log;
  std::map<std::string, std::string> acked;
  std::vector<std::string> on_ssd;
  constexpr size_t kBlock = 64 * 1024;
  {
    Node n = Open(dir, 8 * kBlock + 8 * kPage, 4 << 20, &sw, &log);
    for (int i = 0; i < 30; ++i) {
      // Only the write-ahead log: with every file failing, a background flush could meet the
      // full disk before a foreground write did, and RocksDB then resumes (it lost no WAL
      // record), which is not the case this test is about.
      if (i == 16) sw.fail = DiskSwitches::kWal;
      const std::string key = "k" + std::to_string(i);
      const std::string value = Bytes(kBlock, 300 + i);
      const absl::Status st = n.store->Put("ns", key, "", {}, value);
      if (st.ok()) {
        acked[key] = value;
      } else {
        EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
        EXPECT_NE(st.message().find("ssd tier degraded: disk full"), std::string_view::npos) << st;
      }
    }
    EXPECT_GE(acked.size(), 16u);
    EXPECT_LT(acked.size(), 30u);
    for (const auto& [key, value] : acked) {
      auto got = Get(*n.store, key);
      ASSERT_TRUE(got.ok()) << key << ": " << got.status();
      EXPECT_EQ(*got, value) << key;
    }
    StoreStats stats = n.store->Stats();
    EXPECT_EQ(stats.evictions, 0u);
    EXPECT_TRUE(stats.tiers[1].health.degraded);
    EXPECT_EQ(stats.tiers[1].used_bytes, stats.tiers[1].blocks * n.ssd->ChargeFor(kBlock));
    on_ssd.clear();
    sw.fail = DiskSwitches::kNone;
    // Let a retry run and fail for good: the maintenance thread's, every retry_ms (a fixed sleep
    // could end while its DB::Resume is still running, with the earlier reason still shown).
    const auto retried_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto retrying = [&] {
      const TierHealth h = n.store->Stats().tiers[1].health;
      return h.degraded && h.reason.find("until the node restarts") == std::string::npos;
    };
    while (retrying() && std::chrono::steady_clock::now() < retried_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(n.store->Put("ns", "later", "", {}, Bytes(kBlock, 1)).code(),
              absl::StatusCode::kUnavailable);
    stats = n.store->Stats();
    EXPECT_TRUE(stats.tiers[1].health.degraded);
    EXPECT_NE(stats.tiers[1].health.reason.find("until the node restarts"), std::string::npos)
        << stats.tiers[1].health.reason;
    EXPECT_TRUE(n.store->Flush().ok());
    // Which acknowledged blocks the SSD holds (the rest live in DRAM only, lost by any restart).
    for (const auto& [key, value] : acked) {
      (void)value;
      if (n.store->Exists("ns", key)) on_ssd.push_back(key);
    }
  }  // destroying the store must not abort
  std::filesystem::copy(dir, copy);
  {
    Node n = Open(copy, 8 * kBlock + 8 * kPage, 4 << 20, nullptr);
    const StoreStats stats = n.store->Stats();
    EXPECT_GT(stats.recovered_blocks, 0u);
    size_t exact = 0;
    for (const auto& [key, value] : acked) {
      auto got = Get(*n.store, key);
      if (!got.ok()) continue;
      EXPECT_EQ(*got, value) << key;
      if (*got == value) ++exact;
    }
    EXPECT_EQ(exact, stats.recovered_blocks);
    EXPECT_FALSE(stats.tiers[1].health.degraded);
  }
  std::filesystem::remove_all(copy);
}

// The free-space check refuses a write before RocksDB meets ENOSPC, and clears by itself.
TEST(SsdFullDisk, LowFreeSpaceRefusesWritesUntilSpaceReturns) {
  const std::string dir = TempDir("ssd-lowfree");
  DiskSwitches sw;
  std::vector<std::string> log;
  SsdTierOptions so;
  so.dir = dir;
  so.capacity_bytes = 8 << 20;
  so.file_system = std::make_shared<FullDiskFs>(&sw);
  so.log = [&log](const std::string& line) { log.push_back(line); };
  auto tier = *SsdTier::Open(so);
  BlockRecord r;
  const std::string v(100000, 'v');
  r.payload_bytes = r.stored_bytes = v.size();
  ASSERT_TRUE(tier->Write("a", 1, r, v).ok());
  sw.free_bytes = 1 << 20;  // less than the block plus the reserve
  auto refused = tier->Write("b", 2, r, v);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("ssd tier degraded: disk full: 1 MiB free"),
            std::string_view::npos)
      << refused.status();
  EXPECT_TRUE(tier->health().degraded);
  EXPECT_EQ(tier->used_bytes(), tier->ChargeFor(v.size()));  // only "a"
  std::string back;
  ASSERT_TRUE(tier->Read("a", {1, v.size(), tier->ChargeFor(v.size())}, &back).ok());
  EXPECT_EQ(back, v);
  sw.free_bytes = uint64_t{1} << 40;
  ASSERT_TRUE(tier->Write("b", 2, r, v).ok());
  EXPECT_FALSE(tier->health().degraded);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("degraded"), std::string::npos);
  EXPECT_NE(log[1].find("recovered"), std::string::npos);
  tier.reset();
  std::filesystem::remove_all(dir);
}

// Reading a block promotes it to DRAM but keeps its SSD copy: two restarts in a row find every
// block, byte-exact, although the first restart's reads moved them all up.
TEST(SsdDurability, PromotedBlocksKeepTheirSsdCopyAcrossRestarts) {
  const std::string dir = TempDir("ssd-inclusive");
  constexpr size_t kBlock = 16 * 1024;
  constexpr int kBlocks = 200;
  const uint64_t dram = 32 * kBlock;  // most of the 200 demote
  std::vector<std::string> values;
  for (int i = 0; i < kBlocks; ++i) values.push_back(Bytes(kBlock, 7000 + i));
  {
    Node n = Open(dir, dram, 64 << 20, nullptr);
    for (int i = 0; i < kBlocks; ++i) {
      ASSERT_TRUE(n.store->Put("ns", "k" + std::to_string(i), "", {}, values[i]).ok());
    }
    EXPECT_GT(n.store->Stats().tiers[1].blocks, 150u);
    ASSERT_TRUE(n.store->Flush().ok());
  }
  size_t first_recovered = 0;
  for (int round = 0; round < 2; ++round) {
    Node n = Open(dir, dram, 64 << 20, nullptr);
    StoreStats stats = n.store->Stats();
    if (round == 0) first_recovered = stats.recovered_blocks;
    EXPECT_EQ(stats.recovered_blocks, first_recovered) << "round " << round;
    size_t exact = 0;
    for (int i = 0; i < kBlocks; ++i) {
      auto got = Get(*n.store, "k" + std::to_string(i));
      if (got.ok() && *got == values[i]) ++exact;
    }
    EXPECT_EQ(exact, first_recovered) << "round " << round;
    stats = n.store->Stats();
    EXPECT_GT(stats.promotions, 0u);
    // Every block still has its SSD copy; used bytes are exactly those copies.
    EXPECT_EQ(stats.tiers[1].blocks, first_recovered);
    EXPECT_EQ(stats.tiers[1].used_bytes, first_recovered * n.ssd->ChargeFor(kBlock));
    ASSERT_TRUE(n.store->Flush().ok());
  }
  // Blocks on SSD before the first restart: every one that was not in DRAM at shutdown.
  EXPECT_GE(first_recovered, static_cast<size_t>(kBlocks) - dram / kBlock);
  // Removing a promoted block erases both copies.
  {
    Node n = Open(dir, dram, 64 << 20, nullptr);
    ASSERT_TRUE(Get(*n.store, "k5").ok());
    ASSERT_TRUE(n.store->Remove("ns", "k5"));
    const StoreStats stats = n.store->Stats();
    EXPECT_EQ(stats.tiers[1].blocks, first_recovered - 1);
    EXPECT_EQ(stats.tiers[0].blocks, 0u);
  }
  {
    Node n = Open(dir, dram, 64 << 20, nullptr);
    EXPECT_EQ(n.store->Stats().recovered_blocks, first_recovered - 1);
    EXPECT_TRUE(absl::IsNotFound(Get(*n.store, "k5").status()));
  }
  std::filesystem::remove_all(dir);
}

// A deleted blob file: reads of its blocks are misses, the blocks leave the index and the
// accounting, and the tier does not keep reporting them.
TEST(SsdDurability, DeletedBlobFileTurnsItsBlocksIntoCountedMisses) {
  const std::string dir = TempDir("ssd-blobgone");
  constexpr size_t kBlock = 16 * 1024;
  {
    Node n = Open(dir, 4 * kBlock, 16 << 20, nullptr);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(n.store->Put("ns", "k" + std::to_string(i), "", {}, Bytes(kBlock, i)).ok());
    }
    ASSERT_TRUE(n.store->Flush().ok());
  }
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".blob") std::filesystem::remove(f.path());
  }
  Node n = Open(dir, 4 * kBlock, 16 << 20, nullptr);
  const uint64_t recovered = n.store->Stats().recovered_blocks;
  ASSERT_GT(recovered, 0u);
  size_t misses = 0;
  for (int i = 0; i < 20; ++i) {
    auto got = Get(*n.store, "k" + std::to_string(i));
    if (absl::IsNotFound(got.status())) {
      ++misses;
    } else {
      ASSERT_TRUE(got.ok()) << got.status();  // never UNAVAILABLE forever
    }
  }
  const StoreStats stats = n.store->Stats();
  EXPECT_GE(misses, recovered);
  EXPECT_EQ(stats.checksum_failures, recovered);
  EXPECT_EQ(stats.tiers[1].blocks, 0u);
  EXPECT_EQ(stats.tiers[1].used_bytes, 0u);
  n.store.reset();
  std::filesystem::remove_all(dir);
}

// A blob file truncated to half. RocksDB 7.8 opens a blob file only after checking its header
// and footer, so a truncated file has no readable blob at all, the intact first half included:
// every block in it reads as a miss (dropped, counted), every other block exactly as written,
// and none is ever served wrong or answered UNAVAILABLE.
TEST(SsdDurability, TruncatedBlobFileLosesOnlyItsOwnBlocks) {
  const std::string dir = TempDir("ssd-blobhalf");
  constexpr size_t kBlock = 16 * 1024;
  std::vector<std::string> values;
  {
    Node n = Open(dir, 4 * kBlock, 16 << 20, nullptr);
    for (int i = 0; i < 40; ++i) {
      values.push_back(Bytes(kBlock, 900 + i));
      ASSERT_TRUE(n.store->Put("ns", "k" + std::to_string(i), "", {}, values.back()).ok());
      if (i == 19) {
        ASSERT_TRUE(n.store->Flush().ok());  // two flushes: two blob files at least
      }
    }
    ASSERT_TRUE(n.store->Flush().ok());
  }
  std::vector<std::filesystem::path> blobs;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".blob") blobs.push_back(f.path());
  }
  ASSERT_GE(blobs.size(), 2u);
  std::sort(blobs.begin(), blobs.end());
  const uint64_t size = std::filesystem::file_size(blobs.front());
  std::filesystem::resize_file(blobs.front(), size / 2);
  const uint64_t blocks_in_file = size / kBlock;  // about: the file holds whole blocks + framing

  Node n = Open(dir, 4 * kBlock, 16 << 20, nullptr);
  const uint64_t recovered = n.store->Stats().recovered_blocks;
  size_t exact = 0, misses = 0;
  for (int i = 0; i < 40; ++i) {
    auto got = Get(*n.store, "k" + std::to_string(i));
    if (absl::IsNotFound(got.status())) {
      ++misses;
      continue;
    }
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, values[i]);
    ++exact;
  }
  const StoreStats stats = n.store->Stats();
  EXPECT_EQ(exact + stats.checksum_failures, recovered);
  EXPECT_GT(exact, 0u);  // the other blob files are untouched
  EXPECT_EQ(stats.checksum_failures, blocks_in_file) << "every block of the truncated file";
  EXPECT_EQ(stats.tiers[1].blocks, exact);
  EXPECT_EQ(stats.tiers[1].used_bytes, exact * n.ssd->ChargeFor(kBlock));
  std::cerr << "[truncated blob] recovered " << recovered << ", exact " << exact << ", dropped "
            << stats.checksum_failures << " (file held ~" << blocks_in_file << ")\n";
  n.store.reset();
  std::filesystem::remove_all(dir);
}

// Bytes the files under `dir` occupy on disk (allocated blocks: preallocated WAL space counts).
uint64_t DiskUse(const std::string& dir) {
  uint64_t sum = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (::stat(f.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      sum += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return sum;
}

// Churn through a small SSD tier (12x its capacity written): the disk it uses stays within the
// bound documented in ssd_tier.h: 2 x capacity + 4 write buffers + 4 MiB.
TEST(SsdDurability, DiskUseUnderChurnStaysWithinTheDocumentedBound) {
  const std::string dir = TempDir("ssd-churn");
  constexpr size_t kBlock = 256 * 1024;
  constexpr uint64_t kSsd = 8 << 20;
  uint64_t peak = 0;
  {
    Node n = Open(dir, 4 * kBlock, kSsd, nullptr);
    for (int i = 0; i < 400; ++i) {
      ASSERT_TRUE(n.store->Put("ns", "k" + std::to_string(i), "", {}, Bytes(kBlock, i)).ok());
      if (i % 8 == 0) peak = std::max(peak, DiskUse(dir));
    }
    const uint64_t settled = DiskUse(dir);
    std::cerr << "[churn] ssd " << (kSsd >> 20) << " MiB, 100 MiB written: peak disk use "
              << peak / 1024 << " KiB, at the end " << settled / 1024 << " KiB\n";
    EXPECT_FALSE(n.store->Stats().tiers[1].health.degraded);
  }
  constexpr uint64_t kWriteBuffer = 1 << 20;  // capacity/16, at least 1 MiB
  EXPECT_LE(peak, 2 * kSsd + 4 * kWriteBuffer + (4 << 20));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
