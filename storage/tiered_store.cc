#include "storage/tiered_store.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace strata {
namespace {

constexpr size_t kShardBits = 8;
constexpr size_t kMaxShards = size_t{1} << kShardBits;

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string TieredStore::MakeId(std::string_view ns, std::string_view key) {
  std::string id;
  id.reserve(ns.size() + 1 + key.size());
  id.append(ns);
  id.push_back('\0');
  id.append(key);
  return id;
}

absl::StatusOr<std::unique_ptr<TieredStore>> TieredStore::Open(
    const TieredStoreOptions& options, std::vector<std::unique_ptr<Tier>> tiers) {
  if (tiers.empty()) return absl::InvalidArgumentError("store: at least one tier is required");
  for (const auto& t : tiers) {
    if (t == nullptr) return absl::InvalidArgumentError("store: null tier");
  }
  if (!(options.low_watermark > 0 && options.low_watermark <= options.high_watermark &&
        options.high_watermark <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store: watermarks must satisfy 0 < low <= high <= 1 (low=", options.low_watermark,
        ", high=", options.high_watermark, ")"));
  }
  if (options.shards > kMaxShards) {
    return absl::InvalidArgumentError(absl::StrCat("store: at most ", kMaxShards, " shards"));
  }
  if (options.policies.size() > tiers.size()) {
    return absl::InvalidArgumentError("store: more eviction policies than tiers");
  }
  for (const std::string& p : options.policies) {
    STRATA_RETURN_IF_ERROR(MakeEvictionPolicy(p).status());
  }
  std::vector<std::string> tier_names;
  for (const auto& t : tiers) tier_names.emplace_back(t->name());
  std::vector<TierCodecs::Rule> rules;
  for (const auto& r : options.namespace_codecs) rules.push_back({r.ns_prefix, r.tier, r.codec});
  STRATA_ASSIGN_OR_RETURN(TierCodecs codecs,
                          TierCodecs::Create(tier_names, options.tier_codecs, rules));
  std::unique_ptr<TieredStore> store(new TieredStore(options, std::move(tiers), std::move(codecs)));
  STRATA_RETURN_IF_ERROR(store->Recover());
  return store;
}

TieredStore::TieredStore(const TieredStoreOptions& options,
                         std::vector<std::unique_ptr<Tier>> tiers, TierCodecs codecs)
    : options_(options),
      tiers_(std::move(tiers)),
      codecs_(std::move(codecs)),
      max_leased_bytes_(options.max_leased_bytes != 0 ? options.max_leased_bytes
                                                      : tiers_[0]->capacity_bytes() / 2),
      tier_blocks_(new std::atomic<uint64_t>[tiers_.size()]),
      tier_hits_(new std::atomic<uint64_t>[tiers_.size()]),
      shares_(tiers_.size(), options.track_shares) {
  for (size_t t = 0; t < tiers_.size(); ++t) {
    tier_blocks_[t] = 0;
    tier_hits_[t] = 0;
    policy_names_.push_back(t < options_.policies.size() ? options_.policies[t]
                                                         : kRecommendedEvictionPolicy);
  }
  const size_t n = options_.shards == 0 ? 8 : options_.shards;
  for (size_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    absl::MutexLock lock(&shard->mu);
    for (const std::string& name : policy_names_) {
      shard->policies.push_back(*MakeEvictionPolicy(name));  // names checked in Open()
    }
    shards_.push_back(std::move(shard));
  }
}

TieredStore::~TieredStore() = default;

int64_t TieredStore::Now() const { return options_.now_ms ? options_.now_ms() : SteadyNowMs(); }

size_t TieredStore::ShardIndex(std::string_view id) const {
  return XXH3_64bits(id.data(), id.size()) % shards_.size();
}

TieredStore::Shard& TieredStore::ShardFor(std::string_view id) { return *shards_[ShardIndex(id)]; }

TieredStore::Shard& TieredStore::ShardOf(BlockId block) {
  return *shards_[block & (kMaxShards - 1)];
}

BlockId TieredStore::NextBlockId(size_t shard_index) {
  return (next_block_.fetch_add(1, std::memory_order_relaxed) << kShardBits) | shard_index;
}

BlockInfo TieredStore::InfoFor(const Entry& e) const {
  return BlockInfo{e.slot.charged_bytes, e.record.layout.tokens, e.key_hash, 0};
}

absl::Status TieredStore::Recover() {
  for (size_t t = 0; t < tiers_.size(); ++t) {
    if (!tiers_[t]->persistent()) continue;
    std::vector<std::pair<std::string, TierSlot>> stale;  // older versions of an id
    uint64_t dropped = 0;
    STRATA_RETURN_IF_ERROR(tiers_[t]->Recover(
        [&](std::string_view id, const BlockRecord& record, const TierSlot& slot) {
          next_block_.store(std::max(next_block_.load(), (slot.offset >> kShardBits) + 1));
          const size_t si = ShardIndex(id);
          Shard& shard = *shards_[si];
          absl::MutexLock lock(&shard.mu);
          auto found = shard.ids.find(AsAbsl(id));
          if (found != shard.ids.end()) {
            // Two versions survived (a replacement interrupted by a crash): keep the newer.
            Entry& old = shard.entries[found->second];
            if (old.tier == t && old.slot.offset > slot.offset) {
              stale.emplace_back(std::string(id), slot);
              return;
            }
            stale.emplace_back(old.id, old.slot);
            EraseLocked(shard, found->second);
          }
          const BlockId block = (slot.offset & ~BlockId{kMaxShards - 1}) | si;
          Entry e;
          e.id = std::string(id);
          e.record = record;
          e.tier = t;
          e.slot = slot;
          InsertLocked(shard, block, std::move(e));
          counters_.recovered.fetch_add(1);
        },
        &dropped));
    counters_.recovery_dropped.fetch_add(dropped);
    // Best effort: a failed erase is the tier's to replay (SsdTier stops counting the bytes at
    // once and queues the delete), so no capacity leaks here.
    for (const auto& [id, slot] : stale) (void)tiers_[t]->Erase(id, slot);
  }
  // Versions written from now on sort after every recovered one (next_block_ moved past the
  // largest above). Now link children to parents, across shards, one lock at a time.
  std::vector<std::tuple<std::string, BlockId, std::string>> links;  // ns, child, parent key
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    for (const auto& [block, e] : shard->entries) {
      if (e.record.parent.empty()) continue;
      const size_t nul = e.id.find('\0');
      links.emplace_back(e.id.substr(0, nul), block, e.record.parent);
    }
  }
  for (const auto& [ns, child, parent] : links) {
    LinkParent(ns, child, "", parent);
  }
  return absl::OkStatus();
}

