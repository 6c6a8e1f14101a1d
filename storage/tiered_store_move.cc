// TieredStore: moving blocks between tiers -- making room, demotion, eviction and promotion
// (tiered_store.h). Split from tiered_store.cc by job.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "storage/tiered_store.h"

namespace strata {

absl::StatusOr<TierSlot> TieredStore::PlaceIn(size_t t, std::string_view id, BlockId version,
                                              const BlockRecord& record, std::string_view bytes) {
  Tier& tier = *tiers_[t];
  const size_t share = shares_.ShareOfId(id);
  if (share != TierShares::kNoShare) {
    STRATA_RETURN_IF_ERROR(MakeShareRoom(t, share, tier.ChargeFor(bytes.size())));
  }
  while (true) {
    absl::StatusOr<TierSlot> slot = tier.Write(id, version, record, bytes);
    if (slot.ok() || !absl::IsResourceExhausted(slot.status())) return slot;
    if (!EvictOne(t, 0, share)) return slot;
  }
}

absl::Status TieredStore::MakeShareRoom(size_t t, size_t share, uint64_t charge) {
  if (shares_.NeverFits(share, t, charge)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a block charged ", charge, " bytes is larger than the limit of ",
                     shares_.Explain(share, t), " in tier ", AsAbsl(tiers_[t]->name())));
  }
  while (!shares_.Fits(share, t, charge)) {
    if (!EvictOne(t, 0, share, /*own_only=*/true)) {
      return absl::ResourceExhaustedError(
          absl::StrCat(shares_.Explain(share, t), " in tier ", AsAbsl(tiers_[t]->name()),
                       ", none of them evictable now (leased or in use)"));
    }
  }
  return absl::OkStatus();
}

bool TieredStore::EnsureRoom(size_t t, uint64_t charge, size_t share) {
  Tier& tier = *tiers_[t];
  if (charge > tier.capacity_bytes()) return false;
  if (share != TierShares::kNoShare && !MakeShareRoom(t, share, charge).ok()) return false;
  while (tier.used_bytes() + charge > tier.capacity_bytes()) {
    if (!EvictOne(t, 0, share)) return false;
  }
  return true;
}

void TieredStore::EnforceWatermark(size_t t, BlockId keep) {
  Tier& tier = *tiers_[t];
  const double cap = static_cast<double>(tier.capacity_bytes());
  if (static_cast<double>(tier.used_bytes()) <= options_.high_watermark * cap) return;
  while (static_cast<double>(tier.used_bytes()) > options_.low_watermark * cap) {
    if (!EvictOne(t, keep)) return;
  }
}

void TieredStore::MoveLocked(Shard& shard, BlockId block, Entry& e, size_t to_tier,
                             const TierSlot& to_slot, BlockRecord to_record, bool keep_old) {
  if (keep_old) {
    // The old copy stays, counted and evictable in its tier, as the block's backing copy.
    if (e.backing_tier != kNoTier) DropBackingLocked(shard, block, e);
    e.backing_tier = e.tier;
    e.backing_slot = e.slot;
    e.backing_record = e.record;
  } else {
    // The old copy goes; an erase that fails leaves bytes the index no longer points at (a
    // persistent tier's recovery finds and drops them, a memory tier's erase cannot fail).
    if (e.pins > 0) {
      shard.orphans[block] = Shard::Orphan{e.pins, e.id, e.tier, e.slot};  // freed by Unpin
    } else {
      (void)tiers_[e.tier]->Erase(e.id, e.slot);
    }
    shard.policies[e.tier]->OnErase(block);
    tier_blocks_[e.tier].fetch_sub(1);
    shares_.Charge(e.id, e.tier, -static_cast<int64_t>(e.slot.charged_bytes));
  }
  const bool leased = e.lease_until_ms != 0;
  if (leased) counters_.leased_bytes.fetch_sub(e.slot.charged_bytes);
  e.tier = to_tier;
  e.slot = to_slot;
  e.record = std::move(to_record);
  if (leased) counters_.leased_bytes.fetch_add(e.slot.charged_bytes);
  shard.policies[to_tier]->OnInsert(block, InfoFor(e));
  shard.policies[to_tier]->OnResidentChildren(block, e.resident_children);
  tier_blocks_[to_tier].fetch_add(1);
  shares_.Charge(e.id, to_tier, static_cast<int64_t>(e.slot.charged_bytes));
}

