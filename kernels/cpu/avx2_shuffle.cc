// AVX2 byte shuffle and unshuffle of the lossless codecs (shuffle-lz4, shuffle-zstd). See
// kernels/internal/avx2_common.h.
#include "kernels/internal/avx2_common.h"

#if defined(STRATA_HAVE_AVX2_PATH)

namespace strata::cpu::avx2 {

STRATA_AVX2 void ShuffleAvx2(const uint8_t* src, size_t n, size_t esize, uint8_t* dst) {
  size_t i = 0;
  if (esize == 2) {
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0,
                                           2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (; i + 16 <= n; i += 16) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i));
      const __m256i s = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0xd8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(s));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + n + i), _mm256_extracti128_si256(s, 1));
    }
  }
  for (size_t b = 0; b < esize; ++b) {
    for (size_t k = i; k < n; ++k) dst[b * n + k] = src[k * esize + b];
  }
}

STRATA_AVX2 void UnshuffleAvx2(const uint8_t* src, size_t n, size_t esize, uint8_t* dst) {
  size_t i = 0;
  if (esize == 2) {
    for (; i + 16 <= n; i += 16) {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + n + i));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm_unpacklo_epi8(lo, hi));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i + 16), _mm_unpackhi_epi8(lo, hi));
    }
  }
  for (size_t b = 0; b < esize; ++b) {
    for (size_t k = i; k < n; ++k) dst[k * esize + b] = src[b * n + k];
  }
}

}  // namespace strata::cpu::avx2

#endif  // STRATA_HAVE_AVX2_PATH