absl::Status TieredStore::SetShares(std::shared_ptr<const TierShares> shares) {
  if (!shares_.tracking()) {
    return absl::FailedPreconditionError(
        "this store does not count bytes per namespace (TieredStoreOptions::track_shares)");
  }
  shares_.Set(std::move(shares));
  return absl::OkStatus();
}

bool TieredStore::CanEvictLocked(const Entry& e, int64_t now) const {
  return e.pins == 0 && e.lease_until_ms <= now;
}

void TieredStore::EndLeaseLocked(Entry& e) {
  if (e.lease_until_ms == 0) return;
  e.lease_until_ms = 0;
  counters_.leased_bytes.fetch_sub(e.slot.charged_bytes);
}

BlockId TieredStore::EraseLocked(Shard& shard, BlockId block) {
  auto it = shard.entries.find(block);
  if (it == shard.entries.end()) return 0;
  Entry& e = it->second;
  EndLeaseLocked(e);
  // An erase that fails leaves bytes behind in the tier, never a wrong answer: the index no
  // longer points at them. Recovery of a persistent tier would find them again; it also finds
  // the newer version, if any, and keeps that one.
  if (e.pins > 0) {
    shard.orphans[block] = Shard::Orphan{e.pins, e.id, e.tier, e.slot};  // freed by Unpin
  } else {
    (void)tiers_[e.tier]->Erase(e.id, e.slot);
  }
  shard.policies[e.tier]->OnErase(block);
  tier_blocks_[e.tier].fetch_sub(1);
  shares_.Charge(e.id, e.tier, -static_cast<int64_t>(e.slot.charged_bytes));
  if (e.backing_tier != kNoTier) DropBackingLocked(shard, block, e);
  const BlockId parent = e.parent_block;
  shard.ids.erase(e.id);
  shard.entries.erase(it);
  return parent;
}

