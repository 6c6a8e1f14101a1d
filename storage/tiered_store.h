// TieredStore: the block index over an ordered list of tiers (fastest first: [hbm,] dram[, ssd]).
//
// Placement and movement (DESIGN.md section 4):
//  - Put writes to the first tier that can take the block, making room there by moving victims
//    down; it answers RESOURCE_EXHAUSTED only when no tier can take it (everything leased or
//    the block exceeds every tier).
//  - Each tier has high/low watermarks: once a write leaves a tier above `high`, its eviction
//    policy picks victims until it is at or below `low`. A victim moves to the next tier while
//    that tier can make room for it; from the last tier it is dropped.
//  - A block is acknowledged only once a tier stored it. A victim whose demotion fails because
//    the tier below is degraded (a full disk, Tier::health()) stays where it is; the write that
//    needed the room is then refused (RESOURCE_EXHAUSTED from the full tier, or the degraded
//    tier's UNAVAILABLE when it was tried next), never accepted at the cost of a block already
//    acknowledged.
//  - A hit in a lower tier is served, its checksum verified (persistent tiers: every read), and
//    promoted to the first tier when `promote_on_hit` is set. Promotion out of a persistent tier
//    keeps the persistent copy (tiers are inclusive there), so reading a block never makes it
//    less durable; tier block counts and used bytes include such copies. A block whose checksum
//    fails, or whose bytes the medium lost (a deleted blob file), is deleted, counted in
//    checksum_failures and answered as a miss: never served.
//  - Put may name a parent key; the index keeps resident-child counts so prefix-aware policies
//    can take leaves first, and Lookup answers the leading run of present keys in one call.
//  - Lookup may lease the matched blocks: they are not evicted until the lease ends. Leases are
//    bounded by max_lease_ms and max_leased_bytes.
//
// Concurrency: the index is split into shards by key hash, each with its own mutex, entries and
// per-tier policy instances (eviction is LRU per shard, approximately LRU overall). No thread
// ever holds two shard locks: moves first pick a victim, release, make room below, then re-lock
// and re-check. Payload I/O to persistent tiers runs outside shard locks on reads; writes of a
// moving block hold only that block's shard. Parent/child counts are maintained best-effort
// across shards (a parent stored after its child is not linked). Thread-safe.
#ifndef STRATA_STORAGE_TIERED_STORE_H_
#define STRATA_STORAGE_TIERED_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/block_layout.h"
#include "storage/block_record.h"
#include "storage/eviction_policy.h"
#include "storage/tier.h"
#include "storage/tier_codecs.h"
#include "storage/tier_shares.h"

