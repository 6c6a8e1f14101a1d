// CUDA token pruning and Quest page bounds (kernels/gpu_pruning.h). Priorities come from the
// same scalar functions as the CPU path (kernels/internal/pruning_math.h) under --fmad=false, and
// the ranking is the CPU's strict total order, so the kept sets, positions and bytes match.
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/gpu_pruning.h"
#include "kernels/internal/pruning_math.h"

namespace strata::gpu {
namespace {

constexpr int kThreads = 256;

struct Shape {
  uint32_t layers, heads, tokens, dim;
  DType dtype;
};

// Thread per (layer, head, token).
__global__ void PriorityKernel(Shape s, const uint8_t* payload, const float* scores,
                               PruneSelector selector, uint32_t sinks, uint32_t window,
                               float* priority) {
  const uint64_t n = uint64_t{s.layers} * s.heads * s.tokens;
  const uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint32_t t = static_cast<uint32_t>(i % s.tokens);
  const uint64_t lh = i / s.tokens;
  const uint32_t h = static_cast<uint32_t>(lh % s.heads);
  const uint32_t l = static_cast<uint32_t>(lh / s.heads);
  float p = 0.0f;
  if (selector == PruneSelector::kSinkWindow) {
    p = prune::SinkWindowPriority(t, sinks);
  } else if (selector == PruneSelector::kScoresTopK) {
    p = prune::PooledScore(scores + lh * s.tokens, t, s.tokens, window);
  } else {
    const uint64_t first = ((uint64_t{l} * 2 * s.tokens + t) * s.heads + h) * s.dim;
    p = prune::KeyNormPriority(payload, first, s.dim, s.dtype);
  }
  priority[i] = p;
}

// Block per (layer, head): marks the tokens ranking within the layer's budget, then gathers
// them in position order. `before[l]` is the sum of the budgets of the layers below l.
__global__ void SelectGatherKernel(Shape s, const uint8_t* payload, const float* priority,
                                   const uint32_t* budget, const uint64_t* before, uint8_t* kept,
                                   uint32_t* positions, uint8_t* out) {
  const uint32_t lh = blockIdx.x;
  const uint32_t h = lh % s.heads, l = lh / s.heads;
  const uint32_t T = s.tokens;
  const float* pr = priority + uint64_t{lh} * T;
  uint8_t* flag = kept + uint64_t{lh} * T;
  const uint32_t k = budget[l];
  for (uint32_t t = threadIdx.x; t < T; t += blockDim.x) {
    const float pt = pr[t];
    uint32_t rank = 0;
    for (uint32_t u = 0; u < T && rank < k; ++u) rank += prune::RanksBefore(pr[u], u, pt, t);
    flag[t] = rank < k;
  }
  __syncthreads();  // flags of the whole (layer, head) are visible to the block
  const uint64_t esize = s.dtype == DType::kF32 ? 4 : 2;
  const uint64_t row = uint64_t{s.dim} * esize;
  for (uint32_t t = threadIdx.x; t < T; t += blockDim.x) {
    if (!flag[t]) continue;
    uint32_t slot = 0;
    for (uint32_t u = 0; u < t; ++u) slot += flag[u];
    positions[before[l] * s.heads + uint64_t{h} * k + slot] = t;
    for (uint32_t plane = 0; plane < 2; ++plane) {
      const uint64_t src = (((uint64_t{l} * 2 + plane) * T + t) * s.heads + h) * row;
      const uint64_t dst =
          (2 * before[l] * s.heads + (uint64_t{plane} * k * s.heads + uint64_t{h} * k + slot)) *
          row;
      for (uint64_t b = 0; b < row; ++b) out[dst + b] = payload[src + b];
    }
  }
}

// Thread per (layer, head, channel): min/max over the tokens, token order, NaN skipped.
__global__ void BoundsKernel(Shape s, const uint8_t* payload, float* mn, float* mx) {
  const uint64_t n = uint64_t{s.layers} * s.heads * s.dim;
  const uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint32_t d = static_cast<uint32_t>(i % s.dim);
  const uint32_t h = static_cast<uint32_t>((i / s.dim) % s.heads);
  const uint32_t l = static_cast<uint32_t>(i / (uint64_t{s.dim} * s.heads));
  float lo = quant::BitsFloat(0x7f800000u), hi = quant::BitsFloat(0xff800000u);
  for (uint32_t t = 0; t < s.tokens; ++t) {
    const float x = prune::LoadElement(
        payload, ((uint64_t{l} * 2 * s.tokens + t) * s.heads + h) * s.dim + d, s.dtype);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  mn[i] = lo;
  mx[i] = hi;
}

Shape ShapeOf(const BlockLayout& l) {
  return Shape{l.layers, l.kv_heads, l.tokens, l.head_dim, l.dtype};
}

unsigned Blocks(uint64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

absl::StatusOr<DeviceBuffer> CopyIn(const void* src, uint64_t bytes) {
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d, Allocate(bytes));
  if (bytes > 0) {
    STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(d.get(), src, bytes, cudaMemcpyHostToDevice), "copy in");
  }
  return d;
}

}  // namespace

absl::StatusOr<PrunedBlock> PruneBlockHost(const BlockLayout& layout, std::string_view payload,
                                           std::span<const float> scores,
                                           const PruneOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidatePruneInput(layout, payload.size(), scores, options));
  STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> budgets, LayerBudgets(layout, options));
  PrunedBlock out;
  out.source = layout;
  out.options = options;
  out.kept = budgets;
  const Shape s = ShapeOf(layout);
  std::vector<uint64_t> before(layout.layers, 0);
  for (uint32_t l = 1; l < layout.layers; ++l) before[l] = before[l - 1] + budgets[l - 1];
  const uint64_t kept = out.kept_tokens();
  const uint64_t n = uint64_t{s.layers} * s.heads * s.tokens;
  const uint64_t out_bytes = kept * s.heads * s.dim * 2 * DTypeSize(layout.dtype);

  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_payload, CopyIn(payload.data(), payload.size()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_scores, CopyIn(scores.data(), scores.size_bytes()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_budget, CopyIn(budgets.data(), 4 * budgets.size()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_before, CopyIn(before.data(), 8 * before.size()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_priority, Allocate(4 * n));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_kept, Allocate(n));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_positions, Allocate(4 * kept * s.heads));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_out, Allocate(out_bytes));

  const auto sinks = static_cast<uint32_t>(std::min<int64_t>(options.sink_tokens, s.tokens));
  PriorityKernel<<<Blocks(n), kThreads>>>(
      s, static_cast<const uint8_t*>(d_payload.get()), static_cast<const float*>(d_scores.get()),
      options.selector, sinks, static_cast<uint32_t>(options.pool_window),
      static_cast<float*>(d_priority.get()));
  STRATA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "priority launch");
  SelectGatherKernel<<<s.layers * s.heads, kThreads>>>(
      s, static_cast<const uint8_t*>(d_payload.get()), static_cast<const float*>(d_priority.get()),
      static_cast<const uint32_t*>(d_budget.get()), static_cast<const uint64_t*>(d_before.get()),
      static_cast<uint8_t*>(d_kept.get()), static_cast<uint32_t*>(d_positions.get()),
      static_cast<uint8_t*>(d_out.get()));
  STRATA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "select launch");

  out.positions.resize(kept * s.heads);
  out.payload.resize(out_bytes);
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(out.positions.data(), d_positions.get(),
                                         4 * out.positions.size(), cudaMemcpyDeviceToHost),
                              "copy positions out");
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(out.payload.data(), d_out.get(), out_bytes, cudaMemcpyDeviceToHost),
      "copy payload out");
  return out;
}

absl::StatusOr<PageBounds> ComputePageBoundsHost(const BlockLayout& layout,
                                                 std::string_view payload) {
  STRATA_RETURN_IF_ERROR(CheckPrunableLayout(layout, payload.size()));
  const Shape s = ShapeOf(layout);
  PageBounds p;
  p.layers = s.layers;
  p.kv_heads = s.heads;
  p.head_dim = s.dim;
  const uint64_t n = uint64_t{s.layers} * s.heads * s.dim;
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_payload, CopyIn(payload.data(), payload.size()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_min, Allocate(4 * n));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d_max, Allocate(4 * n));
  BoundsKernel<<<Blocks(n), kThreads>>>(s, static_cast<const uint8_t*>(d_payload.get()),
                                        static_cast<float*>(d_min.get()),
                                        static_cast<float*>(d_max.get()));
  STRATA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "bounds launch");
  p.min.resize(n);
  p.max.resize(n);
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(p.min.data(), d_min.get(), 4 * n, cudaMemcpyDeviceToHost),
                              "copy min out");
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(p.max.data(), d_max.get(), 4 * n, cudaMemcpyDeviceToHost),
                              "copy max out");
  return p;
}

}  // namespace strata::gpu
