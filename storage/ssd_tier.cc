#include "storage/ssd_tier.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace strata {
namespace {

// The one place rocksdb::Status becomes absl::Status.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat("ssd: ", AsAbsl(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(msg);
  }
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
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

}  // namespace

absl::StatusOr<std::unique_ptr<SsdTier>> SsdTier::Open(const SsdTierOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("ssd: directory must be set");
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.enable_blob_files = true;
  db_options.min_blob_size = options.min_blob_bytes;
  db_options.enable_blob_garbage_collection = true;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.max_background_jobs = 2;
  // Payloads are already checksummed and optionally encoded by Strata's codecs.
  db_options.compression = rocksdb::kNoCompression;
  db_options.blob_compression_type = rocksdb::kNoCompression;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open ", options.dir));
  return std::unique_ptr<SsdTier>(new SsdTier(options, std::unique_ptr<rocksdb::DB>(raw)));
}

SsdTier::SsdTier(const SsdTierOptions& options, std::unique_ptr<rocksdb::DB> db)
    : options_(options), db_(std::move(db)) {}

SsdTier::~SsdTier() {
  // Close explicitly so background work stops before the handle goes; errors here have no one
  // to report to (Flush() is where shutdown reports them).
  (void)db_->Close();
}

uint64_t SsdTier::ChargeFor(uint64_t stored_bytes) const { return stored_bytes + kRecordOverhead; }

absl::StatusOr<TierSlot> SsdTier::Write(std::string_view id, uint64_t version,
                                        const BlockRecord& record, std::string_view bytes) {
  const uint64_t charged = ChargeFor(bytes.size());
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (used + charged > options_.capacity_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("ssd: ", charged, " bytes do not fit (",
                                                       used, " of ", options_.capacity_bytes,
                                                       " used)"));
    }
  } while (!used_.compare_exchange_weak(used, used + charged, std::memory_order_relaxed));

  rocksdb::WriteBatch batch;
  const std::string meta = record.Encode();
  batch.Put(MetaKey(id, version), meta);
  batch.Put(DataKey(id, version), rocksdb::Slice(bytes.data(), bytes.size()));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  absl::Status st = FromRocks(db_->Write(wo, &batch), "write");
  if (!st.ok()) {
    used_.fetch_sub(charged, std::memory_order_relaxed);
    return st;
  }
  return TierSlot{version, bytes.size(), charged};
}

absl::Status SsdTier::Read(std::string_view id, const TierSlot& slot, std::string* out) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  return FromRocks(db_->Get(ro, DataKey(id, slot.offset), out), "read");
}

absl::Status SsdTier::Erase(std::string_view id, const TierSlot& slot) {
  rocksdb::WriteBatch batch;
  batch.Delete(MetaKey(id, slot.offset));
  batch.Delete(DataKey(id, slot.offset));
  absl::Status st = FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "erase");
  if (st.ok()) used_.fetch_sub(slot.charged_bytes, std::memory_order_relaxed);
  return st;
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
  for (const std::string& meta_key : bad) {
    rocksdb::WriteBatch batch;
    batch.Delete(meta_key);
    batch.Delete("d" + meta_key.substr(1));
    STRATA_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "erase"));
  }
  *dropped = bad.size();
  return absl::OkStatus();
}

absl::Status SsdTier::Flush() {
  STRATA_RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "flush"));
  return FromRocks(db_->FlushWAL(/*sync=*/true), "flush wal");
}

}  // namespace strata