namespace strata {

struct TieredStoreOptions {
  // Fractions of each tier's capacity.
  double high_watermark = 0.95;
  double low_watermark = 0.85;
  // Index shards (each with its own mutex). 0 picks 8.
  size_t shards = 0;
  // Eviction policy per tier, by name (storage/eviction_policy.h); missing entries use
  // kRecommendedEvictionPolicy.
  std::vector<std::string> policies;
  // Codec per tier by name (kernels/codec.h); missing entries are "raw". Tier defaults must be
  // lossless: lossy codecs apply only to namespaces that opt in through `namespace_codecs`.
  std::vector<std::string> tier_codecs;
  struct NamespaceCodec {
    std::string ns_prefix;  // namespaces starting with this (the longest matching prefix wins)
    size_t tier = 0;
    std::string codec;
  };
  std::vector<NamespaceCodec> namespace_codecs;
  // Move a block hit in a lower tier to the first tier.
  bool promote_on_hit = true;
  // Lease bounds: longest lease, and most bytes leased at once (0: half the first tier).
  uint32_t max_lease_ms = 60'000;
  uint64_t max_leased_bytes = 0;
  // Milliseconds on a monotonic clock; tests substitute their own.
  std::function<int64_t()> now_ms;
  // Count bytes per namespace so tenants' shares (SetShares) can be enforced. Off, SetShares
  // is refused and nothing is counted.
  bool track_shares = false;
};

struct TierStats {
  std::string name;
  std::string policy;
  std::string codec;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t blocks = 0;  // copies held, including backing copies of blocks promoted above
  TierHealth health;
};

struct StoreStats {
  std::vector<TierStats> tiers;
  std::vector<uint64_t> hits_by_tier;  // same order as tiers
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t puts = 0;
  uint64_t put_bytes = 0;
  uint64_t get_bytes = 0;
  uint64_t demotions = 0;
  uint64_t promotions = 0;
  uint64_t evictions = 0;
  uint64_t checksum_failures = 0;
  uint64_t removes = 0;
  uint64_t no_space = 0;
  // Victims kept in place because the tier below refused them (degraded, or full meanwhile).
  uint64_t demotion_failures = 0;
  uint64_t lookups = 0;
  uint64_t leased_bytes = 0;
  uint64_t recovered_blocks = 0;
  uint64_t recovery_dropped = 0;
};

// What Get hands its sink: valid only during the call. When `encoded`, payload holds the block
// as stored, encoded with record.codec_id (the caller asked for encoded bytes and decodes them).
struct BlockView {
  const BlockRecord& record;
  std::string_view payload;
  std::string_view tier;
  bool encoded = false;
};

// A block held in place for a zero-copy read (the data plane sends it straight from its tier's
// memory). See TieredStore::Pin.
struct BlockPin {
  BlockId block = 0;
  std::string_view bytes;  // the block's plain payload, inside the tier's memory
  BlockRecord record;
  std::string_view tier;
};

class TieredStore {
 public:
  // Takes the tiers fastest first (at least one) and recovers what persistent tiers hold.
  // INVALID_ARGUMENT for bad options (watermarks, unknown policy names).
  static absl::StatusOr<std::unique_ptr<TieredStore>> Open(
      const TieredStoreOptions& options, std::vector<std::unique_ptr<Tier>> tiers);
  ~TieredStore();

  // Stores a block. Re-putting identical content refreshes the block; different content
  // replaces it. REQUIRES: ns, key and layout already validated (common/validation.h).
  // RESOURCE_EXHAUSTED when no tier can take it. `checksum`, when given, is the payload's
  // BlockChecksum as the caller just computed and verified it (saves hashing it again).
  // `first_tier` > 0 places the block no higher than that tier (it goes to the first tier from
  // there that can take it) and keeps it there: a hit does not promote it above `first_tier`
  // (a pruned view's full block stays in the colder tier; storage/pruned_views.h). The floor is
  // not persisted: a block recovered after a restart has none.
  absl::Status Put(std::string_view ns, std::string_view key, std::string_view parent,
                   const BlockLayout& layout, std::string_view payload,
                   std::optional<uint64_t> checksum = std::nullopt, size_t first_tier = 0);

  // Calls `sink` with the block and answers OK, or NOT_FOUND on a miss (including a block that
  // failed its checksum). UNAVAILABLE when a tier cannot be read right now.
  // With `accept_encoded`, a block stored encoded is handed over as stored (BlockView::encoded).
  // A block in a memory tier is handed to `sink` under its shard's mutex (its bytes are read in
  // place): `sink` must be quick and must not call back into the store. A block from a
  // persistent tier is handed over without any lock held.
  absl::Status Get(std::string_view ns, std::string_view key,
                   absl::FunctionRef<void(const BlockView&)> sink, bool accept_encoded = false);

  bool Exists(std::string_view ns, std::string_view key);
  // True when the key was present.
  bool Remove(std::string_view ns, std::string_view key);
  // Number of leading keys present; leases them for lease_ms when > 0 (bounded by options).
  size_t Lookup(std::string_view ns, absl::Span<const std::string> keys, uint32_t lease_ms = 0);
  // Ends leases on these keys early.
  void ReleaseLeases(std::string_view ns, absl::Span<const std::string> keys);

