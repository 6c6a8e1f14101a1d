#include "stratactl/replay/replay.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace strata::replay {

uint64_t TraceKeyHash(uint64_t hash_id) {
  // splitmix64 finalizer: a bijection, so distinct ids never collide.
  uint64_t z = hash_id + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

absl::StatusOr<std::unique_ptr<OfflinePrefixCache>> OfflinePrefixCache::Create(
    std::string_view policy, const OfflineCacheOptions& options) {
  if (options.capacity_blocks == 0) {
    return absl::InvalidArgumentError("capacity_blocks: must be at least 1");
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> p, MakeEvictionPolicy(policy));
  return std::unique_ptr<OfflinePrefixCache>(new OfflinePrefixCache(std::move(p), options));
}

OfflinePrefixCache::OfflinePrefixCache(std::unique_ptr<EvictionPolicy> policy,
                                       const OfflineCacheOptions& options)
    : policy_(std::move(policy)), options_(options) {}

std::string OfflinePrefixCache::Describe() const {
  return absl::StrCat("offline ", AsAbsl(policy_->name()), " capacity ", options_.capacity_blocks,
                      " blocks");
}

void OfflinePrefixCache::AdjustChildren(uint64_t parent, int delta) {
  uint32_t& n = children_[parent];
  n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
  const uint32_t now = n;
  if (now == 0) children_.erase(parent);
  auto it = blocks_.find(parent);
  if (it != blocks_.end()) policy_->OnResidentChildren(it->second.id, now);
}

bool OfflinePrefixCache::EvictOne() {
  const uint64_t epoch = epoch_;
  std::optional<BlockId> victim = policy_->PickVictim([&](BlockId id) {
    auto h = id_to_hash_.find(id);
    if (h == id_to_hash_.end()) return false;
    auto b = blocks_.find(h->second);
    return b != blocks_.end() && b->second.pinned_epoch != epoch;
  });
  if (!victim.has_value()) return false;
  auto h = id_to_hash_.find(*victim);
  const uint64_t hash = h->second;
  id_to_hash_.erase(h);
  const Block block = blocks_[hash];
  blocks_.erase(hash);
  policy_->OnErase(block.id);
  if (block.has_parent) AdjustChildren(block.parent, -1);
  return true;
}

absl::StatusOr<RequestOutcome> OfflinePrefixCache::Serve(const TraceRequest& request) {
  RequestOutcome out;
  ++epoch_;
  // Pin what is already resident, and find the leading cached run.
  bool leading = true;
  for (uint64_t hash : request.hash_ids) {
    auto it = blocks_.find(hash);
    if (it == blocks_.end()) {
      leading = false;
      continue;
    }
    it->second.pinned_epoch = epoch_;
    if (leading) ++out.hit_blocks;
  }
  // Store what is missing and touch what is there, in prompt order.
  for (size_t j = 0; j < request.hash_ids.size(); ++j) {
    const uint64_t hash = request.hash_ids[j];
    auto it = blocks_.find(hash);
    if (it != blocks_.end()) {
      policy_->OnAccess(it->second.id);
      continue;
    }
    if (blocks_.size() >= options_.capacity_blocks) {
      if (!EvictOne()) {
        // Everything evictable belongs to this request: the rest of the prompt is computed but
        // not stored (a real store answers RESOURCE_EXHAUSTED to the Put).
        out.unstored_blocks += request.hash_ids.size() - j;
        break;
      }
      ++out.evicted_blocks;
    }
    Block b;
    b.id = ++next_id_;
    b.has_parent = j > 0;
    b.parent = j > 0 ? request.hash_ids[j - 1] : 0;
    b.pinned_epoch = epoch_;
    blocks_.emplace(hash, b);
    id_to_hash_.emplace(b.id, hash);
    BlockInfo info;
    info.bytes = options_.geometry.block_bytes;
    info.tokens = BlockTokens(request, j, options_.geometry.block_tokens);
    info.key_hash = TraceKeyHash(hash);
    info.depth = static_cast<uint32_t>(j);
    policy_->OnInsert(b.id, info);
    auto kids = children_.find(hash);
    if (kids != children_.end()) policy_->OnResidentChildren(b.id, kids->second);
    if (b.has_parent) AdjustChildren(b.parent, +1);
    ++out.stored_blocks;
  }
  return out;
}

void Account(const TraceRequest& request, const RequestOutcome& outcome,
             const BlockGeometry& geometry, ReplayStats& stats) {
  ++stats.requests;
  stats.blocks += request.hash_ids.size();
  stats.hit_blocks += outcome.hit_blocks;
  for (size_t j = 0; j < request.hash_ids.size(); ++j) {
    const uint32_t t = BlockTokens(request, j, geometry.block_tokens);
    stats.tokens += t;
    if (j < outcome.hit_blocks) stats.hit_tokens += t;
  }
  stats.stored_blocks += outcome.stored_blocks;
  stats.unstored_blocks += outcome.unstored_blocks;
  stats.evicted_blocks += outcome.evicted_blocks;
  stats.stored_bytes += outcome.stored_blocks * geometry.block_bytes;
  stats.served_bytes += outcome.hit_blocks * geometry.block_bytes;
}

absl::StatusOr<ReplayStats> Replay(const std::vector<TraceRequest>& trace, ReplayBackend& backend,
                                   const ReplayOptions& options) {
  ReplayStats stats;
  for (size_t i = 0; i < trace.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(RequestOutcome outcome, backend.Serve(trace[i]));
    Account(trace[i], outcome, options.geometry, stats);
    if (options.progress) options.progress(i + 1, trace.size());
  }
  return stats;
}

}  // namespace strata::replay