void TieredStore::ChangeChildCount(BlockId parent, int delta) {
  if (parent == 0) return;
  Shard& shard = ShardOf(parent);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(parent);
  if (it == shard.entries.end()) return;
  Entry& p = it->second;
  if (delta < 0 && p.resident_children == 0) return;
  p.resident_children += delta;
  shard.policies[p.tier]->OnResidentChildren(parent, p.resident_children);
}

void TieredStore::LinkParent(std::string_view ns, BlockId child, std::string_view /*child_id*/,
                             std::string_view parent_key) {
  const std::string parent_id = MakeId(ns, parent_key);
  BlockId parent = 0;
  {
    Shard& ps = ShardFor(parent_id);
    absl::MutexLock lock(&ps.mu);
    auto it = ps.ids.find(parent_id);
    if (it == ps.ids.end()) return;
    parent = it->second;
    Entry& p = ps.entries[parent];
    ++p.resident_children;
    ps.policies[p.tier]->OnResidentChildren(parent, p.resident_children);
  }
  bool linked = false;
  {
    Shard& cs = ShardOf(child);
    absl::MutexLock lock(&cs.mu);
    auto it = cs.entries.find(child);
    if (it != cs.entries.end() && it->second.parent_block == 0) {
      it->second.parent_block = parent;
      linked = true;
    }
  }
  if (!linked) ChangeChildCount(parent, -1);
}

void TieredStore::InsertLocked(Shard& shard, BlockId block, Entry e) {
  e.key_hash = XXH3_64bits(e.id.data(), e.id.size());
  e.stored_ms = Now();
  shard.policies[e.tier]->OnInsert(block, InfoFor(e));
  if (e.resident_children) shard.policies[e.tier]->OnResidentChildren(block, e.resident_children);
  tier_blocks_[e.tier].fetch_add(1);
  shares_.Charge(e.id, e.tier, static_cast<int64_t>(e.slot.charged_bytes));
  shard.ids.emplace(e.id, block);
  shard.entries.emplace(block, std::move(e));
}

absl::Status TieredStore::Put(std::string_view ns, std::string_view key, std::string_view parent,
                              const BlockLayout& layout, std::string_view payload,
                              std::optional<uint64_t> checksum, size_t first_tier) {
  std::string id = MakeId(ns, key);
  first_tier = std::min(first_tier, tiers_.size() - 1);
  BlockRecord record;
  record.parent = std::string(parent);
  record.layout = layout;
  record.checksum = checksum.has_value() ? *checksum : BlockChecksum(payload);
  record.payload_bytes = payload.size();
  record.codec_id = 0;
  record.stored_bytes = payload.size();
  BlockRecord plain_record = record;
  counters_.puts.fetch_add(1);
  counters_.put_bytes.fetch_add(payload.size());

  const size_t shard_index = ShardIndex(id);
  Shard& shard = *shards_[shard_index];
  if (RefreshIfSame(shard, id, record, first_tier)) return absl::OkStatus();

  const BlockId block = NextBlockId(shard_index);
  absl::Status last = absl::ResourceExhaustedError("no tier can hold the block");
  size_t placed_tier = tiers_.size();
  TierSlot slot;
  std::string encoded;
  bool fits_a_tier = false;
  for (size_t t = first_tier; t < tiers_.size(); ++t) {
    record = plain_record;
    const std::string_view bytes = codecs_.Encode(id, t, payload, &record, &encoded);
    if (tiers_[t]->ChargeFor(bytes.size()) > tiers_[t]->capacity_bytes()) continue;
    fits_a_tier = true;
    absl::StatusOr<TierSlot> s = PlaceIn(t, id, block, record, bytes);
    if (s.ok()) {
      slot = *s;
      placed_tier = t;
      break;
    }
    last = s.status();
    if (!absl::IsResourceExhausted(last)) return last;
  }
  if (!fits_a_tier) {
    // Not a matter of space now: it can never fit here, so retrying is pointless.
    counters_.no_space.fetch_add(1);
    size_t largest = 0;
    for (size_t t = 1; t < tiers_.size(); ++t) {
      if (tiers_[t]->capacity_bytes() > tiers_[largest]->capacity_bytes()) largest = t;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "block of ", payload.size(), " bytes is larger than every tier (the largest, ",
        AsAbsl(tiers_[largest]->name()), ", holds ", tiers_[largest]->capacity_bytes(), " bytes)"));
  }
  if (placed_tier == tiers_.size()) {
    counters_.no_space.fetch_add(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "every tier is full of blocks that cannot be evicted now (", last.message(), ")"));
  }
  Publish(ns, id, shard, block, placed_tier, slot, std::move(record), parent, first_tier);
  return absl::OkStatus();
}

