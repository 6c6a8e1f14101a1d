// SsdTier: the SSD tier, a RocksDB database with blob files for large values.
//
// Each block version is two keys written in one atomic batch: 'm' + id + version -> BlockRecord
// (small, stays in the LSM tree) and 'd' + id + version -> the stored bytes (a blob file value when
// above `min_blob_bytes`). Restart recovery scans only the 'm' keys, so it never reads payloads.
// Capacity is a hard bound on the bytes charged (payload + record), checked on every write.
//
// Durability (the flush point): a Write that returned OK is in RocksDB's write-ahead log, handed
// to the OS. It survives a crash of the process (kill -9) from that moment; it survives power
// loss only with `sync_writes` (fsync per write) or once a memtable flush has written it to a
// blob file. Graceful shutdown (Flush) flushes the memtables. RocksDB's own checksums plus the
// store's XXH3 per block mean a damaged block is never served.
//
// Full disk and I/O errors: a write the disk cannot take is refused (UNAVAILABLE, the message
// names the ssd tier and the cause), never acknowledged, and the tier turns degraded (health()).
// Before each write the tier checks the disk keeps `reserve_free_bytes` free beyond it, so
// RocksDB itself rarely meets ENOSPC; when it does (a background flush, or a write that races
// another process for the last bytes), the database stops writes and a background thread calls
// DB::Resume() every `retry_ms` once space is back (so does the next Write). A degraded tier
// still serves reads. An erase the database cannot take (full disk) stops counting at once and is
// replayed when writes work again; a restart before that finds the block again (correct bytes,
// but back from the dead). Opening a database on a disk too full to open it read-write opens it
// read-only, degraded: it serves what it holds and takes no writes until restarted with space.
//
// Disk use: live blocks are bounded by capacity_bytes. On top RocksDB needs its write buffers
// (WAL files, preallocated, and memtables being flushed: up to ~3 x the write buffer, which is
// capacity/16 clamped to [1 MiB, write_buffer_bytes]), the metadata keys (~100 bytes a block) and
// garbage in blob files: erased blocks stay on disk until a compaction with blob GC (relocating
// live blobs out of the oldest quarter of the blob files) drops them; the tier forces one each
// time a quarter of its capacity was erased, and blob files whose blocks are all gone are deleted
// whole. When writes outrun that compaction (half the capacity erased and not yet reclaimed: a
// busy host starves the maintenance thread), a write waits for the compaction to catch up, at
// most `reclaim_stall_ms`, so the bound below holds under load as well. Plan the disk for 2 x
// capacity + 4 x write buffer + 4 MiB (RocksDB's MANIFEST, OPTIONS and a LOG capped at 2 x 256
// KiB). Measured (ssd_durability_test, DiskUseUnderChurn...): an 8 MiB tier under 256 KiB-block
// churn peaks at 20-22 MiB on disk and settles at 14-20 MiB. Before this tuning (a 32 MiB write
// buffer whatever the capacity, 4 MiB MANIFEST preallocation, no forced compaction) issue 20 saw a
// 32 MiB tier use 73-145 MB. A disk smaller than the bound still never loses an acknowledged block:
// the tier degrades and refuses writes instead.
//
// Thread-safe (RocksDB is; counters are atomic; health state under a mutex).
#ifndef STRATA_STORAGE_SSD_TIER_H_
#define STRATA_STORAGE_SSD_TIER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/tier.h"

namespace rocksdb {
class DB;
class Env;
class FileSystem;
}  // namespace rocksdb

namespace strata {

struct SsdTierOptions {
  std::string dir = "./strata-data";
  uint64_t capacity_bytes = 8ull << 30;
  // Values at least this large go to blob files.
  uint64_t min_blob_bytes = 4096;
  // Largest RocksDB memtable; the tier uses capacity/16 when smaller (at least 1 MiB), so a small
  // tier does not hold its whole capacity again in the WAL before flushing.
  uint64_t write_buffer_bytes = 32ull << 20;
  // fsync the WAL on every write (slower; survives power loss, not only process crashes).
  bool sync_writes = false;
  // Bytes the disk must keep free beyond each write (room for RocksDB to flush a memtable and
  // rewrite its MANIFEST). 0: the write buffer + 1 MiB.
  uint64_t reserve_free_bytes = 0;
  // How often a degraded tier retries in the background.
  uint32_t retry_ms = 1000;
  // Longest a write waits for blob reclamation to catch up (see "Disk use" above). 0: no wait.
  uint32_t reclaim_stall_ms = 2000;
  // The file system RocksDB uses; null is the local disk. Tests pass a wrapper that fails writes
  // (a full disk) to check what the tier does then.
  std::shared_ptr<rocksdb::FileSystem> file_system = nullptr;
  // Where health transitions are reported (one line each: degraded with the reason, recovered).
  // Null: standard error.
  std::function<void(const std::string& line)> log = nullptr;
};

class SsdTier final : public Tier {
 public:
  // Opens or creates the database in options.dir. FAILED_PRECONDITION when another process holds
  // it; INTERNAL for other RocksDB failures (the message carries RocksDB's). A database that
  // cannot be opened read-write for lack of space opens read-only and degraded.
  static absl::StatusOr<std::unique_ptr<SsdTier>> Open(const SsdTierOptions& options);
  ~SsdTier() override;

