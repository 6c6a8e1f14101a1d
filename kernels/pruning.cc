#include "kernels/pruning.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/internal/pruning_math.h"

namespace strata {
namespace {

constexpr int64_t kMaxPoolWindow = 255;

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

absl::Status CheckPrunableLayout(const BlockLayout& layout, uint64_t payload_bytes) {
  if (layout.kind != LayoutKind::kKv) {
    return absl::InvalidArgumentError(absl::StrCat("layout.kind: pruning needs a kv layout, got ",
                                                   std::string(LayoutKindName(layout.kind))));
  }
  if (layout.dtype != DType::kF32 && layout.dtype != DType::kF16 && layout.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout.dtype: pruning reads f32, f16 or bf16, got ",
                     std::string(DTypeName(layout.dtype))));
  }
  return layout.Validate(payload_bytes);
}

namespace {

absl::Status CheckOptions(const BlockLayout& layout, const PruneOptions& o) {
  if (o.selector != PruneSelector::kSinkWindow && o.selector != PruneSelector::kScoresTopK &&
      o.selector != PruneSelector::kKeyNorm) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.selector: unknown selector ", static_cast<int>(o.selector)));
  }
  if (o.budget_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.budget_tokens: ", o.budget_tokens, " is negative"));
  }
  if (o.budget_tokens == 0) {
    return absl::InvalidArgumentError("options.budget_tokens: must keep at least 1 token");
  }
  if (o.budget_tokens > int64_t{layout.tokens}) {
    return absl::InvalidArgumentError(absl::StrCat("options.budget_tokens: ", o.budget_tokens,
                                                   " exceeds the block's ", layout.tokens,
                                                   " tokens"));
  }
  if (o.shape != BudgetShape::kConstant && o.shape != BudgetShape::kPyramid) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.shape: unknown budget shape ", static_cast<int>(o.shape)));
  }
  if (!(o.pyramid_beta >= 1.0) || !std::isfinite(o.pyramid_beta)) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.pyramid_beta: must be finite and >= 1, got ", o.pyramid_beta));
  }
  if (o.sink_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.sink_tokens: ", o.sink_tokens, " is negative"));
  }
  if (o.pool_window < 1 || o.pool_window % 2 == 0 || o.pool_window > kMaxPoolWindow) {
    return absl::InvalidArgumentError(absl::StrCat("options.pool_window: must be odd and in [1, ",
                                                   kMaxPoolWindow, "], got ", o.pool_window));
  }
  return absl::OkStatus();
}

absl::Status CheckScores(const BlockLayout& layout, std::span<const float> scores,
                         const PruneOptions& o) {
  const uint64_t expected = uint64_t{layout.layers} * layout.kv_heads * layout.tokens;
  if (o.selector != PruneSelector::kScoresTopK) {
    if (!scores.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scores: ", std::string(PruneSelectorName(o.selector)),
                       " takes no scores, got ", scores.size()));
    }
    return absl::OkStatus();
  }
  if (scores.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scores: scores-topk needs layers x kv_heads x tokens = ", layout.layers, " x ",
        layout.kv_heads, " x ", layout.tokens, " = ", expected, " values, got ", scores.size()));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      const size_t t = i % layout.tokens, h = (i / layout.tokens) % layout.kv_heads,
                   l = i / (size_t{layout.tokens} * layout.kv_heads);
      return absl::InvalidArgumentError(
          absl::StrCat("scores[", i, "] (layer ", l, ", head ", h, ", token ", t, ") is ",
                       std::isnan(scores[i]) ? "NaN" : "infinite", "; scores must be finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view PruneSelectorName(PruneSelector s) {
  switch (s) {
    case PruneSelector::kSinkWindow:
      return "sink-window";
    case PruneSelector::kScoresTopK:
      return "scores-topk";
    case PruneSelector::kKeyNorm:
      return "keynorm";
  }
  return "unknown";
}

absl::StatusOr<PruneSelector> ParsePruneSelector(std::string_view name) {
  for (PruneSelector s :
       {PruneSelector::kSinkWindow, PruneSelector::kScoresTopK, PruneSelector::kKeyNorm}) {
    if (name == PruneSelectorName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("selector: unknown '", std::string(name),
                                                 "' (known: sink-window, scores-topk, keynorm)"));
}

absl::Status ValidatePruneInput(const BlockLayout& layout, uint64_t payload_bytes,
                                std::span<const float> scores, const PruneOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckPrunableLayout(layout, payload_bytes));
  STRATA_RETURN_IF_ERROR(CheckOptions(layout, options));
  return CheckScores(layout, scores, options);
}

absl::StatusOr<std::vector<uint32_t>> LayerBudgets(const BlockLayout& layout,
                                                   const PruneOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckOptions(layout, options));
  std::vector<uint32_t> out(layout.layers, static_cast<uint32_t>(options.budget_tokens));
  if (options.shape == BudgetShape::kConstant || layout.layers < 2) return out;
  const double b = static_cast<double>(options.budget_tokens);
  const double lo = b / options.pyramid_beta, hi = 2.0 * b - lo;
  for (uint32_t l = 0; l < layout.layers; ++l) {
    const double k = hi - (hi - lo) * l / (layout.layers - 1);
    const int64_t r = std::llround(k);
    out[l] = static_cast<uint32_t>(std::clamp<int64_t>(r, 1, layout.tokens));
  }
  return out;
}

