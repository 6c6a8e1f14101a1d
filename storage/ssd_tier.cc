#include "storage/ssd_tier.h"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace strata {
namespace {

// The one place rocksdb::Status becomes absl::Status (reads, recovery, open).
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat("ssd: ", AsAbsl(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(msg);
  }
  if (s.IsNoSpace()) return absl::UnavailableError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

bool IsNoSpace(const rocksdb::Status& s) {
  return s.IsNoSpace() || (s.IsIOError() && s.ToString().find("No space") != std::string::npos);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Mib(uint64_t bytes) {
  return absl::StrCat(static_cast<double>(bytes * 10 / (1 << 20)) / 10, " MiB");
}

// Keys: a type byte, the id, then the version as 8 big-endian bytes (versions of one id sort
// together, oldest first).
std::string Key(char type, std::string_view id, uint64_t version) {
  std::string k;
  k.reserve(1 + id.size() + 8);
  k.push_back(type);
  k.append(id);
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((version >> (8 * i)) & 0xff));
  return k;
}
std::string MetaKey(std::string_view id, uint64_t version) { return Key('m', id, version); }
std::string DataKey(std::string_view id, uint64_t version) { return Key('d', id, version); }

// Charged on top of the payload for the record and RocksDB's per-key overhead.
constexpr uint64_t kRecordOverhead = 128;

rocksdb::Options DbOptions(const SsdTierOptions& options, uint64_t write_buffer,
                           rocksdb::Env* env) {
  rocksdb::Options o;
  o.create_if_missing = true;
  if (env != nullptr) o.env = env;
  o.enable_blob_files = true;
  o.min_blob_size = options.min_blob_bytes;
  o.blob_file_size = write_buffer;
  // Blob GC: compaction relocates live blobs out of every blob file it touches, so files whose
  // blocks were erased are rewritten small and the old ones deleted.
  o.enable_blob_garbage_collection = true;
  o.blob_garbage_collection_age_cutoff = 0.25;
  o.blob_garbage_collection_force_threshold = 0.25;
  o.write_buffer_size = write_buffer;
  o.max_write_buffer_number = 2;
  o.max_total_wal_size = 2 * write_buffer;
  o.level0_file_num_compaction_trigger = 2;
  o.max_background_jobs = 2;
  // The tier flushes at shutdown itself (Flush); RocksDB's own flush-on-close would touch a WAL
  // writer that already failed, which debug builds of RocksDB answer with an assertion.
  o.avoid_flush_during_shutdown = true;
  // Replaying the WAL at open needs no space: a disk that filled up still opens.
  o.avoid_flush_during_recovery = true;
  // Payloads are already checksummed and optionally encoded by Strata's codecs.
  o.compression = rocksdb::kNoCompression;
  o.blob_compression_type = rocksdb::kNoCompression;
  // RocksDB's own files, sized for small tiers: the MANIFEST is preallocated 4 MiB by default,
  // the info LOG grows without bound.
  o.manifest_preallocation_size = 64 << 10;
  o.keep_log_file_num = 2;
  o.max_log_file_size = 256 << 10;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SsdTier>> SsdTier::Open(const SsdTierOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("ssd: directory must be set");
  const uint64_t write_buffer = std::min(options.write_buffer_bytes,
                                         std::max<uint64_t>(options.capacity_bytes / 16, 1 << 20));
  std::unique_ptr<rocksdb::Env> env;
  if (options.file_system != nullptr) env = rocksdb::NewCompositeEnv(options.file_system);
  const rocksdb::Options db_options = DbOptions(options, write_buffer, env.get());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, &raw);
  if (s.ok()) {
    return std::unique_ptr<SsdTier>(
        new SsdTier(options, write_buffer, std::move(env), raw, false, ""));
  }
  if (!IsNoSpace(s)) return FromRocks(s, absl::StrCat("open ", options.dir));
  // No room to open read-write (RocksDB writes a new MANIFEST and WAL at open): serve what the
  // disk holds, take no writes.
  const std::string why =
      absl::StrCat("disk full: opened ", options.dir,
                   " read-only, no writes until restarted with free space (", s.ToString(), ")");
  rocksdb::Status ro = rocksdb::DB::OpenForReadOnly(db_options, options.dir, &raw);
  if (!ro.ok()) {
    return absl::UnavailableError(absl::StrCat("ssd: open ", options.dir, ": ", s.ToString(),
                                               "; read-only: ", ro.ToString()));
  }
  return std::unique_ptr<SsdTier>(
      new SsdTier(options, write_buffer, std::move(env), raw, true, why));
}

SsdTier::SsdTier(const SsdTierOptions& options, uint64_t write_buffer,
                 std::unique_ptr<rocksdb::Env> env, rocksdb::DB* db, bool read_only,
                 std::string open_error)
    : options_(options),
      write_buffer_(write_buffer),
      reserve_(options.reserve_free_bytes != 0 ? options.reserve_free_bytes
                                               : write_buffer + (1 << 20)),
      env_(std::move(env)),
      db_(db),
      read_only_(read_only) {
  if (read_only_) {
    absl::MutexLock lock(&mu_);
    write_error_ = std::move(open_error);
    degraded_ = true;
    Log(absl::StrCat("ssd tier degraded: ", write_error_));
  }
  maintainer_ = std::thread([this] { MaintenanceLoop(); });
}

SsdTier::~SsdTier() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  maintainer_.join();
  bool abandon = false;
  if (!read_only_) {
    TryRecover();
    absl::MutexLock lock(&mu_);
    abandon = fatal_ || (wal_suspect_ && !write_error_.empty());
  }
  if (abandon) {
    // RocksDB 7.x asserts (debug builds abort) when it closes a WAL writer that saw a write
    // error: Close() flushes it. What was acknowledged is in the WAL already and replays at the
    // next open, so stop background work and leave the handle (and its lock) to process exit.
    rocksdb::CancelAllBackgroundWork(db_, /*wait=*/true);
    static absl::Mutex abandoned_mu(absl::kConstInit);
    static auto* abandoned = new std::vector<rocksdb::DB*>();  // reachable: not a leak
    {
      absl::MutexLock lock(&abandoned_mu);
      abandoned->push_back(db_);
    }
    Log("ssd tier: the write-ahead log failed and was not recovered; leaving the database "
        "unclosed, acknowledged blocks replay at the next start");
    return;
  }
  // Close explicitly so background work stops before the handle goes; errors here have no one
  // to report to (Flush() is where shutdown reports them).
  (void)db_->Close();
  delete db_;
}

void SsdTier::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << "strata: " << line << "\n";
  }
}

