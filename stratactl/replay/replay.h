// Trace replay: drives a cache with a request trace and accounts hits the way a prefix-caching
// inference server sees them.
//
// Accounting (issue 5): a request hits on the leading run of its blocks that are cached; then
// all its blocks are cached (the missing ones computed and stored) and touched, in prompt order;
// its own blocks are not evicted while it is processed. Capacity is counted in blocks.
//
// The replay drives a ReplayBackend, so the same driver and statistics serve the offline
// accounting cache below (the real eviction policies over a payload-free index) and, once the
// client library lands, a live node (Lookup the prefix, Put the rest).
//
// Thread-compatible: one replay per thread.
#ifndef STRATA_CLUSTER_REPLAY_REPLAY_H_
#define STRATA_CLUSTER_REPLAY_REPLAY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "stratactl/replay/trace.h"
#include "storage/eviction_policy.h"

namespace strata::replay {

// Sizes used to turn blocks into tokens and bytes.
struct BlockGeometry {
  // Tokens per block (Mooncake's traces use 512).
  uint32_t block_tokens = 512;
  // Bytes one block occupies in the cache, whatever its tokens (stores allocate fixed pages).
  // Default: 512 tokens of Llama-3-8B in bf16 (32 layers x 8 KV heads x 128 dims x K,V x 2 B).
  uint64_t block_bytes = 512ull * 131072;
};

// What serving one request did.
struct RequestOutcome {
  // Length of the leading run of the request's blocks that were cached.
  size_t hit_blocks = 0;
  // Blocks stored for this request (those that were missing and found room).
  size_t stored_blocks = 0;
  // Blocks that could not be stored because everything evictable was in use.
  size_t unstored_blocks = 0;
  // Blocks evicted to make room.
  size_t evicted_blocks = 0;
};

// A cache the replay drives, one request at a time.
class ReplayBackend {
 public:
  virtual ~ReplayBackend() = default;
  // Short description for reports, e.g. "offline lru".
  virtual std::string Describe() const = 0;
  // Serves `request` under the accounting rules above.
  virtual absl::StatusOr<RequestOutcome> Serve(const TraceRequest& request) = 0;
};

struct OfflineCacheOptions {
  // REQUIRES: > 0.
  uint64_t capacity_blocks = 1;
  BlockGeometry geometry;
};

// OfflinePrefixCache: an accounting-only tier (no payload bytes) with a prefix index (parent
// links, resident-children counts), evicting through a real EvictionPolicy made by name. It
// reports inserts, accesses, erasures and resident-children changes to the policy exactly as the
// block store does: the children count of a block covers every resident block naming it as
// parent, so a re-inserted parent learns of children that outlived it.
class OfflinePrefixCache final : public ReplayBackend {
 public:
  // INVALID_ARGUMENT for an unknown policy or a zero capacity.
  static absl::StatusOr<std::unique_ptr<OfflinePrefixCache>> Create(
      std::string_view policy, const OfflineCacheOptions& options);

  std::string Describe() const override;
  absl::StatusOr<RequestOutcome> Serve(const TraceRequest& request) override;

  size_t resident_blocks() const { return blocks_.size(); }
  bool TEST_resident(uint64_t hash_id) const { return blocks_.contains(hash_id); }
  const EvictionPolicy& TEST_policy() const { return *policy_; }

 private:
  struct Block {
    BlockId id = 0;
    bool has_parent = false;
    uint64_t parent = 0;
    // Request epoch that pins the block (its own request is being served).
    uint64_t pinned_epoch = 0;
  };

  OfflinePrefixCache(std::unique_ptr<EvictionPolicy> policy, const OfflineCacheOptions& options);
  // Evicts one unpinned block; false when the policy offers none.
  bool EvictOne();
  void AdjustChildren(uint64_t parent, int delta);

  std::unique_ptr<EvictionPolicy> policy_;
  OfflineCacheOptions options_;
  // Resident blocks by trace id.
  absl::flat_hash_map<uint64_t, Block> blocks_;
  absl::flat_hash_map<BlockId, uint64_t> id_to_hash_;
  // Resident blocks per parent trace id, whether or not the parent is resident.
  absl::flat_hash_map<uint64_t, uint32_t> children_;
  BlockId next_id_ = 0;
  uint64_t epoch_ = 0;
};

// Totals of a replay.
struct ReplayStats {
  uint64_t requests = 0;
  uint64_t blocks = 0;      // blocks requested
  uint64_t hit_blocks = 0;  // blocks in leading cached runs
  uint64_t tokens = 0;      // prompt tokens requested
  uint64_t hit_tokens = 0;  // prompt tokens in leading cached runs
  uint64_t stored_blocks = 0;
  uint64_t unstored_blocks = 0;
  uint64_t evicted_blocks = 0;
  uint64_t stored_bytes = 0;  // stored_blocks * block_bytes
  uint64_t served_bytes = 0;  // hit_blocks * block_bytes

  double hit_ratio() const { return blocks == 0 ? 0 : double(hit_blocks) / double(blocks); }
  double token_hit_ratio() const { return tokens == 0 ? 0 : double(hit_tokens) / double(tokens); }
};

// Adds one request's outcome to `stats`.
void Account(const TraceRequest& request, const RequestOutcome& outcome,
             const BlockGeometry& geometry, ReplayStats& stats);

struct ReplayOptions {
  BlockGeometry geometry;
  // Called after each request with (done, total); may be empty.
  std::function<void(size_t, size_t)> progress;
};

// Serves every request of `trace` through `backend`, in order, and returns the totals.
absl::StatusOr<ReplayStats> Replay(const std::vector<TraceRequest>& trace, ReplayBackend& backend,
                                   const ReplayOptions& options);

// Stable 64-bit hash of a trace block id, for BlockInfo::key_hash.
uint64_t TraceKeyHash(uint64_t hash_id);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_REPLAY_H_
