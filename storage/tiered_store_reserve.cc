// TieredStore::Reserve / CommitReserved / AbortReserved: zero-copy Puts for the data plane
// (tiered_store.h).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "storage/tiered_store.h"

namespace strata {

absl::StatusOr<TieredStore::Reservation> TieredStore::Reserve(std::string_view ns,
                                                              std::string_view key,
                                                              uint64_t size) {
  constexpr size_t t = 0;  // the first tier, where Put puts a block that fits
  std::string id = MakeId(ns, key);
  Tier& tier = *tiers_[t];
  if (tier.persistent() || codecs_.For(id, t)->numeric_id() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tier ", AsAbsl(tier.name()), " does not hold this namespace's blocks plain: use Put"));
  }
  if (tier.ChargeFor(size) > tier.capacity_bytes()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a block of ", size, " bytes is larger than tier ", AsAbsl(tier.name()), ": use Put"));
  }
  const size_t share = shares_.ShareOfId(id);
  if (share != TierShares::kNoShare) {
    STRATA_RETURN_IF_ERROR(MakeShareRoom(t, share, tier.ChargeFor(size)));
  }
  const BlockId block = NextBlockId(ShardIndex(id));
  BlockRecord record;
  record.payload_bytes = size;
  record.stored_bytes = size;
  record.codec_id = 0;
  while (true) {
    char* data = nullptr;
    absl::StatusOr<TierSlot> slot = tier.Allocate(id, block, record, size, &data);
    if (slot.ok()) return Reservation{std::move(id), block, t, *slot, data, size};
    if (absl::IsUnimplemented(slot.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tier ", AsAbsl(tier.name()), " cannot be written in place: use Put"));
    }
    if (!absl::IsResourceExhausted(slot.status())) return slot.status();
    if (!EvictOne(t, 0, share)) {
      counters_.no_space.fetch_add(1);
      return absl::ResourceExhaustedError(absl::StrCat(
          "tier ", AsAbsl(tier.name()), " is full of blocks that cannot be evicted now (",
          slot.status().message(), ")"));
    }
  }
}

void TieredStore::CommitReserved(const Reservation& r, std::string_view ns,
                                 std::string_view parent, const BlockLayout& layout,
                                 uint64_t checksum) {
  BlockRecord record;
  record.parent = std::string(parent);
  record.layout = layout;
  record.checksum = checksum;
  record.payload_bytes = r.size;
  record.stored_bytes = r.size;
  record.codec_id = 0;
  counters_.puts.fetch_add(1);
  counters_.put_bytes.fetch_add(r.size);
  Shard& shard = *shards_[ShardIndex(r.id)];
  if (RefreshIfSame(shard, r.id, record)) {
    AbortReserved(r);
    return;
  }
  Publish(ns, r.id, shard, r.block, r.tier, r.slot, std::move(record), parent);
}

void TieredStore::AbortReserved(const Reservation& r) {
  // Swallowed on purpose: a memory tier's erase cannot fail.
  (void)tiers_[r.tier]->Erase(r.id, r.slot);
}

}  // namespace strata