  // Pins a block that a memory tier holds plain, so its bytes can be sent as they lie: until
  // Unpin, `bytes` stay valid and unchanged and the block is neither evicted nor moved. Removing
  // or replacing it meanwhile hides it from readers at once; its space is freed at the last
  // Unpin. Counts as a hit. NOT_FOUND on a miss; FAILED_PRECONDITION when the block exists but
  // cannot be read in place (a persistent tier, or stored encoded): use Get, which copies and
  // promotes. Every OK Pin must be paired with one Unpin before the store is destroyed.
  absl::StatusOr<BlockPin> Pin(std::string_view ns, std::string_view key);
  void Unpin(const BlockPin& pin);
  // Whether Pin would not answer FAILED_PRECONDITION right now: the block is missing or a memory
  // tier holds it plain. No side effects (no hit or miss counted, no access recorded), so a
  // caller can decide how to serve a batch before touching it; the answer can change at once.
  bool ReadableInPlace(std::string_view ns, std::string_view key);
  // Pins not yet released.
  uint64_t pinned_blocks() const { return pinned_.load(); }

  // Zero-copy Put for the data plane, which reads a block from a client straight into the pool:
  // Reserve takes room for `size` bytes in the first tier, invisible to readers and never
  // evicted; the caller writes the block through `data`, then CommitReserved publishes it as Put
  // would (replacing a block under the key, linking the parent; the same content already there
  // is only refreshed) or AbortReserved gives the room back. Every reservation ends in exactly
  // one of the two, before the store is destroyed. FAILED_PRECONDITION when the first tier would
  // not hold this block plain in memory (a persistent tier, a codec for the namespace, a block
  // larger than the tier): use Put. RESOURCE_EXHAUSTED when nothing can be evicted to make room.
  struct Reservation {
    std::string id;
    BlockId block = 0;
    size_t tier = 0;
    TierSlot slot;
    char* data = nullptr;
    uint64_t size = 0;
  };
  absl::StatusOr<Reservation> Reserve(std::string_view ns, std::string_view key, uint64_t size);
  // REQUIRES: `ns` is the namespace `r` was reserved in; `checksum` is the XXH3-64 of the bytes
  // written (the caller verified them).
  void CommitReserved(const Reservation& r, std::string_view ns, std::string_view parent,
                      const BlockLayout& layout, uint64_t checksum);
  void AbortReserved(const Reservation& r);

  struct EvictResult {
    uint64_t blocks = 0;
    uint64_t bytes = 0;
  };
  // Removes every block of a namespace.
  EvictResult EvictNamespace(std::string_view ns);

  // One resident block as Describe and ListBlocks report it (tiered_store_scan.cc).
  struct BlockSummary {
    std::string ns;
    std::string key;
    std::string parent;
    std::string tier;  // where readers find it
    uint64_t payload_bytes = 0;
    uint64_t stored_bytes = 0;  // as encoded in that tier
    std::string codec;          // of the stored bytes
    BlockId block = 0;
    int64_t age_ms = 0;  // since it was stored (or recovered at the node's start)
  };
  // The block under (ns, key), or nullopt. No hit, miss or access is recorded.
  std::optional<BlockSummary> Describe(std::string_view ns, std::string_view key);
  // A snapshot of every resident block, hottest first as far as the index knows without
  // per-access bookkeeping: fastest tier first, and within a tier the most recently placed
  // first (block ids grow with every placement; policies keep recently used blocks in the fast
  // tiers). Blocks stored or removed while it runs may or may not be listed.
  std::vector<BlockSummary> ListBlocks();

  // Puts tenants' shares of the tiers in force (tier_shares.h; null: none); the shares' usage is
  // recounted from what the store holds now. FAILED_PRECONDITION unless opened with
  // track_shares.
  absl::Status SetShares(std::shared_ptr<const TierShares> shares);
  // Bytes share `share` (of the shares in force) holds in tier `tier`.
  uint64_t ShareBytes(size_t share, size_t tier) const { return shares_.Bytes(share, tier); }

