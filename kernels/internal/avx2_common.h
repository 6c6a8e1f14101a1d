// Shared pieces of the AVX2 + F16C codec kernels (kernels/cpu/avx2_*.cc): the target attribute,
// eight-element loads and stores per dtype, fp8 code conversion, and the entry points each file
// defines for the dispatch table in kernels_avx2.cc. Every loop handles eight elements per step
// with the same operations as the portable path (quant_math.h) and finishes the remainder with
// the scalar functions, so both paths agree bit for bit. Only for x86-64 GCC/Clang builds
// (STRATA_HAVE_AVX2_PATH); the code runs only when the CPU supports it (Avx2Kernels()).
#ifndef STRATA_KERNELS_INTERNAL_AVX2_COMMON_H_
#define STRATA_KERNELS_INTERNAL_AVX2_COMMON_H_

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STRATA_HAVE_AVX2_PATH 1
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/quant_math.h"

#define STRATA_AVX2 __attribute__((target("avx2,f16c,fma")))

namespace strata::cpu::avx2 {

using namespace strata::quant;  // NOLINT: the scalar formats are these files' vocabulary

STRATA_AVX2 inline __m256 Load8(DType dtype, const uint8_t* p) {
  switch (dtype) {
    case DType::kF16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    case DType::kBF16:
      return _mm256_castsi256_ps(_mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
    default:
      return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
}

STRATA_AVX2 inline void Store8(DType dtype, uint8_t* p, __m256 v) {
  switch (dtype) {
    case DType::kF16:
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                       _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      break;
    case DType::kBF16: {
      const __m256i x = _mm256_castps_si256(v);
      const __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
      const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
      const __m256i rounded = _mm256_srli_epi32(
          _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
      const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
      const __m256i r = _mm256_blendv_epi8(rounded, nan, is_nan);
      const __m128i packed =
          _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
      break;
    }
    default:
      _mm256_storeu_ps(reinterpret_cast<float*>(p), v);
      break;
  }
}

STRATA_AVX2 inline float LoadScalar(DType dtype, const uint8_t* p) {
  uint16_t h;
  switch (dtype) {
    case DType::kF16:
      std::memcpy(&h, p, 2);
      return HalfToFloat(h);
    case DType::kBF16:
      std::memcpy(&h, p, 2);
      return Bf16ToFloat(h);
    default: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
  }
}

STRATA_AVX2 inline void StoreScalar(DType dtype, uint8_t* p, float v) {
  uint16_t h;
  switch (dtype) {
    case DType::kF16:
      h = FloatToHalf(v);
      std::memcpy(p, &h, 2);
      break;
    case DType::kBF16:
      h = FloatToBf16(v);
      std::memcpy(p, &h, 2);
      break;
    default:
      std::memcpy(p, &v, 4);
      break;
  }
}

// Eight i32 values in [-128, 255] (int8 codes as signed, fp8 codes as unsigned) -> 8 bytes.
STRATA_AVX2 inline void StoreBytes8(uint8_t* out, __m256i v, bool is_signed) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i b = is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), b);
}

STRATA_AVX2 inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

STRATA_AVX2 inline __m256i Fp8Codes(__m256 y) {
  const __m256i b = _mm256_castps_si256(y);
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(b, 24), _mm256_set1_epi32(0x80));
  const __m256i a = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
  const __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3c800000), a);
  const __m256i sub =
      _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(512.0f)));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 20), _mm256_set1_epi32(1));
  // (a + 0x7ffff + lsb) >> 20, less the exponent bias difference (120 << 3) folded in before the
  // shift: exact for normal lanes (a >= 121 << 23); subnormal lanes take `sub` below.
  const __m256i rounded =
      _mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(0x7ffff - (120 << 23))), lsb);
  const __m256i normal = _mm256_srli_epi32(rounded, 20);
  return _mm256_or_si256(sign, _mm256_blendv_epi8(normal, sub, is_sub));
}

STRATA_AVX2 inline __m256 Fp8Values(__m256i c) {
  const __m256i exp = _mm256_and_si256(_mm256_srli_epi32(c, 3), _mm256_set1_epi32(15));
  const __m256i man = _mm256_and_si256(c, _mm256_set1_epi32(7));
  const __m256i normal =
      _mm256_or_si256(_mm256_slli_epi32(_mm256_add_epi32(exp, _mm256_set1_epi32(120)), 23),
                      _mm256_slli_epi32(man, 20));
  const __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(man), _mm256_set1_ps(0.001953125f));
  const __m256i is_sub = _mm256_cmpeq_epi32(exp, _mm256_setzero_si256());
  __m256 v = _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, _mm256_castsi256_ps(is_sub));
  const __m256i is_nan =
      _mm256_cmpeq_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x7f)), _mm256_set1_epi32(0x7f));
  v = _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)),
                       _mm256_castsi256_ps(is_nan));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x80)), 24);
  return _mm256_xor_ps(v, _mm256_castsi256_ps(sign));
}

// Entry points (the Kernels table's signatures, cpu_kernels.h), one file per codec family.
// avx2_absmax.cc
STRATA_AVX2 void AbsMaxEncodeAvx2(AbsMaxFormat format, DType dtype, const void* src, size_t rows,
                                  size_t dim, float* scales, uint8_t* codes);
STRATA_AVX2 void AbsMaxDecodeAvx2(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                                  const float* scales, size_t rows, size_t dim, void* dst);
STRATA_AVX2 void AbsMaxEncodeCenteredAvx2(AbsMaxFormat format, DType dtype, const void* src,
                                          size_t rows, size_t dim, size_t period,
                                          const float* offset, const float* inv_cscale,
                                          const float* max_cscale, float* scales, uint8_t* codes);
STRATA_AVX2 void AbsMaxDecodeCenteredAvx2(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                                          const float* scales, size_t rows, size_t dim,
                                          size_t period, const float* offset, const float* cscale,
                                          void* dst);
STRATA_AVX2 void PlaneMinMaxAvx2(DType dtype, const void* src, size_t rows, size_t n, float* mn,
                                 float* mx);
// avx2_kivi.cc
STRATA_AVX2 void LoadF32Avx2(DType dtype, const void* src, size_t n, float* dst);
STRATA_AVX2 void StoreF32Avx2(DType dtype, const float* src, size_t n, void* dst);
STRATA_AVX2 void ColumnMinMaxAvx2(const float* x, size_t rows, size_t n, float* mn, float* mx);
STRATA_AVX2 void GroupMinMaxAvx2(const float* x, size_t n, size_t group, float* mn, float* mx);
STRATA_AVX2 bool KiviParamsAvx2(const float* mn, const float* mx, size_t n, int bits,
                                uint8_t* scale16, uint8_t* min16, float* min_out, float* inv_out);
STRATA_AVX2 void KiviQuantizeAvx2(const float* x, const float* mn, const float* inv, size_t n,
                                  size_t group, int bits, uint8_t* out);
STRATA_AVX2 void KiviDequantizeAvx2(const uint8_t* codes, const float* mn, const float* scale,
                                    size_t n, size_t group, int bits, float* out);
// avx2_shuffle.cc
STRATA_AVX2 void ShuffleAvx2(const uint8_t* src, size_t n, size_t esize, uint8_t* dst);
STRATA_AVX2 void UnshuffleAvx2(const uint8_t* src, size_t n, size_t esize, uint8_t* dst);

}  // namespace strata::cpu::avx2

#endif  // x86-64 GCC/Clang

#endif  // STRATA_KERNELS_INTERNAL_AVX2_COMMON_H_