void TieredStore::DropBackingLocked(Shard& shard, BlockId block, Entry& e) {
  (void)tiers_[e.backing_tier]->Erase(e.id, e.backing_slot);
  shard.policies[e.backing_tier]->OnErase(block);
  tier_blocks_[e.backing_tier].fetch_sub(1);
  shares_.Charge(e.id, e.backing_tier, -static_cast<int64_t>(e.backing_slot.charged_bytes));
  e.backing_tier = kNoTier;
  e.backing_slot = TierSlot{};
  e.backing_record = BlockRecord{};
}

bool TieredStore::LowerTierDegraded(size_t t) const {
  for (size_t below = t + 1; below < tiers_.size(); ++below) {
    if (tiers_[below]->health().degraded) return true;
  }
  return false;
}

bool TieredStore::EvictOne(size_t t, BlockId keep, size_t for_share, bool own_only) {
  const size_t n = shards_.size();
  const size_t start = evict_cursor_.fetch_add(1, std::memory_order_relaxed);
  const bool has_lower = t + 1 < tiers_.size();
  for (size_t i = 0; i < n; ++i) {
    Shard& shard = *shards_[(start + i) % n];
    BlockId victim = 0;
    uint64_t stored = 0;
    size_t victim_share = TierShares::kNoShare;
    {
      absl::MutexLock lock(&shard.mu);
      const int64_t now = Now();
      // A victim in tier t is either a block held there or a backing copy of a block held above
      // (always evictable: the copy above serves it).
      auto pick =
          shard.policies[t]->PickVictim([&](BlockId b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
            auto it = shard.entries.find(b);
            if (b == keep || it == shard.entries.end()) return false;
            if (own_only ? shares_.ShareOfId(it->second.id) != for_share
                         : !shares_.MayEvict(it->second.id, t, for_share)) {
              return false;
            }
            return it->second.tier == t ? CanEvictLocked(it->second, now)
                                        : it->second.backing_tier == t;
          });
      if (!pick) continue;
      victim = *pick;
      Entry& e = shard.entries[victim];
      if (e.tier != t) {
        DropBackingLocked(shard, victim, e);
        return true;
      }
      if (e.backing_tier == t + 1) {
        // Still backed below: demotion is dropping this copy, with no rewrite.
        (void)tiers_[t]->Erase(e.id, e.slot);
        shard.policies[t]->OnErase(victim);
        tier_blocks_[t].fetch_sub(1);
        shares_.Charge(e.id, t, -static_cast<int64_t>(e.slot.charged_bytes));
        const bool leased = e.lease_until_ms != 0;
        if (leased) counters_.leased_bytes.fetch_sub(e.slot.charged_bytes);
        e.tier = e.backing_tier;
        e.slot = e.backing_slot;
        e.record = std::move(e.backing_record);
        e.backing_tier = kNoTier;
        e.backing_slot = TierSlot{};
        e.backing_record = BlockRecord{};
        if (leased) counters_.leased_bytes.fetch_add(e.slot.charged_bytes);
        shard.policies[e.tier]->OnAccess(victim);
        counters_.demotions.fetch_add(1);
        return true;
      }
      // An upper bound on what the tier below stores after re-encoding.
      stored = e.record.payload_bytes;
      victim_share = shares_.ShareOfId(e.id);
    }
    // Make room below without holding any shard lock, then move the victim if it is still
    // where it was. A degraded tier below is tried as it is (it answers at once).
    const bool lower_degraded = has_lower && LowerTierDegraded(t);
    const bool room_below =
        has_lower &&
        (lower_degraded || EnsureRoom(t + 1, tiers_[t + 1]->ChargeFor(stored), victim_share));
    // No room below because a tier there failed: dropping the victim would lose a block that
    // was acknowledged; it stays, and the caller learns this tier has nothing to evict.
    if (has_lower && !room_below && LowerTierDegraded(t)) return false;
    BlockId parent = 0;
    {
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(victim);
      if (it == shard.entries.end() || it->second.tier != t || !CanEvictLocked(it->second, Now())) {
        return true;  // it moved or went meanwhile: space changed, let the caller re-check
      }
      Entry& e = it->second;
      if (room_below) {
        // Re-encode for the tier below when its codec differs (the block moves as it is
        // otherwise).
        std::string stored_bytes, plain, encoded;
        BlockRecord record = e.record;
        std::string_view bytes;
        const Codec* below = codecs_.For(e.id, t + 1);
        const uint8_t below_id = below != nullptr ? below->numeric_id() : 0;
        // A tier that can encode where the block lies (HBM) sends only the encoded bytes; on
        // any failure the block takes the CPU path below.
        absl::Status read = absl::UnimplementedError("");
        if (below_id != e.record.codec_id && e.record.codec_id == 0 && below_id != 0) {
          read = tiers_[t]->ReadEncoded(e.id, e.slot, e.record, *below, &encoded);
          if (read.ok()) read = TierCodecs::AdoptEncoded(*below, encoded, &record);
          if (read.ok()) bytes = encoded;
        }
        if (!read.ok()) read = tiers_[t]->Read(e.id, e.slot, &stored_bytes);
        if (read.ok() && bytes.data() == nullptr) {
          bytes = stored_bytes;
          if (below_id != e.record.codec_id) {
            std::string_view payload;
            read = TierCodecs::Materialize(e.record, tiers_[t]->verify_reads(), stored_bytes,
                                           &plain, &payload);
            if (read.ok()) {
              record.codec_id = 0;
              bytes = codecs_.Encode(e.id, t + 1, payload, &record, &encoded);
            }
          }
        }
        if (read.ok()) {
          absl::StatusOr<TierSlot> moved = tiers_[t + 1]->Write(e.id, victim, record, bytes);
          if (moved.ok()) {
            MoveLocked(shard, victim, e, t + 1, *moved, std::move(record));
            counters_.demotions.fetch_add(1);
            return true;
          }
          // The tier below refused it (full disk, I/O error, or filled meanwhile): the victim
          // stays; the caller sees no room in this tier.
          counters_.demotion_failures.fetch_add(1);
          return false;
        }
        // A victim that cannot be read back here is dropped (it could never be served).
      }
      parent = EraseLocked(shard, victim);
      counters_.evictions.fetch_add(1);
    }
    ChangeChildCount(parent, -1);
    return true;
  }
  return false;
}