bool TieredStore::RefreshIfSame(Shard& shard, const std::string& id, const BlockRecord& record,
                                size_t first_tier) {
  // The same content under the same key (another worker computed the same prefix): refresh.
  absl::MutexLock lock(&shard.mu);
  auto it = shard.ids.find(id);
  if (it == shard.ids.end()) return false;
  Entry& e = shard.entries[it->second];
  if (e.record.checksum != record.checksum || e.record.payload_bytes != record.payload_bytes ||
      !(e.record.layout == record.layout) || e.record.parent != record.parent) {
    return false;
  }
  // Above the floor asked for (stored before a pruned_views rule, or promoted after a restart):
  // store it again where it belongs.
  if (e.tier < first_tier) return false;
  e.floor_tier = std::max(e.floor_tier, first_tier);
  shard.policies[e.tier]->OnAccess(it->second);
  return true;
}

void TieredStore::Publish(std::string_view ns, const std::string& id, Shard& shard, BlockId block,
                          size_t tier, const TierSlot& slot, BlockRecord record,
                          std::string_view parent, size_t floor_tier) {
  BlockId replaced_parent = 0;
  uint32_t children = 0;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.ids.find(id);
    if (it != shard.ids.end()) {
      children = shard.entries[it->second].resident_children;
      replaced_parent = EraseLocked(shard, it->second);
    }
    Entry e;
    e.id = id;
    e.record = std::move(record);
    e.tier = tier;
    e.slot = slot;
    e.resident_children = children;
    e.floor_tier = floor_tier;
    InsertLocked(shard, block, std::move(e));
  }
  ChangeChildCount(replaced_parent, -1);
  if (!parent.empty()) LinkParent(ns, block, id, parent);
  // The block just stored is not its own victim: when everything else is leased the tier stays
  // above its high watermark (never above capacity) rather than dropping what it accepted.
  EnforceWatermark(tier, block);
}

void TieredStore::DropCorrupt(std::string_view id, BlockId block) {
  counters_.checksum_failures.fetch_add(1);
  Shard& shard = ShardFor(id);
  BlockId parent = 0;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.ids.find(AsAbsl(id));
    if (it == shard.ids.end() || it->second != block) return;
    parent = EraseLocked(shard, block);
  }
  ChangeChildCount(parent, -1);
}