TierHealth SsdTier::health() const {
  absl::MutexLock lock(&mu_);
  if (!write_error_.empty()) return {true, write_error_};
  if (!space_error_.empty()) return {true, space_error_};
  return {};
}

size_t SsdTier::pending_erases() const {
  absl::MutexLock lock(&mu_);
  return pending_erases_.size();
}

uint64_t SsdTier::ChargeFor(uint64_t stored_bytes) const { return stored_bytes + kRecordOverhead; }

absl::Status SsdTier::CheckSpace(uint64_t bytes) {
  rocksdb::FileSystem* fs = options_.file_system != nullptr ? options_.file_system.get()
                                                            : rocksdb::FileSystem::Default().get();
  uint64_t free_bytes = 0;
  const rocksdb::IOStatus s =
      fs->GetFreeSpace(options_.dir, rocksdb::IOOptions(), &free_bytes, nullptr);
  if (!s.ok()) return absl::OkStatus();  // unknown: let RocksDB find out
  const uint64_t needed = bytes + reserve_;
  absl::MutexLock lock(&mu_);
  if (free_bytes >= needed) {
    if (!space_error_.empty() && write_error_.empty()) {
      Log(absl::StrCat("ssd tier recovered: ", Mib(free_bytes), " free in ", options_.dir));
    }
    space_error_.clear();
    degraded_ = !write_error_.empty();
    return absl::OkStatus();
  }
  const bool was_degraded = !space_error_.empty() || !write_error_.empty();
  space_error_ =
      absl::StrCat("disk full: ", Mib(free_bytes), " free in ", options_.dir, ", ", Mib(needed),
                   " needed (the block plus ", Mib(reserve_), " kept for RocksDB)");
  degraded_ = true;
  if (!was_degraded) Log(absl::StrCat("ssd tier degraded: ", space_error_));
  return absl::UnavailableError(absl::StrCat("ssd tier degraded: ", space_error_));
}

