// Byte layout of a kivi4 / kivi2 body, shared by the CPU codec and the CUDA kernels.
//
// With C = kv_heads * head_dim channels per token, T tokens, group size G and b bits:
//   key groups   ngk = ceil(T / G)   (the last covers T - (ngk - 1) * G tokens)
//   value groups ngv = ceil(C / G)   (the last covers C - (ngv - 1) * G channels)
//   row bytes    rb  = ceil(C * b / 8)   (each token row of codes starts on a byte)
// and, for each layer in order:
//   K params  ngk x { u16 scale[C], u16 min[C] }      fp16, per channel per token group
//   K codes   T x rb
//   V params  T x { u16 scale[ngv], u16 min[ngv] }    fp16, per token per channel group
//   V codes   T x rb
// Codes are packed low bits first: element i of a row at bit b * (i % (8 / b)) of byte
// i / (8 / b). x' = q * scale + min.
#ifndef STRATA_KERNELS_INTERNAL_KIVI_LAYOUT_H_
#define STRATA_KERNELS_INTERNAL_KIVI_LAYOUT_H_

#include <cstdint>

#include "kernels/internal/quant_math.h"

namespace strata::quant {

struct KiviGeometry {
  uint64_t channels;      // C
  uint64_t tokens;        // T
  uint64_t group;         // G
  uint32_t bits;          // b
  uint64_t key_groups;    // ngk
  uint64_t value_groups;  // ngv
  uint64_t row_bytes;     // rb

  STRATA_HD uint64_t key_params_bytes() const { return key_groups * channels * 4; }
  STRATA_HD uint64_t codes_bytes() const { return tokens * row_bytes; }
  STRATA_HD uint64_t value_params_bytes() const { return tokens * value_groups * 4; }
  STRATA_HD uint64_t layer_bytes() const {
    return key_params_bytes() + 2 * codes_bytes() + value_params_bytes();
  }
  // Offsets within one layer's section.
  STRATA_HD uint64_t key_codes_offset() const { return key_params_bytes(); }
  STRATA_HD uint64_t value_params_offset() const { return key_params_bytes() + codes_bytes(); }
  STRATA_HD uint64_t value_codes_offset() const {
    return value_params_offset() + value_params_bytes();
  }
};

STRATA_HD KiviGeometry MakeKiviGeometry(uint64_t kv_heads, uint64_t head_dim, uint64_t tokens,
                                        uint64_t group, uint32_t bits) {
  KiviGeometry g;
  g.channels = kv_heads * head_dim;
  g.tokens = tokens;
  g.group = group;
  g.bits = bits;
  g.key_groups = (tokens + group - 1) / group;
  g.value_groups = (g.channels + group - 1) / group;
  g.row_bytes = (g.channels * bits + 7) / 8;
  return g;
}

}  // namespace strata::quant

#endif  // STRATA_KERNELS_INTERNAL_KIVI_LAYOUT_H_
