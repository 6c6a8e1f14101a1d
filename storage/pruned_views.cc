#include "storage/pruned_views.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "kernels/pruned_view_format.h"

namespace strata {
namespace {

absl::Status RuleError(size_t i, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("pruned_views[", i, "].", AsAbsl(field), ": ", AsAbsl(what)));
}

}  // namespace

std::string PrunedViews::ViewNamespace(std::string_view ns) {
  return absl::StrCat(AsAbsl(ns), AsAbsl(kViewSuffix));
}

std::string PrunedViews::PagesNamespace(std::string_view ns) {
  return absl::StrCat(AsAbsl(ns), AsAbsl(kPagesSuffix));
}

absl::StatusOr<PrunedViews> PrunedViews::Create(TieredStore* store,
                                                std::vector<PrunedViewRule> rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const PrunedViewRule& r = rules[i];
    for (size_t j = 0; j < i; ++j) {
      if (rules[j].ns_prefix == r.ns_prefix) {
        return RuleError(i, "prefix", absl::StrCat("'", r.ns_prefix, "' is also rule ", j, "'s"));
      }
    }
    if (r.full_tier >= store->tier_count()) {
      return RuleError(i, "full_tier",
                       absl::StrCat("tier ", r.full_tier, " does not exist (the store has ",
                                    store->tier_count(), ")"));
    }
    if (r.view_tier >= r.full_tier) {
      return RuleError(i, "view_tier", "must be a faster tier than full_tier");
    }
    if (r.budget_fraction != 0.0) {
      if (!(r.budget_fraction > 0.0 && r.budget_fraction <= 1.0)) {
        return RuleError(i, "budget", "a fraction must be in (0, 1]");
      }
    } else if (r.prune.budget_tokens < 1) {
      return RuleError(i, "budget", "must be tokens >= 1 or a percentage in (0%, 100%]");
    }
    if (r.prune.pool_window < 1 || r.prune.pool_window % 2 == 0) {
      return RuleError(i, "pool_window", "must be odd and >= 1");
    }
    if (r.prune.sink_tokens < 0) return RuleError(i, "sink_tokens", "must be >= 0");
    if (!(r.prune.pyramid_beta >= 1.0)) return RuleError(i, "beta", "must be >= 1");
  }
  return PrunedViews(store, std::move(rules));
}

const PrunedViewRule* PrunedViews::RuleFor(std::string_view ns) const {
  const PrunedViewRule* best = nullptr;
  for (const PrunedViewRule& r : rules_) {
    if (ns.substr(0, r.ns_prefix.size()) != r.ns_prefix) continue;
    if (best == nullptr || r.ns_prefix.size() > best->ns_prefix.size()) best = &r;
  }
  return best;
}

PruneOptions PrunedViews::Resolve(const PrunedViewRule& rule, const BlockLayout& layout) {
  PruneOptions o = rule.prune;
  const int64_t tokens = layout.tokens;
  int64_t budget = rule.budget_fraction > 0.0
                       ? std::llround(rule.budget_fraction * static_cast<double>(tokens))
                       : rule.prune.budget_tokens;
  o.budget_tokens = std::clamp<int64_t>(budget, 1, std::max<int64_t>(tokens, 1));
  return o;
}

absl::Status PrunedViews::ValidatePut(std::string_view ns, const BlockLayout& layout,
                                      uint64_t payload_bytes, std::span<const float> scores,
                                      std::string_view field) const {
  if (scores.empty()) return absl::OkStatus();
  const PrunedViewRule* rule = RuleFor(ns);
  if (rule == nullptr || rule->prune.selector != PruneSelector::kScoresTopK) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(field), ": namespace '", AsAbsl(ns),
        "' keeps no scores-topk view (pruned_views), so it takes no scores; got ", scores.size()));
  }
  if (absl::Status st = CheckPrunableLayout(layout, payload_bytes); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(field), ": scores need a kv block of f32, f16 or bf16 (", st.message(), ")"));
  }
  absl::Status st = ValidatePruneInput(layout, payload_bytes, scores, Resolve(*rule, layout));
  if (st.ok()) return st;
  // The kernels name "scores..."; say which item's.
  absl::string_view msg = st.message();
  if (msg.substr(0, 6) == "scores") msg.remove_prefix(6);
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), msg));
}

