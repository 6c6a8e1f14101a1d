// EvictionPolicy: which block of one tier leaves next (DESIGN.md section 4).
//
// A policy instance tracks the blocks resident in one tier of one index shard; TieredStore calls
// it with the shard's mutex held, so implementations need no locking of their own
// (thread-compatible, not thread-safe). Policies are created by name through
// MakeEvictionPolicy(); the names are part of the configuration contract.
//
// Ownership of blocks stays with the store: a policy only remembers BlockIds. PickVictim() does
// not remove the victim; the store calls OnErase() once the block has left the tier.
#ifndef STRATA_STORAGE_EVICTION_POLICY_H_
#define STRATA_STORAGE_EVICTION_POLICY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace strata {

// Unique for the life of a store; never reused for another block.
using BlockId = uint64_t;

struct BlockInfo {
  // Bytes the block holds in this tier.
  uint64_t bytes = 0;
  // Tokens of recomputation the block saves (0 when unknown: opaque blocks).
  uint32_t tokens = 0;
  // Stable hash of (namespace, key): the same block re-inserted after eviction has the same
  // hash (ghost queues use it); distinct blocks may rarely collide.
  uint64_t key_hash = 0;
  // Depth of the block in its parent chain when known (0 = root or unknown).
  uint32_t depth = 0;
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  virtual std::string_view name() const = 0;

  // `id` entered the tier. REQUIRES: `id` is not already tracked.
  virtual void OnInsert(BlockId id, const BlockInfo& info) = 0;
  // `id` was read (a hit) or rewritten in place.
  virtual void OnAccess(BlockId id) = 0;
  // `id` left the tier (evicted, demoted, promoted away or removed). Unknown ids are ignored.
  virtual void OnErase(BlockId id) = 0;
  // The number of resident children of `id` (in any tier) changed. Prefix-aware policies
  // (leaf-lru) only consider blocks with none.
  virtual void OnResidentChildren(BlockId id, uint32_t resident_children) {}

  // The next block to leave, among those `can_evict` accepts (not leased, not in use);
  // nullopt when none qualifies.
  virtual std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) = 0;

  // Number of tracked blocks.
  virtual size_t size() const = 0;
};

// The policy a tier runs when none is configured: the single source of the default for the
// node's options, TieredStore and `stratactl replay`. "adaptive" is the one policy of the
// workload suite never below LRU - 0.005 at any family and capacity (docs/prefix.md).
inline constexpr char kRecommendedEvictionPolicy[] = "adaptive";

// Murmur3's 64-bit finalizer over a block's key hash: policies that sample keys (miniature
// simulations, admission learning) must not correlate with how key_hash was made.
inline uint64_t MixKeyHash(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

// Policy names accepted by MakeEvictionPolicy, in a stable order.
std::vector<std::string> EvictionPolicyNames();

// INVALID_ARGUMENT naming the unknown policy and the known ones.
absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name);

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_POLICY_H_