void TieredStore::Promote(Shard& shard, std::string_view id, BlockId block, size_t from_tier,
                          const TierSlot& from, const BlockRecord& record, std::string_view payload,
                          size_t to_tier) {
  // Write a copy to the first tier, then switch the entry over if it is unchanged. Promotion is
  // an optimisation: when it cannot happen, the hit already served stands. A persistent copy
  // stays behind as the backing copy, so the block is as durable after the read as before.
  BlockRecord up_record = record;
  std::string encoded;
  const std::string_view up_bytes = codecs_.Encode(id, to_tier, payload, &up_record, &encoded);
  absl::StatusOr<TierSlot> up = PlaceIn(to_tier, id, block, up_record, up_bytes);
  if (!up.ok()) return;
  bool switched = false;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(block);
    if (it != shard.entries.end() && it->second.tier == from_tier &&
        it->second.slot.offset == from.offset) {
      MoveLocked(shard, block, it->second, to_tier, *up, std::move(up_record),
                 /*keep_old=*/tiers_[from_tier]->persistent());
      counters_.promotions.fetch_add(1);
      switched = true;
    }
  }
  if (!switched) {
    (void)tiers_[to_tier]->Erase(id, *up);  // a memory tier's erase cannot fail
    return;
  }
  EnforceWatermark(to_tier, block);
}

}  // namespace strata