absl::Status PrunedViews::Put(std::string_view ns, std::string_view key, std::string_view parent,
                              const BlockLayout& layout, std::string_view payload,
                              std::span<const float> scores, std::optional<uint64_t> checksum) {
  const PrunedViewRule* rule = RuleFor(ns);
  if (rule == nullptr) return store_->Put(ns, key, parent, layout, payload, checksum);
  // A view of the block being replaced must not outlive it (DropView without its rule lookup).
  (void)store_->Remove(PagesNamespace(ns), key);
  (void)store_->Remove(ViewNamespace(ns), key);
  const bool prunable = CheckPrunableLayout(layout, payload.size()).ok() &&
                        (rule->prune.selector != PruneSelector::kScoresTopK || !scores.empty());
  if (!prunable) return store_->Put(ns, key, parent, layout, payload, checksum);

  const uint64_t sum = checksum.has_value() ? *checksum : BlockChecksum(payload);
  STRATA_RETURN_IF_ERROR(store_->Put(ns, key, parent, layout, payload, sum, rule->full_tier));
  absl::StatusOr<PrunedBlock> view = PruneBlock(layout, payload, scores, Resolve(*rule, layout));
  // ValidatePut passed, so the kernels accept this input; a failure here leaves the view out.
  if (!view.ok()) return absl::OkStatus();
  const std::string bytes = EncodePrunedView(*view, sum);
  // Failing to store the view (its tier full of leased blocks) is not the Put's failure: the
  // full block is stored and a Get for the view falls back to it.
  (void)store_->Put(ViewNamespace(ns), key, "", BlockLayout{}, bytes, std::nullopt,
                    rule->view_tier);
  if (rule->page_bounds) {
    if (absl::StatusOr<PageBounds> pb = ComputePageBounds(layout, payload); pb.ok()) {
      (void)store_->Put(PagesNamespace(ns), key, "", BlockLayout{}, pb->Serialize(), std::nullopt,
                        rule->view_tier);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PrunedViews::Served> PrunedViews::GetPreferView(
    std::string_view ns, std::string_view key, absl::FunctionRef<void(const BlockView&)> sink,
    bool accept_encoded) {
  if (RuleFor(ns) != nullptr) {
    absl::Status st = store_->Get(ViewNamespace(ns), key, sink, accept_encoded);
    if (st.ok()) return Served::kView;
    // Any failure to read the view (a miss, a tier unreadable now) falls back to the full block.
  }
  STRATA_RETURN_IF_ERROR(store_->Get(ns, key, sink, accept_encoded));
  return Served::kFull;
}

absl::StatusOr<PrunedViews::Ranking> PrunedViews::RankByQuery(std::string_view ns,
                                                              absl::Span<const std::string> keys,
                                                              uint32_t layer, uint32_t head,
                                                              std::span<const float> q,
                                                              size_t top_n) {
  Ranking out;
  std::vector<PageBounds> pages;
  std::vector<size_t> index;  // pages[i] is keys[index[i]]'s
  const std::string pages_ns = PagesNamespace(ns);
  const bool has_rule = RuleFor(ns) != nullptr;  // without one no block has stored bounds
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string bytes;
    absl::Status st = !has_rule ? absl::NotFoundError("no rule")
                                : store_->Get(pages_ns, keys[i], [&](const BlockView& v) {
                                    bytes.assign(v.payload.data(), v.payload.size());
                                  });
    absl::StatusOr<PageBounds> pb =
        st.ok() ? PageBounds::Parse(bytes) : absl::StatusOr<PageBounds>(st);
    if (!pb.ok()) {
      ++out.unranked;
      continue;
    }
    pages.push_back(*std::move(pb));
    index.push_back(i);
  }
  if (pages.empty() || top_n == 0) return out;
  absl::StatusOr<std::vector<size_t>> ranked = RankPagesByQuery(pages, layer, head, q, top_n);
  if (!ranked.ok()) {
    // The kernels name layer, head, q and pages[i]; say they are the request's.
    absl::string_view msg = ranked.status().message();
    if (absl::ConsumePrefix(&msg, "q:")) {
      return absl::InvalidArgumentError(absl::StrCat("rank.query:", msg));
    }
    return absl::InvalidArgumentError(absl::StrCat("rank.", msg));
  }
  for (size_t p : *ranked) {
    out.indices.push_back(index[p]);
    out.bounds.push_back(pages[p].UpperBound(layer, head, q));
  }
  return out;
}

bool PrunedViews::DropView(std::string_view ns, std::string_view key) {
  if (RuleFor(ns) == nullptr) return false;
  (void)store_->Remove(PagesNamespace(ns), key);
  return store_->Remove(ViewNamespace(ns), key);
}

TieredStore::EvictResult PrunedViews::EvictNamespace(std::string_view ns) {
  TieredStore::EvictResult a = store_->EvictNamespace(ViewNamespace(ns));
  const TieredStore::EvictResult b = store_->EvictNamespace(PagesNamespace(ns));
  a.blocks += b.blocks;
  a.bytes += b.bytes;
  return a;
}

}  // namespace strata