  std::string_view name() const override { return "ssd"; }
  uint64_t capacity_bytes() const override { return options_.capacity_bytes; }
  uint64_t used_bytes() const override { return used_.load(std::memory_order_relaxed); }
  bool persistent() const override { return true; }
  TierHealth health() const override;
  uint64_t ChargeFor(uint64_t stored_bytes) const override;

  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  // NOT_FOUND when absent, DATA_LOSS when RocksDB reports corruption or the value's blob file is
  // gone or damaged (the block cannot be read back: the store drops it).
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  // Stops charging the slot at once; a delete the database cannot take now is queued and
  // replayed when writes work again (UNAVAILABLE then says so).
  absl::Status Erase(std::string_view id, const TierSlot& slot) override;
  absl::Status Recover(
      absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
      uint64_t* dropped) override;
  // Flushes memtables. A degraded tier leaves RocksDB alone and answers OK: what it
  // acknowledged is in the WAL and replays at the next open (logged).
  absl::Status Flush() override;

  const std::string& dir() const { return options_.dir; }
  // Erases queued because the database could not take them.
  size_t pending_erases() const;

 private:
  SsdTier(const SsdTierOptions& options, uint64_t write_buffer, std::unique_ptr<rocksdb::Env> env,
          rocksdb::DB* db, bool read_only, std::string open_error);

  // Free space check before a write of `bytes`; sets or clears the space reason.
  absl::Status CheckSpace(uint64_t bytes);
  // Records a failed RocksDB write (degraded, logged on the transition).
  void SetWriteError(const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);
  // Tries to leave the degraded state: DB::Resume() when RocksDB stopped writes and the disk has
  // room, then the queued erases. True when healthy afterwards.
  bool TryRecover() ABSL_LOCKS_EXCLUDED(mu_);
  void DrainPendingErases() ABSL_LOCKS_EXCLUDED(mu_);
  // Compaction with blob GC once enough bytes were erased to be worth reclaiming.
  void MaybeReclaim();
  uint64_t ReclaimThreshold() const;
  // Waits (bounded by reclaim_stall_ms) while twice the threshold is erased and unreclaimed.
  void StallForReclaim() ABSL_LOCKS_EXCLUDED(mu_);
  void MaintenanceLoop();
  void Log(const std::string& line) const;

  // Constant after construction
  const SsdTierOptions options_;
  const uint64_t write_buffer_;
  const uint64_t reserve_;
  std::unique_ptr<rocksdb::Env> env_;  // outlives db_ (composite env over options_.file_system)
  rocksdb::DB* db_;                    // owned; see the destructor for how it is closed
  const bool read_only_;

  std::atomic<uint64_t> used_{0};
  // Bytes erased and not yet dropped by a finished reclaim (a reclaim in progress subtracts
  // what it took when it ends, under mu_, so a stalled write re-checks).
  std::atomic<uint64_t> erased_since_reclaim_{0};
  std::atomic<bool> degraded_{false};  // fast path for Write: health lives under mu_

  mutable absl::Mutex mu_;
  std::string write_error_ ABSL_GUARDED_BY(mu_);  // RocksDB refused writes (bg error, read-only)
  std::string space_error_ ABSL_GUARDED_BY(mu_);  // the free-space check refused the last write
  // A foreground write failed with an I/O error (its WAL append may have failed) and RocksDB has
  // not resumed since; fatal_: RocksDB refused to resume (only a restart recovers).
  bool wal_suspect_ ABSL_GUARDED_BY(mu_) = false;
  bool fatal_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_retry_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::string, uint64_t>> pending_erases_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool reclaim_wanted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread maintainer_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_SSD_TIER_H_