uint64_t PrunedBlock::kept_tokens() const {
  return std::accumulate(kept.begin(), kept.end(), uint64_t{0});
}

double PrunedBlock::kept_fraction() const {
  const double all = static_cast<double>(source.layers) * source.tokens;
  return all > 0 ? static_cast<double>(kept_tokens()) / all : 0.0;
}

size_t PrunedBlock::PositionIndex(uint32_t layer, uint32_t head) const {
  size_t before = 0;
  for (uint32_t l = 0; l < layer; ++l) before += kept[l];
  return before * source.kv_heads + size_t{head} * kept[layer];
}

size_t PrunedBlock::ElementIndex(uint32_t layer, uint32_t plane, uint32_t head,
                                 uint32_t slot) const {
  size_t before = 0;
  for (uint32_t l = 0; l < layer; ++l) before += kept[l];
  const size_t hd = size_t{source.kv_heads} * source.head_dim;
  return 2 * before * hd +
         (size_t{plane} * kept[layer] * source.kv_heads + size_t{head} * kept[layer] + slot) *
             source.head_dim;
}

absl::StatusOr<std::vector<float>> PrunePriorities(const BlockLayout& layout,
                                                   std::string_view payload,
                                                   std::span<const float> scores,
                                                   const PruneOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidatePruneInput(layout, payload.size(), scores, options));
  const uint32_t T = layout.tokens, H = layout.kv_heads, D = layout.head_dim;
  std::vector<float> p(size_t{layout.layers} * H * T);
  for (uint32_t l = 0; l < layout.layers; ++l) {
    for (uint32_t h = 0; h < H; ++h) {
      float* out = p.data() + (size_t{l} * H + h) * T;
      for (uint32_t t = 0; t < T; ++t) {
        switch (options.selector) {
          case PruneSelector::kSinkWindow:
            out[t] = prune::SinkWindowPriority(
                t, static_cast<uint32_t>(std::min<int64_t>(options.sink_tokens, T)));
            break;
          case PruneSelector::kScoresTopK:
            out[t] = prune::PooledScore(scores.data() + (size_t{l} * H + h) * T, t, T,
                                        static_cast<uint32_t>(options.pool_window));
            break;
          case PruneSelector::kKeyNorm: {
            // K plane of layer l, token t, head h.
            const uint64_t first = ((uint64_t{l} * 2 * T + t) * H + h) * D;
            out[t] = prune::KeyNormPriority(Bytes(payload), first, D, layout.dtype);
            break;
          }
        }
      }
    }
  }
  return p;
}

absl::StatusOr<PrunedBlock> PruneBlock(const BlockLayout& layout, std::string_view payload,
                                       std::span<const float> scores, const PruneOptions& options) {
  STRATA_ASSIGN_OR_RETURN(std::vector<float> priority,
                          PrunePriorities(layout, payload, scores, options));
  STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> budgets, LayerBudgets(layout, options));
  const uint32_t T = layout.tokens, H = layout.kv_heads, D = layout.head_dim;
  const size_t esize = DTypeSize(layout.dtype);
  PrunedBlock out;
  out.source = layout;
  out.options = options;
  out.kept = budgets;
  const uint64_t kept = out.kept_tokens();
  out.positions.reserve(kept * H);
  out.payload.resize(kept * H * D * 2 * esize);
  std::vector<uint32_t> order(T);
  for (uint32_t l = 0; l < layout.layers; ++l) {
    const uint32_t k = budgets[l];
    for (uint32_t h = 0; h < H; ++h) {
      const float* pr = priority.data() + (size_t{l} * H + h) * T;
      std::iota(order.begin(), order.end(), 0u);
      std::nth_element(
          order.begin(), order.begin() + (k - 1), order.end(),
          [pr](uint32_t a, uint32_t b) { return prune::RanksBefore(pr[a], a, pr[b], b); });
      std::sort(order.begin(), order.begin() + k);
      for (uint32_t slot = 0; slot < k; ++slot) {
        const uint32_t t = order[slot];
        out.positions.push_back(t);
        for (uint32_t plane = 0; plane < 2; ++plane) {
          const size_t src = (((size_t{l} * 2 + plane) * T + t) * H + h) * D;
          std::memcpy(out.payload.data() + out.ElementIndex(l, plane, h, slot) * esize,
                      payload.data() + src * esize, D * esize);
        }
      }
    }
  }
  return out;
}

// ---- Quest ----

float PageBounds::UpperBound(uint32_t layer, uint32_t head, std::span<const float> q) const {
  const size_t base = Index(layer, head);
  float s = 0.0f;
  for (uint32_t d = 0; d < head_dim; ++d) {
    const float a = q[d] * min[base + d], b = q[d] * max[base + d];
    // A channel with no finite key (min = +inf, max = -inf) or q_d = 0 adds nothing.
    const float m = a > b ? a : b;
    if (std::isfinite(m)) s += m;
  }
  return s;
}

