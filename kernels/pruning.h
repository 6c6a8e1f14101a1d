// Token pruning: a smaller *view* of a kv block that keeps, per layer and KV head, only some of
// its tokens (StreamingLLM, H2O, SnapKV, PyramidKV), and Quest page metadata that lets a client
// rank blocks for a query without fetching them. The contract sits beside the codecs
// (kernels/codec.h): the input is a block's payload as its BlockLayout describes it
// ([layer][K,V][token][head][dim], kind kv, dtype f32, f16 or bf16); a pruned view never
// replaces the full block, it is what a hot tier or a bandwidth-starved client gets instead.
//
// Selectors (each keeps, in every layer, the same number of tokens in every KV head):
//   sink-window  the first S tokens ("attention sinks") and the last budget - S (StreamingLLM);
//                the same tokens in every head. Needs no scores.
//   scores-topk  per (layer, head), the top-budget tokens by scores the worker supplies with the
//                block (H2O's accumulated attention, SnapKV's observation-window votes), after
//                a max-pool over `pool_window` neighbouring tokens (SnapKV's clustering), so a
//                kept token brings its neighbours' evidence. Needs scores.
//   keynorm      a score-free HEURISTIC: per (layer, head), the tokens with the smallest key L2
//                norm (low-norm keys tend to draw high attention; Devoto et al. 2024). Use it
//                only where the worker cannot supply scores; it is not attention-aware.
// Ties go to the earlier token, so every selector is deterministic and the CPU and CUDA paths
// (kernels/gpu_pruning.h) keep the same tokens.
//
// Budgets: `budget_tokens` per (layer, head). BudgetShape::kConstant keeps that many in every
// layer; kPyramid (PyramidKV) keeps more in early layers and fewer in late ones, an arithmetic
// series from 2B - B/beta down to B/beta whose mean is B (before clamping each layer to
// [1, tokens]). LayerBudgets says exactly what each layer keeps.
//
// Scores are floats laid out [layer][kv_head][token] (a GQA worker sums its query heads' votes
// per KV head); any finite value is allowed, larger means keep.
//
// Errors: a layout these functions cannot read, a payload of the wrong size, a budget outside
// [1, tokens], a scores span of the wrong length or holding NaN/inf, a query of the wrong length:
// INVALID_ARGUMENT naming the field. Pure functions; thread-safe.
#ifndef STRATA_KERNELS_PRUNING_H_
#define STRATA_KERNELS_PRUNING_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/block_layout.h"

namespace strata {

enum class PruneSelector : uint8_t { kSinkWindow = 1, kScoresTopK = 2, kKeyNorm = 3 };
enum class BudgetShape : uint8_t { kConstant = 0, kPyramid = 1 };

// "sink-window", "scores-topk", "keynorm".
std::string_view PruneSelectorName(PruneSelector s);
// INVALID_ARGUMENT listing the names for an unknown one.
absl::StatusOr<PruneSelector> ParsePruneSelector(std::string_view name);

struct PruneOptions {
  PruneSelector selector = PruneSelector::kSinkWindow;
  // Tokens kept per (layer, head); the mean over layers for kPyramid. In [1, layout.tokens].
  int64_t budget_tokens = 0;
  BudgetShape shape = BudgetShape::kConstant;
  // kPyramid: the last layer keeps budget / pyramid_beta (PyramidKV's beta). >= 1.
  double pyramid_beta = 20.0;
  // sink-window: the leading tokens always kept (StreamingLLM uses 4). >= 0; a budget below it
  // keeps only the first budget tokens.
  int64_t sink_tokens = 4;
  // scores-topk: the max-pool window over neighbouring tokens' scores (odd, >= 1; 1 = none).
  int64_t pool_window = 7;
};

// The token budget of each layer for a block of `layout` (size layout.layers).
absl::StatusOr<std::vector<uint32_t>> LayerBudgets(const BlockLayout& layout,
                                                   const PruneOptions& options);

// A pruned view of one kv block. Layer l keeps kept[l] tokens in every head. Element order of
// `payload` (source dtype): for each layer, its K plane then its V plane, each [head][slot][dim];
// `positions` holds, per layer and head, the kept tokens' original indices in the block,
// ascending: [layer][head][slot]. A worker adds the block's first position to get the sequence
// position of each kept key (already rotated by RoPE when the block holds post-RoPE keys).
struct PrunedBlock {
  BlockLayout source;               // the full block's layout
  PruneOptions options;             // what made the view
  std::vector<uint32_t> kept;       // per layer
  std::vector<uint32_t> positions;  // [layer][head][slot]
  std::string payload;              // see above