void SsdTier::SetWriteError(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  const bool was_degraded = !space_error_.empty() || !write_error_.empty();
  write_error_ = reason;
  degraded_ = true;
  last_retry_ms_ = NowMs();
  if (!was_degraded) Log(absl::StrCat("ssd tier degraded: ", reason));
}

bool SsdTier::TryRecover() {
  if (read_only_) return false;
  bool stopped = false;
  {
    absl::MutexLock lock(&mu_);
    if (fatal_) return false;
    stopped = !write_error_.empty();
    last_retry_ms_ = NowMs();
  }
  if (stopped) {
    // Resume needs room to flush the memtables and switch to a new WAL.
    if (!CheckSpace(write_buffer_).ok()) return false;
    const rocksdb::Status s = db_->Resume();
    if (!s.ok()) {
      absl::MutexLock lock(&mu_);
      if (s.severity() >= rocksdb::Status::Severity::kFatalError) {
        // RocksDB does not resume after its write-ahead log failed: only a restart does.
        fatal_ = true;
        write_error_ = absl::StrCat(IsNoSpace(s) ? "disk full" : "write failed",
                                    ": the write-ahead log failed, no writes until the node "
                                    "restarts (",
                                    s.ToString(), ")");
        Log(absl::StrCat("ssd tier degraded: ", write_error_));
      } else if (!s.IsBusy()) {  // Busy: RocksDB is already recovering; the reason stands
        write_error_ =
            absl::StrCat(IsNoSpace(s) ? "disk full: " : "writes stopped: ", s.ToString());
      }
      return false;
    }
    absl::MutexLock lock(&mu_);
    write_error_.clear();
    wal_suspect_ = false;
    degraded_ = !space_error_.empty();
    Log("ssd tier recovered: RocksDB resumed writes");
  }
  DrainPendingErases();
  absl::MutexLock lock(&mu_);
  return write_error_.empty() && space_error_.empty();
}

void SsdTier::DrainPendingErases() {
  std::vector<std::pair<std::string, uint64_t>> pending;
  {
    absl::MutexLock lock(&mu_);
    if (!write_error_.empty()) return;
    pending.swap(pending_erases_);
  }
  size_t done = 0;
  for (; done < pending.size(); ++done) {
    rocksdb::WriteBatch batch;
    batch.Delete(MetaKey(pending[done].first, pending[done].second));
    batch.Delete(DataKey(pending[done].first, pending[done].second));
    if (!db_->Write(rocksdb::WriteOptions(), &batch).ok()) break;
  }
  if (done == pending.size()) return;
  absl::MutexLock lock(&mu_);
  pending_erases_.insert(pending_erases_.end(), pending.begin() + done, pending.end());
}

