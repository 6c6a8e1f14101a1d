// SsdTier: the SSD tier, a RocksDB database with blob files for large values.
//
// Each block version is two keys written in one atomic batch: 'm' + id + version -> BlockRecord
// (small, stays in the LSM tree) and 'd' + id + version -> the stored bytes (a blob file value when
// above `min_blob_bytes`). Restart recovery scans only the 'm' keys, so it never reads payloads.
// Capacity is a hard bound on the bytes charged (payload + record), checked on every write.
// After a crash the database may lack the last writes (WAL without fsync per write) but RocksDB's
// own checksums plus the store's XXH3 per block mean a damaged block is never served.
// Thread-safe (RocksDB is; the used-bytes counter is atomic).
#ifndef STRATA_STORAGE_SSD_TIER_H_
#define STRATA_STORAGE_SSD_TIER_H_

#include <atomic>
#include <memory>
#include <string>

#include "storage/tier.h"

namespace rocksdb {
class DB;
}

namespace strata {

struct SsdTierOptions {
  std::string dir = "./strata-data";
  uint64_t capacity_bytes = 8ull << 30;
  // Values at least this large go to blob files.
  uint64_t min_blob_bytes = 4096;
  // RocksDB memtable size; bounds the DRAM RocksDB itself holds before flushing.
  uint64_t write_buffer_bytes = 32ull << 20;
  // fsync the WAL on every write (slower; survives power loss, not only process crashes).
  bool sync_writes = false;
};

class SsdTier final : public Tier {
 public:
  // Opens or creates the database in options.dir. FAILED_PRECONDITION when another process holds
  // it; INTERNAL for other RocksDB failures (the message carries RocksDB's).
  static absl::StatusOr<std::unique_ptr<SsdTier>> Open(const SsdTierOptions& options);
  ~SsdTier() override;

  std::string_view name() const override { return "ssd"; }
  uint64_t capacity_bytes() const override { return options_.capacity_bytes; }
  uint64_t used_bytes() const override { return used_.load(std::memory_order_relaxed); }
  bool persistent() const override { return true; }
  uint64_t ChargeFor(uint64_t stored_bytes) const override;

  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  absl::Status Erase(std::string_view id, const TierSlot& slot) override;
  absl::Status Recover(
      absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
      uint64_t* dropped) override;
  absl::Status Flush() override;

  const std::string& dir() const { return options_.dir; }

 private:
  SsdTier(const SsdTierOptions& options, std::unique_ptr<rocksdb::DB> db);

  // Constant after construction
  const SsdTierOptions options_;
  const std::unique_ptr<rocksdb::DB> db_;

  std::atomic<uint64_t> used_{0};
};

}  // namespace strata

#endif  // STRATA_STORAGE_SSD_TIER_H_