  uint64_t kept_tokens() const;  // sum over layers of kept[l] (per head)
  double kept_fraction() const;  // kept_tokens / (layers * tokens)
  // Index of the first position of (layer, head) in `positions`.
  size_t PositionIndex(uint32_t layer, uint32_t head) const;
  // Element index in `payload` of (layer, plane 0=K 1=V, head, slot, dim 0).
  size_t ElementIndex(uint32_t layer, uint32_t plane, uint32_t head, uint32_t slot) const;
};

// Prunes `payload` (layout.Bytes() bytes) with `options`. `scores` must hold
// layers * kv_heads * tokens finite values for scores-topk and be empty otherwise.
absl::StatusOr<PrunedBlock> PruneBlock(const BlockLayout& layout, std::string_view payload,
                                       std::span<const float> scores, const PruneOptions& options);

// The ranking every selector reduces to, shared by the CPU and CUDA paths: one priority per
// (layer, head, token), [layer][head][token]; a layer keeps its top-budget tokens by priority,
// ties to the earlier token. Exposed for tests and benchmarks.
absl::StatusOr<std::vector<float>> PrunePriorities(const BlockLayout& layout,
                                                   std::string_view payload,
                                                   std::span<const float> scores,
                                                   const PruneOptions& options);

// OK when pruning and page bounds can read a block of `layout` and `payload_bytes`: kind kv,
// dtype f32, f16 or bf16, a layout that describes exactly payload_bytes.
absl::Status CheckPrunableLayout(const BlockLayout& layout, uint64_t payload_bytes);

// Checks everything PruneBlock checks (layout, payload size, options, scores), without pruning.
absl::Status ValidatePruneInput(const BlockLayout& layout, uint64_t payload_bytes,
                                std::span<const float> scores, const PruneOptions& options);

// ---- Quest page metadata ----

// Per block, layer, head and channel, the minimum and maximum of K over the block's tokens:
// [layer][head][dim]. Small (2 x layers x heads x head_dim floats) next to the block, so a client
// can bound q.k for every token of the block without fetching it.
struct PageBounds {
  uint32_t layers = 0, kv_heads = 0, head_dim = 0;
  std::vector<float> min, max;

  size_t Index(uint32_t layer, uint32_t head) const {
    return (size_t{layer} * kv_heads + head) * head_dim;
  }
  // Quest's upper bound on q.k over the block's tokens in (layer, head):
  // sum_d max(q_d * min_d, q_d * max_d). REQUIRES: q.size() == head_dim, indices in range.
  float UpperBound(uint32_t layer, uint32_t head, std::span<const float> q) const;

  // Little-endian serialization: u32 layers, kv_heads, head_dim, then min and max as f32.
  std::string Serialize() const;
  // DATA_LOSS for bytes that are not a serialized PageBounds.
  static absl::StatusOr<PageBounds> Parse(std::string_view bytes);
};

// Min/max of K for a kv block. NaN keys are skipped (a channel whose every key is NaN gets
// min = +inf, max = -inf, so it never raises a bound).
absl::StatusOr<PageBounds> ComputePageBounds(const BlockLayout& layout, std::string_view payload);

// Ranks `pages` (e.g. the blocks of a prefix) for one query of (layer, head) by the Quest upper
// bound and returns the indices of the top `top_n` (all when top_n >= pages.size()), best first,
// ties to the lower index. INVALID_ARGUMENT when a page's shape differs from the first's, the
// layer or head is out of range, or q.size() != head_dim.
absl::StatusOr<std::vector<size_t>> RankPagesByQuery(std::span<const PageBounds> pages,
                                                     uint32_t layer, uint32_t head,
                                                     std::span<const float> q, size_t top_n);

}  // namespace strata

#endif  // STRATA_KERNELS_PRUNING_H_
