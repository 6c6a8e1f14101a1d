// Deterministic K/V-like test blocks for the codec tests.
#ifndef STRATA_TESTS_KERNELS_TEST_DATA_H_
#define STRATA_TESTS_KERNELS_TEST_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/block_layout.h"

namespace strata::testing {

// Gaussian values with a few fixed outlier channels (x8) in the K planes, as real keys have,
// converted to layout.dtype. For opaque layouts, `bytes` random bytes.
std::string MakeBlock(const BlockLayout& layout, uint64_t seed, size_t opaque_bytes = 0);

// A block whose channels' and groups' minima and maxima are ties of +0 and -0 (and of equal
// values), for f32, f16 and bf16: every encoder must pick the bits a sequential fold in element
// order picks (the earliest of equal values), however it splits the work into lanes or chunks.
std::string TiesBlock(const BlockLayout& layout);

// The payload's elements as floats (exact: every dtype converts to float without rounding).
std::vector<float> ToFloats(const BlockLayout& layout, const std::string& payload);

// Half a unit in the last place of `v` in `dtype` (0 for f32): the rounding a decoder adds when
// it writes its float result in the block's dtype.
float HalfUlp(DType dtype, float v);

}  // namespace strata::testing

#endif  // STRATA_TESTS_KERNELS_TEST_DATA_H_
