// PrunedViews: per-namespace pruned views at a tier boundary (docs/pruning.md, "Views in the
// store"). For a namespace that a rule names, a Put of a kv block keeps the full block in the
// rule's colder tier (`full_tier`: placed there or below, never promoted above it) and a pruned
// view of it (kernels/pruning.h, stored in kernels/pruned_view_format.h's format) in the hotter
// `view_tier`. A Get asks for the full block (the default) or for the view; a view is served only
// to a caller that asked for it, and a caller who asked for a view that is not there gets the
// full block, told which it got.
//
// Where views live: under the same key in the namespace `ns + "#view"` (and Quest page bounds, when
// the rule keeps them, in `ns + "#pages"`). '#' is not a namespace character, so no client can
// name, read or overwrite these directly; Describe/ListBlocks show them under those names; quota
// shares that match `ns` by prefix charge them to the tenant. Removing or replacing a full block
// drops its view first; a view that could not be stored (its tier full of leased blocks) is
// simply absent (a later Get falls back to the full block). Blocks without a kv layout f32, f16
// or bf16, and scores-topk blocks put without scores, are stored as usual without a view.
//
// Thread-safe (the store is; the rules are constant after Create). Two Puts racing on one key
// may leave the view of either: the view records its source block's checksum, which a reader
// compares with the full block's when it matters.
#ifndef STRATA_STORAGE_PRUNED_VIEWS_H_
#define STRATA_STORAGE_PRUNED_VIEWS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/block_layout.h"
#include "kernels/pruning.h"
#include "storage/tiered_store.h"

namespace strata {

struct PrunedViewRule {
  // Namespaces starting with this (the longest matching prefix wins; "" matches every one).
  std::string ns_prefix;
  // Selector, budget shape and knobs. budget_tokens is the per-(layer, head) budget when
  // budget_fraction is 0; each block's budget is clamped to [1, layout.tokens].
  PruneOptions prune;
  // In (0, 1]: the budget is round(fraction x layout.tokens) (at least 1) for each block.
  double budget_fraction = 0.0;
  // Store tier indices (fastest first). REQUIRES (checked by Create): view_tier < full_tier.
  size_t view_tier = 0;
  size_t full_tier = 1;
  // Also store Quest page bounds (kernels/pruning.h PageBounds) next to the view, so
  // RankByQuery can rank a prefix's blocks without reading them.
  bool page_bounds = false;
};

class PrunedViews {
 public:
  static constexpr std::string_view kViewSuffix = "#view";
  static constexpr std::string_view kPagesSuffix = "#pages";

  // `store` must outlive this. INVALID_ARGUMENT naming the rule (rules[i].field) for tiers the
  // store lacks, view_tier >= full_tier, a budget that is neither tokens >= 1 nor a fraction in
  // (0, 1], an even pool window, negative sinks, beta < 1, a duplicate prefix.
  static absl::StatusOr<PrunedViews> Create(TieredStore* store, std::vector<PrunedViewRule> rules);

  // The rule of `ns`, or null.
  const PrunedViewRule* RuleFor(std::string_view ns) const;

  // The checks a Put of one block makes before anything is stored: scores are allowed only for a
  // scores-topk rule and a prunable layout, and must be layers x kv_heads x tokens finite values.
  // INVALID_ARGUMENT naming `field` (e.g. "items[2].scores: 7 values, want 64").
  absl::Status ValidatePut(std::string_view ns, const BlockLayout& layout, uint64_t payload_bytes,
                           std::span<const float> scores, std::string_view field) const;

  // Stores the block as the class comment says (a plain TieredStore::Put when no rule applies).
  // The block's result is the full block's: a view that cannot be stored is left out.
  // REQUIRES: ValidatePut passed.
  absl::Status Put(std::string_view ns, std::string_view key, std::string_view parent,
                   const BlockLayout& layout, std::string_view payload,
                   std::span<const float> scores, std::optional<uint64_t> checksum = std::nullopt);

  // What GetPreferView served.
  enum class Served { kFull, kView };
  // The view of (ns, key) when one is stored, else the full block (TieredStore::Get's contract
  // for the sink and errors).
  absl::StatusOr<Served> GetPreferView(std::string_view ns, std::string_view key,
                                       absl::FunctionRef<void(const BlockView&)> sink,
                                       bool accept_encoded = false);

  // Quest ranking (kernels/pruning.h RankPagesByQuery) of the blocks `keys` of `ns` for query `q`
  // of (layer, head), from their stored page bounds alone (the blocks are not read).
  struct Ranking {
    std::vector<size_t> indices;  // into keys, best first, at most top_n
    std::vector<float> bounds;    // the Quest upper bound of each
    size_t unranked = 0;          // keys without stored bounds
  };
  // INVALID_ARGUMENT naming rank.layer / rank.head / rank.query when they do not fit the stored
  // bounds' shape.
  absl::StatusOr<Ranking> RankByQuery(std::string_view ns, absl::Span<const std::string> keys,
                                      uint32_t layer, uint32_t head, std::span<const float> q,
                                      size_t top_n);

  // Removes the view and page bounds of (ns, key), if any (before a full block is removed or
  // replaced by a path that makes no view). True when there was a view.
  bool DropView(std::string_view ns, std::string_view key);
  // Removes every view and page bounds of `ns`.
  TieredStore::EvictResult EvictNamespace(std::string_view ns);

  static std::string ViewNamespace(std::string_view ns);
  static std::string PagesNamespace(std::string_view ns);

 private:
  PrunedViews(TieredStore* store, std::vector<PrunedViewRule> rules)
      : store_(store), rules_(std::move(rules)) {}
  // The options a block of `layout` is pruned with under `rule` (its budget resolved).
  static PruneOptions Resolve(const PrunedViewRule& rule, const BlockLayout& layout);

  TieredStore* store_;
  std::vector<PrunedViewRule> rules_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_PRUNED_VIEWS_H_
