// TierShares and ShareUsage: tenants' shares of each tier (quotas, docs/security.md).
//
// A share is a group of namespaces (in the node: those one quota entry's prefix covers) with a
// byte limit per tier. TieredStore keeps each share within its limits when shares are set:
//  - a Put (or promotion, or reservation) for a share at its limit in a tier first moves that
//    share's own blocks out of the tier (demoted, or dropped from the last tier); when none of
//    its blocks can move (all leased or pinned) the tier refuses it and the next tier is tried,
//    and RESOURCE_EXHAUSTED comes only when no tier takes it;
//  - making room because a tier is full takes no block of a share that is within its limit in
//    that tier, unless the block belongs to the share that needs the room. So a tenant filling
//    the cache evicts only its own blocks, blocks outside every share, and blocks of shares over
//    their limit (a limit lowered by a reload).
// The limits are checked before each write, so concurrent writes of one share may overshoot its
// limit by at most the blocks in flight; a share never takes another's room to do so.
//
// TierShares is implemented outside storage/ (cachenode/quotas.h) and must be immutable and
// thread-safe. ShareUsage is thread-safe; its mutex is a leaf (taken under shard locks, it
// takes nothing else).
#ifndef STRATA_STORAGE_TIER_SHARES_H_
#define STRATA_STORAGE_TIER_SHARES_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace strata {

class TierShares {
 public:
  static constexpr size_t kNoShare = ~size_t{0};
  static constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

  virtual ~TierShares() = default;
  // The share whose limits namespace `ns` counts against, or kNoShare.
  virtual size_t ShareOf(std::string_view ns) const = 0;
  // The most bytes (as the tier charges them) share `share` may hold in tier `tier`;
  // kUnlimited when the share does not limit that tier.
  virtual uint64_t LimitBytes(size_t share, size_t tier) const = 0;
  // The share in words, for errors ("quota 'acme/*'").
  virtual std::string Describe(size_t share) const = 0;
};

// The bytes each namespace, and each share, holds in each tier.
class ShareUsage {
 public:
  // `track`: false makes every call a no-op answering "no share" (a store that never has
  // shares pays nothing for them).
  ShareUsage(size_t tiers, bool track) : tiers_(tiers), track_(track) {}

  // Puts `shares` in force (null: none) and recounts the shares' totals from the namespaces'.
  // REQUIRES: tracking.
  void Set(std::shared_ptr<const TierShares> shares);
  bool tracking() const { return track_; }

  // `delta` bytes of block `id` ("namespace\0key") entered (> 0) or left (< 0) tier `tier`.
  void Charge(std::string_view id, size_t tier, int64_t delta);

  // The share of a block id or namespace (kNoShare when none, or no shares in force).
  size_t ShareOfId(std::string_view id) const;
  size_t ShareOfNamespace(std::string_view ns) const;
  // Whether `charge` more bytes of `share` fit its limit in `tier` (true for kNoShare).
  bool Fits(size_t share, size_t tier, uint64_t charge) const;
  // Whether `charge` bytes exceed the share's limit in `tier` even when it holds nothing there.
  bool NeverFits(size_t share, size_t tier, uint64_t charge) const;
  // Whether a block of `id` in `tier` may be taken to make room for share `for_share`: it
  // belongs to `for_share`, to no share, or to a share over its limit there.
  bool MayEvict(std::string_view id, size_t tier, size_t for_share) const;
  // Bytes share `share` holds in `tier` (0 for kNoShare).
  uint64_t Bytes(size_t share, size_t tier) const;
  // "quota 'acme/*' holds 1048576 of 1048576 bytes in tier 0" for errors.
  std::string Explain(size_t share, size_t tier) const;

 private:
  static std::string_view NamespaceOf(std::string_view id);
  uint64_t BytesLocked(size_t share, size_t tier) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const size_t tiers_;
  const bool track_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TierShares> shares_ ABSL_GUARDED_BY(mu_);
  // Per namespace, bytes per tier: kept with or without shares, so a reload recounts exactly.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> by_namespace_ ABSL_GUARDED_BY(mu_);
  // [share * tiers_ + tier]
  std::vector<uint64_t> by_share_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_STORAGE_TIER_SHARES_H_