std::string PageBounds::Serialize() const {
  std::string out;
  out.reserve(12 + 4 * (min.size() + max.size()));
  for (uint32_t v : {layers, kv_heads, head_dim}) {
    char b[4];
    std::memcpy(b, &v, 4);  // little-endian hosts only, as every Strata target
    out.append(b, 4);
  }
  out.append(reinterpret_cast<const char*>(min.data()), 4 * min.size());
  out.append(reinterpret_cast<const char*>(max.data()), 4 * max.size());
  return out;
}

absl::StatusOr<PageBounds> PageBounds::Parse(std::string_view bytes) {
  if (bytes.size() < 12) return absl::DataLossError("page bounds: shorter than their header");
  PageBounds p;
  std::memcpy(&p.layers, bytes.data(), 4);
  std::memcpy(&p.kv_heads, bytes.data() + 4, 4);
  std::memcpy(&p.head_dim, bytes.data() + 8, 4);
  const uint64_t n = uint64_t{p.layers} * p.kv_heads * p.head_dim;
  if (p.layers == 0 || p.kv_heads == 0 || p.head_dim == 0 || n > (uint64_t{1} << 28) ||
      bytes.size() != 12 + 8 * n) {
    return absl::DataLossError(absl::StrCat("page bounds: ", bytes.size(),
                                            " bytes do not match their shape ", p.layers, "x",
                                            p.kv_heads, "x", p.head_dim));
  }
  p.min.resize(n);
  p.max.resize(n);
  std::memcpy(p.min.data(), bytes.data() + 12, 4 * n);
  std::memcpy(p.max.data(), bytes.data() + 12 + 4 * n, 4 * n);
  return p;
}

absl::StatusOr<PageBounds> ComputePageBounds(const BlockLayout& layout, std::string_view payload) {
  STRATA_RETURN_IF_ERROR(CheckPrunableLayout(layout, payload.size()));
  const uint32_t T = layout.tokens, H = layout.kv_heads, D = layout.head_dim;
  PageBounds p;
  p.layers = layout.layers;
  p.kv_heads = H;
  p.head_dim = D;
  const size_t n = size_t{layout.layers} * H * D;
  p.min.assign(n, std::numeric_limits<float>::infinity());
  p.max.assign(n, -std::numeric_limits<float>::infinity());
  for (uint32_t l = 0; l < layout.layers; ++l) {
    for (uint32_t t = 0; t < T; ++t) {
      for (uint32_t h = 0; h < H; ++h) {
        const uint64_t first = ((uint64_t{l} * 2 * T + t) * H + h) * D;
        const size_t base = p.Index(l, h);
        for (uint32_t d = 0; d < D; ++d) {
          const float x = prune::LoadElement(Bytes(payload), first + d, layout.dtype);
          // Comparisons with NaN are false: NaN keys leave the bounds alone.
          if (x < p.min[base + d]) p.min[base + d] = x;
          if (x > p.max[base + d]) p.max[base + d] = x;
        }
      }
    }
  }
  return p;
}

absl::StatusOr<std::vector<size_t>> RankPagesByQuery(std::span<const PageBounds> pages,
                                                     uint32_t layer, uint32_t head,
                                                     std::span<const float> q, size_t top_n) {
  if (pages.empty()) return std::vector<size_t>{};
  const PageBounds& first = pages[0];
  for (size_t i = 0; i < pages.size(); ++i) {
    const PageBounds& p = pages[i];
    if (p.layers != first.layers || p.kv_heads != first.kv_heads || p.head_dim != first.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pages[", i, "]: shape ", p.layers, "x", p.kv_heads, "x", p.head_dim,
          " differs from pages[0]'s ", first.layers, "x", first.kv_heads, "x", first.head_dim));
    }
    const size_t n = size_t{p.layers} * p.kv_heads * p.head_dim;
    if (p.min.size() != n || p.max.size() != n) {
      return absl::InvalidArgumentError(absl::StrCat("pages[", i, "]: min/max hold ", p.min.size(),
                                                     "/", p.max.size(), " values, shape needs ",
                                                     n));
    }
  }
  if (layer >= first.layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer: ", layer, " out of range (", first.layers, " layers)"));
  }
  if (head >= first.kv_heads) {
    return absl::InvalidArgumentError(
        absl::StrCat("head: ", head, " out of range (", first.kv_heads, " kv heads)"));
  }
  if (q.size() != first.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("q: ", q.size(), " values, head_dim is ", first.head_dim));
  }
  for (size_t d = 0; d < q.size(); ++d) {
    if (!std::isfinite(q[d])) {
      return absl::InvalidArgumentError(absl::StrCat("q[", d, "] is not finite"));
    }
  }
  std::vector<float> bound(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) bound[i] = pages[i].UpperBound(layer, head, q);
  std::vector<size_t> order(pages.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t n = std::min(top_n, pages.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](size_t a, size_t b) {
    return bound[a] > bound[b] || (bound[a] == bound[b] && a < b);
  });
  order.resize(n);
  return order;
}

}  // namespace strata