absl::Status TieredStore::Get(std::string_view ns, std::string_view key,
                              absl::FunctionRef<void(const BlockView&)> sink, bool accept_encoded) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  BlockId block = 0;
  BlockRecord record;
  TierSlot slot;
  size_t t = 0;
  {
    absl::ReleasableMutexLock lock(&shard.mu);
    auto it = shard.ids.find(id);
    if (it == shard.ids.end()) {
      counters_.misses.fetch_add(1);
      return absl::NotFoundError("miss");
    }
    block = it->second;
    Entry& e = shard.entries[block];
    t = e.tier;
    if (!tiers_[t]->persistent()) {
      // Memory tiers are served under the shard lock, so the slot cannot be freed meanwhile:
      // zero-copy where the tier allows it and the block is plain, else through a copy.
      std::string stored, decoded;
      std::string_view payload;
      const bool pass_encoded = accept_encoded && e.record.codec_id != 0;
      absl::Status read =
          ReadForGet(t, id, e.record, e.slot, pass_encoded, &stored, &decoded, &payload);
      if (absl::IsDataLoss(read)) {
        counters_.checksum_failures.fetch_add(1);
        counters_.misses.fetch_add(1);
        const BlockId parent = EraseLocked(shard, block);
        lock.Release();
        ChangeChildCount(parent, -1);
        return absl::NotFoundError("miss (block failed its checksum and was deleted)");
      }
      if (!read.ok()) return absl::UnavailableError(read.message());
      sink(BlockView{e.record, payload, tiers_[t]->name(), pass_encoded});
      shard.policies[t]->OnAccess(block);
      CountHit(t, payload.size());
      const size_t floor = e.floor_tier;
      if (t <= floor || !options_.promote_on_hit) return absl::OkStatus();
      const BlockRecord record_copy = e.record;
      const TierSlot from = e.slot;
      std::string owned(payload);  // views die with the lock
      lock.Release();
      if (pass_encoded) {
        std::string_view plain;
        if (!TierCodecs::Materialize(record_copy, tiers_[t]->verify_reads(), owned, &decoded,
                                     &plain)
                 .ok())
          return absl::OkStatus();
        owned.assign(plain);
      }
      Promote(shard, id, block, t, from, record_copy, owned, floor);
      return absl::OkStatus();
    }
    record = e.record;
    slot = e.slot;
  }

  // Persistent tiers are read without the lock; a block removed meanwhile reads as NOT_FOUND.
  std::string stored, decoded;
  std::string_view payload;
  const bool pass_encoded = accept_encoded && record.codec_id != 0;
  absl::Status read = ReadForGet(t, id, record, slot, pass_encoded, &stored, &decoded, &payload);
  if (absl::IsNotFound(read)) {
    counters_.misses.fetch_add(1);
    return absl::NotFoundError("miss");
  }
  if (absl::IsDataLoss(read)) {
    DropCorrupt(id, block);
    counters_.misses.fetch_add(1);
    return absl::NotFoundError("miss (block failed its checksum and was deleted)");
  }
  if (!read.ok()) return absl::UnavailableError(read.message());

  sink(BlockView{record, payload, tiers_[t]->name(), pass_encoded});
  CountHit(t, payload.size());
  size_t floor = 0;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(block);
    if (it == shard.entries.end()) return absl::OkStatus();
    shard.policies[it->second.tier]->OnAccess(block);
    floor = it->second.floor_tier;
  }
  if (!options_.promote_on_hit || t <= floor) return absl::OkStatus();
  if (pass_encoded &&
      !TierCodecs::Materialize(record, tiers_[t]->verify_reads(), stored, &decoded, &payload)
           .ok()) {
    return absl::OkStatus();  // served as stored; a block that does not decode stays put
  }
  Promote(shard, id, block, t, slot, record, payload, floor);
  return absl::OkStatus();
}

absl::Status TieredStore::ReadForGet(size_t t, const std::string& id, const BlockRecord& record,
                                     const TierSlot& slot, bool pass_encoded, std::string* stored,
                                     std::string* decoded, std::string_view* payload) {
  std::string_view bytes;
  // A view is taken only of a memory tier, whose slot the caller's shard lock keeps alive.
  std::optional<std::string_view> view;
  if (!tiers_[t]->persistent()) view = tiers_[t]->View(slot);
  if (view.has_value()) {
    bytes = *view;
  } else {
    STRATA_RETURN_IF_ERROR(tiers_[t]->Read(id, slot, stored));
    bytes = *stored;
  }
  if (pass_encoded) {
    *payload = bytes;  // the caller decodes and verifies
    return absl::OkStatus();
  }
  return TierCodecs::Materialize(record, tiers_[t]->verify_reads(), bytes, decoded, payload);
}

void TieredStore::CountHit(size_t t, uint64_t bytes) {
  counters_.hits.fetch_add(1);
  counters_.get_bytes.fetch_add(bytes);
  tier_hits_[t].fetch_add(1);
}

bool TieredStore::Exists(std::string_view ns, std::string_view key) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  absl::MutexLock lock(&shard.mu);
  return shard.ids.contains(id);
}