  StoreStats Stats() const;
  // Makes what persistent tiers hold durable (graceful shutdown).
  absl::Status Flush();

  size_t tier_count() const { return tiers_.size(); }
  const Tier& tier(size_t i) const { return *tiers_[i]; }

 private:
  struct Entry {
    std::string id;  // namespace, '\0', key
    BlockRecord record;
    size_t tier = 0;
    TierSlot slot;
    uint32_t pins = 0;
    uint32_t resident_children = 0;
    BlockId parent_block = 0;  // linked parent, 0 when none
    int64_t lease_until_ms = 0;
    uint64_t key_hash = 0;
    // When this version was stored (or recovered, after a restart): Describe's age.
    int64_t stored_ms = 0;
    // A second copy in a persistent tier below `tier`: the one a block promoted from there left
    // behind, so a restart still finds it. kNoTier when none. It counts in that tier's used bytes
    // and blocks and sits in its policy; evicting it there drops only this copy, and demoting the
    // block into that tier switches to it without a rewrite.
    size_t backing_tier = kNoTier;
    TierSlot backing_slot;
    BlockRecord backing_record;
    // Put's first_tier: the block is never promoted above it.
    size_t floor_tier = 0;
  };
  static constexpr size_t kNoTier = ~size_t{0};
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, BlockId> ids ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<BlockId, Entry> entries ABSL_GUARDED_BY(mu);
    std::vector<std::unique_ptr<EvictionPolicy>> policies ABSL_GUARDED_BY(mu);
    // Blocks erased while pinned: their tier space is freed at the last Unpin.
    struct Orphan {
      uint32_t pins = 0;
      std::string id;
      size_t tier = 0;
      TierSlot slot;
    };
    absl::flat_hash_map<BlockId, Orphan> orphans ABSL_GUARDED_BY(mu);
  };
  struct Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, puts{0}, put_bytes{0}, get_bytes{0}, demotions{0},
        promotions{0}, evictions{0}, checksum_failures{0}, removes{0}, no_space{0}, lookups{0},
        demotion_failures{0}, leased_bytes{0}, recovered{0}, recovery_dropped{0};
  };

  TieredStore(const TieredStoreOptions& options, std::vector<std::unique_ptr<Tier>> tiers,
              TierCodecs codecs);
  absl::Status Recover();

  static std::string MakeId(std::string_view ns, std::string_view key);
  size_t ShardIndex(std::string_view id) const;
  Shard& ShardFor(std::string_view id);
  Shard& ShardOf(BlockId block);
  BlockId NextBlockId(size_t shard_index);
  int64_t Now() const;
  BlockInfo InfoFor(const Entry& e) const;

  // The block's bytes as they lie in its tier when a memory tier holds them plain (what Pin
  // serves), else nullopt. REQUIRES: the entry's shard lock.
  std::optional<std::string_view> InPlaceView(const Entry& e) const;
  // Put's shortcut: true (and the block's access recorded) when `id` already holds a block with
  // this record's checksum, size, layout and parent, in `first_tier` or below. Takes the shard
  // lock.
  bool RefreshIfSame(Shard& shard, const std::string& id, const BlockRecord& record,
                     size_t first_tier = 0);
  // Makes a block placed in `tier` at `slot` the one readers see under `id`, replacing any older
  // one, linking its parent and enforcing the tier's watermark. Nothing locked on entry.
  void Publish(std::string_view ns, const std::string& id, Shard& shard, BlockId block, size_t tier,
               const TierSlot& slot, BlockRecord record, std::string_view parent,
               size_t floor_tier = 0);
  // Writes to tier t, evicting from t while the write does not fit. Nothing locked on entry.
  // With shares in force, the block's share is first brought under its limit in t by moving its
  // own blocks (RESOURCE_EXHAUSTED naming the share when it cannot be).
  absl::StatusOr<TierSlot> PlaceIn(size_t t, std::string_view id, BlockId version,
                                   const BlockRecord& record, std::string_view bytes);
  // Moves one victim other than `keep` out of tier t (down, or dropped from the last tier).
  // False when tier t has nothing evictable. Nothing locked on entry. `for_share`: the share
  // that needs the room; `own_only` takes only that share's blocks, else any block
  // ShareUsage::MayEvict allows.
  bool EvictOne(size_t t, BlockId keep = 0, size_t for_share = TierShares::kNoShare,
                bool own_only = false);
  // Evicts from tier t until `charge` more bytes fit under its capacity and under the limit
  // of `share` there.
  bool EnsureRoom(size_t t, uint64_t charge, size_t share = TierShares::kNoShare);
  // Moves blocks of `share` out of tier t until `charge` more fit its limit there. OK, or
  // RESOURCE_EXHAUSTED naming the share.
  absl::Status MakeShareRoom(size_t t, size_t share, uint64_t charge);
  void EnforceWatermark(size_t t, BlockId keep);
  // Removes an entry from its tier, its policies and the index; returns its parent link.
  BlockId EraseLocked(Shard& shard, BlockId block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Adds a new entry to the index, its tier's policy and the tier's block count.
  void InsertLocked(Shard& shard, BlockId block, Entry e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Points `e` (block `block`) at its new copy in `to_tier` after the old copy is erased,
  // carrying its lease, policy membership and resident-child count across.
  // With `keep_old` (promotion out of a persistent tier) the old copy stays as the backing copy.
  void MoveLocked(Shard& shard, BlockId block, Entry& e, size_t to_tier, const TierSlot& to_slot,
                  BlockRecord to_record, bool keep_old = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Erases the entry's backing copy (its tier, policy membership and block count).
  void DropBackingLocked(Shard& shard, BlockId block, Entry& e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Whether a tier below t reports itself degraded (a failed demotion keeps its victim then).
  bool LowerTierDegraded(size_t t) const;
  bool CanEvictLocked(const Entry& e, int64_t now) const;
  void ChangeChildCount(BlockId parent, int delta);
  void LinkParent(std::string_view ns, BlockId child, std::string_view child_id,
                  std::string_view parent_key);
  void EndLeaseLocked(Entry& e);
  void DropCorrupt(std::string_view id, BlockId block);
  // The read step of Get for either kind of tier: the stored bytes of `slot` in tier `t` (in
  // place where the tier offers a view, else copied into *stored) and, unless `pass_encoded`,
  // decoded and verified into *payload (*decoded holds the bytes when decoding made new ones).
  // DATA_LOSS when the block fails its checksum; the tier's error otherwise.
  absl::Status ReadForGet(size_t t, const std::string& id, const BlockRecord& record,
                          const TierSlot& slot, bool pass_encoded, std::string* stored,
                          std::string* decoded, std::string_view* payload);
  // Counts a hit of `bytes` served from tier `t`.
  void CountHit(size_t t, uint64_t bytes);
  // Moves a block just read from `from_tier` (its decoded payload) into tier `to_tier` (the
  // first tier, or the block's floor). Nothing locked on entry.
  void Promote(Shard& shard, std::string_view id, BlockId block, size_t from_tier,
               const TierSlot& from, const BlockRecord& record, std::string_view payload,
               size_t to_tier = 0);

  // Constant after construction
  const TieredStoreOptions options_;
  const std::vector<std::unique_ptr<Tier>> tiers_;
  const TierCodecs codecs_;
  const uint64_t max_leased_bytes_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::string> policy_names_;

  std::atomic<uint64_t> next_block_{1};
  std::atomic<size_t> evict_cursor_{0};
  std::atomic<uint64_t> pinned_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> tier_blocks_;
  std::unique_ptr<std::atomic<uint64_t>[]> tier_hits_;
  mutable Counters counters_;
  ShareUsage shares_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_TIERED_STORE_H_