absl::StatusOr<TierSlot> SsdTier::Write(std::string_view id, uint64_t version,
                                        const BlockRecord& record, std::string_view bytes) {
  const uint64_t charged = ChargeFor(bytes.size());
  if (degraded_.load()) {
    bool retry = false;
    {
      absl::MutexLock lock(&mu_);
      retry = write_error_.empty() || NowMs() - last_retry_ms_ >= options_.retry_ms;
    }
    if (retry) TryRecover();
    absl::MutexLock lock(&mu_);
    if (!write_error_.empty()) {
      return absl::UnavailableError(absl::StrCat("ssd tier degraded: ", write_error_));
    }
  }
  StallForReclaim();
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (used + charged > options_.capacity_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("ssd: ", charged, " bytes do not fit (",
                                                       used, " of ", options_.capacity_bytes,
                                                       " used)"));
    }
  } while (!used_.compare_exchange_weak(used, used + charged, std::memory_order_relaxed));
  if (absl::Status space = CheckSpace(charged); !space.ok()) {
    used_.fetch_sub(charged, std::memory_order_relaxed);
    return space;
  }

  rocksdb::WriteBatch batch;
  const std::string meta = record.Encode();
  batch.Put(MetaKey(id, version), meta);
  batch.Put(DataKey(id, version), rocksdb::Slice(bytes.data(), bytes.size()));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  const rocksdb::Status s = db_->Write(wo, &batch);
  if (s.ok()) return TierSlot{version, bytes.size(), charged};
  used_.fetch_sub(charged, std::memory_order_relaxed);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsIncomplete()) {
    return absl::UnavailableError(absl::StrCat("ssd tier busy: ", s.ToString()));
  }
  // Anything else stopped RocksDB's writes (a WAL append failed, or an earlier background
  // error is being reported again): degraded until Resume works.
  const std::string reason =
      absl::StrCat(IsNoSpace(s) ? "disk full: " : "write failed: ", s.ToString());
  if (s.IsIOError()) {
    absl::MutexLock lock(&mu_);
    wal_suspect_ = true;
  }
  SetWriteError(reason);
  return absl::UnavailableError(absl::StrCat("ssd tier degraded: ", reason));
}

absl::Status SsdTier::Read(std::string_view id, const TierSlot& slot, std::string* out) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  const rocksdb::Status s = db_->Get(ro, DataKey(id, slot.offset), out);
  // A missing or unreadable blob file (deleted, truncated: RocksDB opens a blob file only when
  // its footer checks out) cannot come back: the block is lost, not temporarily unavailable.
  if (s.IsPathNotFound() ||
      (s.IsIOError() && s.ToString().find("No such file") != std::string::npos)) {
    return absl::DataLossError(absl::StrCat("ssd: read: ", s.ToString()));
  }
  return FromRocks(s, "read");
}

absl::Status SsdTier::Erase(std::string_view id, const TierSlot& slot) {
  used_.fetch_sub(slot.charged_bytes, std::memory_order_relaxed);
  if (erased_since_reclaim_.fetch_add(slot.charged_bytes, std::memory_order_relaxed) +
          slot.charged_bytes >=
      ReclaimThreshold()) {
    absl::MutexLock lock(&mu_);
    reclaim_wanted_ = true;  // wakes the maintenance thread
  }
  bool stopped = read_only_;
  if (!stopped) {
    rocksdb::WriteBatch batch;
    batch.Delete(MetaKey(id, slot.offset));
    batch.Delete(DataKey(id, slot.offset));
    const rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (s.ok()) return absl::OkStatus();
    stopped = true;
    if (!s.IsBusy() && !s.IsIncomplete()) {
      if (s.IsIOError()) {
        absl::MutexLock lock(&mu_);
        wal_suspect_ = true;
      }
      SetWriteError(absl::StrCat(IsNoSpace(s) ? "disk full: " : "write failed: ", s.ToString()));
    }
  }
  absl::MutexLock lock(&mu_);
  pending_erases_.emplace_back(std::string(id), slot.offset);
  return absl::UnavailableError(
      "ssd tier degraded: the delete is queued until the database takes writes again");
}