bool TieredStore::Remove(std::string_view ns, std::string_view key) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  BlockId parent = 0;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.ids.find(id);
    if (it == shard.ids.end()) return false;
    parent = EraseLocked(shard, it->second);
  }
  counters_.removes.fetch_add(1);
  ChangeChildCount(parent, -1);
  return true;
}

size_t TieredStore::Lookup(std::string_view ns, absl::Span<const std::string> keys,
                           uint32_t lease_ms) {
  counters_.lookups.fetch_add(1);
  const uint32_t lease = std::min(lease_ms, options_.max_lease_ms);
  size_t matched = 0;
  for (const std::string& key : keys) {
    const std::string id = MakeId(ns, key);
    Shard& shard = ShardFor(id);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.ids.find(id);
    if (it == shard.ids.end()) break;
    Entry& e = shard.entries[it->second];
    shard.policies[e.tier]->OnAccess(it->second);
    if (lease > 0) {
      const int64_t now = Now();
      if (e.lease_until_ms != 0 && e.lease_until_ms <= now) EndLeaseLocked(e);  // expired
      if (e.lease_until_ms == 0) {
        const uint64_t charged = e.slot.charged_bytes;
        if (counters_.leased_bytes.load() + charged <= max_leased_bytes_) {
          counters_.leased_bytes.fetch_add(charged);
          e.lease_until_ms = now + lease;
        }
      } else {
        e.lease_until_ms = std::max(e.lease_until_ms, now + lease);
      }
    }
    ++matched;
  }
  return matched;
}

void TieredStore::ReleaseLeases(std::string_view ns, absl::Span<const std::string> keys) {
  for (const std::string& key : keys) {
    const std::string id = MakeId(ns, key);
    Shard& shard = ShardFor(id);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.ids.find(id);
    if (it != shard.ids.end()) EndLeaseLocked(shard.entries[it->second]);
  }
}

TieredStore::EvictResult TieredStore::EvictNamespace(std::string_view ns) {
  const std::string prefix = MakeId(ns, "");
  EvictResult result;
  std::vector<BlockId> parents;
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    std::vector<BlockId> victims;
    for (const auto& [id, block] : shard->ids) {
      if (id.compare(0, prefix.size(), prefix) == 0) victims.push_back(block);
    }
    for (BlockId b : victims) {
      result.bytes += shard->entries[b].record.payload_bytes;
      parents.push_back(EraseLocked(*shard, b));
      ++result.blocks;
    }
  }
  for (BlockId p : parents) ChangeChildCount(p, -1);
  counters_.removes.fetch_add(result.blocks);
  return result;
}

StoreStats TieredStore::Stats() const {
  StoreStats s;
  for (size_t t = 0; t < tiers_.size(); ++t) {
    s.tiers.push_back(TierStats{std::string(tiers_[t]->name()), policy_names_[t],
                                std::string(codecs_.Default(t).name()), tiers_[t]->capacity_bytes(),
                                tiers_[t]->used_bytes(), tier_blocks_[t].load(),
                                tiers_[t]->health()});
    s.hits_by_tier.push_back(tier_hits_[t].load());
  }
  s.hits = counters_.hits;
  s.misses = counters_.misses;
  s.puts = counters_.puts;
  s.put_bytes = counters_.put_bytes;
  s.get_bytes = counters_.get_bytes;
  s.demotions = counters_.demotions;
  s.promotions = counters_.promotions;
  s.evictions = counters_.evictions;
  s.checksum_failures = counters_.checksum_failures;
  s.removes = counters_.removes;
  s.no_space = counters_.no_space;
  s.demotion_failures = counters_.demotion_failures;
  s.lookups = counters_.lookups;
  s.leased_bytes = counters_.leased_bytes;
  s.recovered_blocks = counters_.recovered;
  s.recovery_dropped = counters_.recovery_dropped;
  return s;
}

absl::Status TieredStore::Flush() {
  for (const auto& t : tiers_) STRATA_RETURN_IF_ERROR(t->Flush());
  return absl::OkStatus();
}

}  // namespace strata
