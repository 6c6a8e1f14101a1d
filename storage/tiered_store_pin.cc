// TieredStore::Pin / Unpin: zero-copy reads for the data plane (tiered_store.h).
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "storage/tiered_store.h"

namespace strata {

absl::StatusOr<BlockPin> TieredStore::Pin(std::string_view ns, std::string_view key) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.ids.find(id);
  if (it == shard.ids.end()) {
    counters_.misses.fetch_add(1);
    return absl::NotFoundError("miss");
  }
  const BlockId block = it->second;
  Entry& e = shard.entries[block];
  const Tier& tier = *tiers_[e.tier];
  std::optional<std::string_view> view = InPlaceView(e);
  if (!view.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("block is in tier ", AsAbsl(tier.name()), " and not readable in place"));
  }
  ++e.pins;
  pinned_.fetch_add(1);
  shard.policies[e.tier]->OnAccess(block);
  counters_.hits.fetch_add(1);
  counters_.get_bytes.fetch_add(view->size());
  tier_hits_[e.tier].fetch_add(1);
  return BlockPin{block, *view, e.record, tier.name()};
}

bool TieredStore::ReadableInPlace(std::string_view ns, std::string_view key) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.ids.find(id);
  if (it == shard.ids.end()) return true;
  return InPlaceView(shard.entries[it->second]).has_value();
}

std::optional<std::string_view> TieredStore::InPlaceView(const Entry& e) const {
  const Tier& tier = *tiers_[e.tier];
  if (tier.persistent() || e.record.codec_id != 0) return std::nullopt;
  std::optional<std::string_view> view = tier.View(e.slot);
  if (!view.has_value() || view->size() != e.record.payload_bytes) return std::nullopt;
  return view;
}

void TieredStore::Unpin(const BlockPin& pin) {
  if (pin.block == 0) return;
  Shard& shard = ShardOf(pin.block);
  absl::MutexLock lock(&shard.mu);
  pinned_.fetch_sub(1);
  if (auto it = shard.entries.find(pin.block); it != shard.entries.end()) {
    if (it->second.pins > 0) --it->second.pins;
    return;
  }
  auto orphan = shard.orphans.find(pin.block);
  if (orphan == shard.orphans.end()) return;
  if (--orphan->second.pins > 0) return;
  (void)tiers_[orphan->second.tier]->Erase(orphan->second.id, orphan->second.slot);
  shard.orphans.erase(orphan);
}

}  // namespace strata