absl::Status SsdTier::Recover(
    absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
    uint64_t* dropped) {
  *dropped = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::vector<std::string> bad;  // meta keys that do not decode
  for (it->Seek("m"); it->Valid() && it->key().starts_with("m"); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() < 1 + 1 + 8) {
      bad.emplace_back(key.data(), key.size());
      continue;
    }
    const std::string_view id(key.data() + 1, key.size() - 9);
    uint64_t version = 0;
    for (size_t i = key.size() - 8; i < key.size(); ++i) {
      version = (version << 8) | static_cast<uint8_t>(key[i]);
    }
    auto record = BlockRecord::Decode(std::string_view(it->value().data(), it->value().size()));
    if (!record.ok()) {
      bad.emplace_back(key.data(), key.size());
      continue;
    }
    const TierSlot slot{version, record->stored_bytes, ChargeFor(record->stored_bytes)};
    used_.fetch_add(slot.charged_bytes, std::memory_order_relaxed);
    fn(id, *record, slot);
  }
  STRATA_RETURN_IF_ERROR(FromRocks(it->status(), "recovery scan"));
  *dropped = bad.size();
  if (read_only_) return absl::OkStatus();  // nothing can be deleted; they stay unindexed
  for (const std::string& meta_key : bad) {
    rocksdb::WriteBatch batch;
    batch.Delete(meta_key);
    // The data key is the meta key with its first byte 'm' replaced by 'd'. (Built in place:
    // GCC 12 at -O3 reports a false -Wrestrict on "d" + std::string&&.)
    std::string data_key = meta_key;
    data_key[0] = 'd';
    batch.Delete(data_key);
    (void)db_->Write(rocksdb::WriteOptions(), &batch);  // best effort: they are not indexed
  }
  return absl::OkStatus();
}

absl::Status SsdTier::Flush() {
  if (!read_only_) TryRecover();
  if (TierHealth h = health(); h.degraded) {
    // Flushing now would fail again, and touching a failed WAL writer aborts debug RocksDB.
    // Nothing is lost by not flushing: what was acknowledged is in the WAL, as after any
    // crash, and replays at the next open.
    Log(absl::StrCat("ssd tier degraded at shutdown (", h.reason,
                     "): memtables not flushed, acknowledged blocks replay from the write-ahead "
                     "log at the next start"));
    return absl::OkStatus();
  }
  rocksdb::FlushOptions fo;
  STRATA_RETURN_IF_ERROR(FromRocks(db_->Flush(fo), "flush"));
  if (!options_.sync_writes) return absl::OkStatus();
  return FromRocks(db_->FlushWAL(/*sync=*/true), "flush wal");
}

uint64_t SsdTier::ReclaimThreshold() const {
  return std::max<uint64_t>(options_.capacity_bytes / 4, 1 << 20);
}

void SsdTier::StallForReclaim() {
  if (options_.reclaim_stall_ms == 0 || read_only_) return;
  const uint64_t limit = 2 * ReclaimThreshold();
  if (erased_since_reclaim_.load(std::memory_order_relaxed) < limit) return;
  absl::MutexLock lock(&mu_);
  reclaim_wanted_ = true;  // the maintenance thread may be asleep on its retry timer
  auto caught_up = [this, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || degraded_.load() || erased_since_reclaim_.load() < limit;
  };
  // Bounded: a compaction that cannot finish (a failing disk degrades the tier instead) must not
  // hold writes forever; past the bound the write goes ahead and the disk runs over the plan.
  mu_.AwaitWithTimeout(absl::Condition(&caught_up), absl::Milliseconds(options_.reclaim_stall_ms));
}

void SsdTier::MaybeReclaim() {
  {
    absl::MutexLock lock(&mu_);
    reclaim_wanted_ = false;
  }
  if (read_only_ || degraded_.load()) return;
  const uint64_t taken = erased_since_reclaim_.load();
  if (taken < ReclaimThreshold()) return;
  // Drops the erased keys and lets blob GC account (and delete) the blob files they emptied.
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  (void)db_->Flush(rocksdb::FlushOptions());
  (void)db_->CompactRange(cro, nullptr, nullptr);
  // Under mu_ so that a write waiting in StallForReclaim re-checks its condition.
  absl::MutexLock lock(&mu_);
  erased_since_reclaim_.fetch_sub(taken);
}

void SsdTier::MaintenanceLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || reclaim_wanted_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(options_.retry_ms));
      if (stop_) return;
    }
    bool needs_recovery = false;
    {
      absl::MutexLock lock(&mu_);
      needs_recovery = !write_error_.empty() || !pending_erases_.empty();
    }
    if (needs_recovery) TryRecover();
    MaybeReclaim();
  }
}

}  // namespace strata
