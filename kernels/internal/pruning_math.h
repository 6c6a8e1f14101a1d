// The scalar rules of token pruning (kernels/pruning.h), shared by the CPU path
// (kernels/pruning.cc) and the CUDA kernels (kernels/cuda/pruning.cu, compiled __host__
// __device__), so both rank tokens by bit-identical priorities and keep the same ones. Every
// priority is a finite float or -inf, never NaN: the order "higher priority first, ties to the
// earlier token" is then a strict total order on one (layer, head)'s tokens. Pure functions.
#ifndef STRATA_KERNELS_INTERNAL_PRUNING_MATH_H_
#define STRATA_KERNELS_INTERNAL_PRUNING_MATH_H_

#include <cstdint>

#include "common/block_layout.h"
#include "kernels/internal/quant_math.h"

namespace strata::prune {

inline constexpr float kSinkPriority = 3.0e38f;

// Element i of a payload in `dtype` (f32, f16 or bf16) as a float.
STRATA_HD float LoadElement(const uint8_t* base, uint64_t i, DType dtype) {
  if (dtype == DType::kF16) {
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return quant::HalfToFloat(h);
  }
  if (dtype == DType::kBF16) {
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return quant::Bf16ToFloat(h);
  }
  float f;
  std::memcpy(&f, base + 4 * i, 4);
  return f;
}

// True when token a (priority pa) ranks before token b (priority pb).
STRATA_HD bool RanksBefore(float pa, uint32_t a, float pb, uint32_t b) {
  return pa > pb || (pa == pb && a < b);
}

// sink-window: sinks first (earliest first, by the tie rule), then the latest tokens.
STRATA_HD float SinkWindowPriority(uint32_t token, uint32_t sinks) {
  return token < sinks ? kSinkPriority : static_cast<float>(token);
}

// scores-topk: the largest score within `window` tokens centred on `token` (clipped at the
// block's ends). `row` holds the (layer, head)'s `tokens` scores; window is odd.
STRATA_HD float PooledScore(const float* row, uint32_t token, uint32_t tokens, uint32_t window) {
  const uint32_t half = window / 2;
  const uint32_t lo = token > half ? token - half : 0;
  const uint32_t hi = token + half < tokens ? token + half : tokens - 1;
  float m = row[lo];
  for (uint32_t t = lo + 1; t <= hi; ++t) m = row[t] > m ? row[t] : m;
  return m;
}

// keynorm: minus the squared L2 norm of the key (summed in channel order, no FMA), so the
// smallest keys rank first; a key holding NaN ranks last (-inf).
STRATA_HD float KeyNormPriority(const uint8_t* base, uint64_t first, uint32_t dim, DType dtype) {
  float s = 0.0f;
  for (uint32_t d = 0; d < dim; ++d) {
    const float x = LoadElement(base, first + d, dtype);
    const float sq = x * x;
    s = s + sq;
  }
  if (!(s == s)) return quant::BitsFloat(0xff800000u);  // -inf
  return -s;
}

}  // namespace strata::prune

#endif  // STRATA_KERNELS_INTERNAL_PRUNING_MATH_H_
