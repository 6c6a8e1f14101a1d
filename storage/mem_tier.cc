#include "storage/mem_tier.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace strata {
namespace {

// Versions of one id are distinct entries: the id, then the version's 8 bytes.
std::string VersionKey(std::string_view id, uint64_t version) {
  std::string k(id);
  k.append(reinterpret_cast<const char*>(&version), sizeof(version));
  return k;
}

}  // namespace

uint64_t MemTier::used_bytes() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

absl::StatusOr<MemTier::Stored*> MemTier::PlaceLocked(std::string_view id, uint64_t version,
                                                      const BlockRecord& record, uint64_t size) {
  const std::string key = VersionKey(id, version);
  auto it = blocks_.find(key);
  const uint64_t old = it == blocks_.end() ? 0 : it->second.size;
  if (used_ - old + size > options_.capacity_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(AsAbsl(options_.name), ": ", size, " bytes do not fit"));
  }
  Stored& s = blocks_[key];
  s.record = record;
  s.size = size;
  used_ = used_ - old + size;
  return &s;
}

absl::StatusOr<TierSlot> MemTier::Write(std::string_view id, uint64_t version,
                                        const BlockRecord& record, std::string_view bytes) {
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Stored * s, PlaceLocked(id, version, record, bytes.size()));
  if (options_.keep_bytes) s->bytes.assign(bytes);
  return TierSlot{version, bytes.size(), bytes.size()};
}

absl::StatusOr<TierSlot> MemTier::Allocate(std::string_view id, uint64_t version,
                                           const BlockRecord& record, uint64_t stored_bytes,
                                           char** data) {
  if (!options_.keep_bytes) return absl::UnimplementedError("this tier keeps no bytes");
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Stored * s, PlaceLocked(id, version, record, stored_bytes));
  s->bytes.assign(stored_bytes, '\0');  // a map node: stays put until erased
  *data = s->bytes.data();
  return TierSlot{version, stored_bytes, stored_bytes};
}

absl::Status MemTier::Read(std::string_view id, const TierSlot& slot, std::string* out) {
  absl::MutexLock lock(&mu_);
  auto it = blocks_.find(VersionKey(id, slot.offset));
  if (it == blocks_.end())
    return absl::NotFoundError(absl::StrCat(AsAbsl(options_.name), ": absent"));
  if (options_.keep_bytes) {
    *out = it->second.bytes;
  } else {
    out->assign(it->second.size, '\0');
  }
  return absl::OkStatus();
}

absl::Status MemTier::Erase(std::string_view id, const TierSlot& slot) {
  absl::MutexLock lock(&mu_);
  auto it = blocks_.find(VersionKey(id, slot.offset));
  if (it == blocks_.end()) return absl::OkStatus();
  used_ -= it->second.size;
  blocks_.erase(it);
  return absl::OkStatus();
}

absl::Status MemTier::Recover(
    absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
    uint64_t* dropped) {
  *dropped = 0;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, s] : blocks_) {
    uint64_t version = 0;
    std::memcpy(&version, key.data() + key.size() - sizeof(version), sizeof(version));
    fn(std::string_view(key).substr(0, key.size() - sizeof(version)), s.record,
       TierSlot{version, s.size, s.size});
  }
  return absl::OkStatus();
}

absl::Status MemTier::TEST_Corrupt(std::string_view id, size_t byte_index) {
  absl::MutexLock lock(&mu_);
  for (auto& [key, s] : blocks_) {
    if (key.size() != id.size() + 8 || key.compare(0, id.size(), id) != 0) continue;
    if (byte_index >= s.bytes.size()) break;
    s.bytes[byte_index] ^= 0x5a;
    return absl::OkStatus();
  }
  return absl::NotFoundError("no such byte");
}

}  // namespace strata
