// The stored and wire format of a pruned view (kernels/pruning.h's PrunedBlock): what a node
// keeps in its hot tier for a namespace with pruned views and what Get returns when a client asks
// for the view. Self-describing, versioned and checksummed, so a reader never mistakes a view for
// a full block, nor a damaged view for a good one. Little-endian (every Strata target).
//
//   offset      size                    field
//   0           4                       magic "SPV1"
//   4           2                       format version (1)
//   6           1                       selector (PruneSelector: 1 sink-window, 2 scores-topk,
//                                       3 keynorm)
//   7           1                       budget shape (BudgetShape: 0 constant, 1 pyramid)
//   8           1                       source dtype (common/block_layout.h DType)
//   9           3                       zero
//   12          4 x 4                   source layers, kv_heads, head_dim, tokens (u32)
//   28          8                       budget_tokens (i64)
//   36          8                       pyramid_beta (f64)
//   44          8                       sink_tokens (i64)
//   52          8                       pool_window (i64)
//   60          8                       source checksum: XXH3-64 of the full block's payload
//   68          4 x layers              kept tokens per layer (u32)
//   ...         4 x heads x sum(kept)   positions [layer][head][slot] (u32, ascending per head)
//   ...         see PrunedBlock         payload: per layer the K plane then the V plane, each
//                                       [head][slot][dim], in the source dtype
//   size - 8    8                       XXH3-64 of every byte before it
//
// The source layout is kind kv. Pure functions; thread-safe.
#ifndef STRATA_KERNELS_PRUNED_VIEW_FORMAT_H_
#define STRATA_KERNELS_PRUNED_VIEW_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/pruning.h"

namespace strata {

inline constexpr char kPrunedViewMagic[4] = {'S', 'P', 'V', '1'};
inline constexpr uint16_t kPrunedViewVersion = 1;
inline constexpr size_t kPrunedViewHeaderBytes = 68;

struct DecodedPrunedView {
  PrunedBlock view;
  uint64_t source_checksum = 0;
};

// Serializes `view`, made from a full block whose payload has XXH3-64 `source_checksum`.
// REQUIRES: `view` as PruneBlock returned it (sizes consistent).
std::string EncodePrunedView(const PrunedBlock& view, uint64_t source_checksum);

// DATA_LOSS naming what is wrong for bytes that are not an intact view of this version: a bad
// magic, an unknown version, a checksum mismatch, sizes that do not add up.
absl::StatusOr<DecodedPrunedView> DecodePrunedView(std::string_view bytes);

// True when `bytes` start with the view magic (cheap; does not verify).
bool LooksLikePrunedView(std::string_view bytes);

}  // namespace strata

#endif  // STRATA_KERNELS_PRUNED_VIEW_FORMAT_H_
