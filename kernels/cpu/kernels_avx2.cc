// AVX2 + F16C implementation of the CPU codec kernels. Each loop handles eight elements per step
// with the same operations as the portable path (see quant_math.h) and finishes the remainder
// with the scalar functions, so both paths agree bit for bit. Compiled for every x86-64 build
// with per-function target attributes; selected at run time only when the CPU supports it.
#include "kernels/cpu/cpu_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STRATA_HAVE_AVX2_PATH 1
#include <cpuid.h>
#include <immintrin.h>

#include <cstring>

#include "kernels/internal/quant_math.h"
#endif

namespace strata::cpu {

#if defined(STRATA_HAVE_AVX2_PATH)
namespace {

using namespace strata::quant;  // NOLINT: the scalar formats are this file's vocabulary

#define STRATA_AVX2 __attribute__((target("avx2,f16c,fma")))

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

// Instantiated per dtype and format so the inner loops carry no dispatch.
template <DType dtype, bool is_int8>
STRATA_AVX2 void AbsMaxEncodeT(const void* src, size_t rows, size_t dim, float* scales,
                               uint8_t* codes) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const auto* s = static_cast<const uint8_t*>(src);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const float qmax = is_int8 ? kInt8Max : kFp8Max;
  const __m256 hi = _mm256_set1_ps(qmax);
  const __m256 lo = _mm256_set1_ps(-qmax);
  const size_t vec_end = dim & ~size_t{7};
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* row = s + r * dim * esize;
    __m256 vmax = _mm256_setzero_ps();
    for (size_t i = 0; i < vec_end; i += 8) {
      vmax = _mm256_max_ps(_mm256_and_ps(Load8(dtype, row + i * esize), abs_mask), vmax);
    }
    float amax = HorizontalMax(vmax);
    for (size_t i = vec_end; i < dim; ++i) {
      const float a = std::fabs(LoadScalar(dtype, row + i * esize));
      amax = a > amax ? a : amax;
    }
    const float scale = AbsMaxScale(amax, qmax);
    const float inv = InverseScale(scale);
    scales[r] = scale;
    const __m256 vinv = _mm256_set1_ps(inv);
    uint8_t* out = codes + r * dim;
    size_t i = 0;
    // 32 codes per step, packed with two packs and one permute instead of four narrow stores.
    for (; i + 32 <= dim; i += 32) {
      __m256i c[4];
      for (int k = 0; k < 4; ++k) {
        __m256 y = _mm256_mul_ps(Load8(dtype, row + (i + 8 * k) * esize), vinv);
        y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
        if constexpr (is_int8) {
          c[k] = _mm256_cvtps_epi32(y);
        } else {
          c[k] = Fp8Codes(y);
        }
      }
      const __m256i w01 = _mm256_packs_epi32(c[0], c[1]);
      const __m256i w23 = _mm256_packs_epi32(c[2], c[3]);
      const __m256i b = is_int8 ? _mm256_packs_epi16(w01, w23) : _mm256_packus_epi16(w01, w23);
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(out + i),
          _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    for (; i < vec_end; i += 8) {
      __m256 y = _mm256_mul_ps(Load8(dtype, row + i * esize), vinv);
      y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
      if constexpr (is_int8) {
        StoreBytes8(out + i, _mm256_cvtps_epi32(y), true);
      } else {
        StoreBytes8(out + i, Fp8Codes(y), false);
      }
    }
    for (size_t i = vec_end; i < dim; ++i) {
      const float x = LoadScalar(dtype, row + i * esize);
      out[i] = is_int8 ? static_cast<uint8_t>(QuantizeInt8(x, inv)) : QuantizeFp8(x, inv);
    }
  }
}

template <DType dtype, bool is_int8>
STRATA_AVX2 void AbsMaxDecodeT(const uint8_t* codes, const float* scales, size_t rows, size_t dim,
                               void* dst) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  auto* d = static_cast<uint8_t*>(dst);
  const size_t vec_end = dim & ~size_t{7};
  for (size_t r = 0; r < rows; ++r) {
    const float scale = scales[r];
    const __m256 vscale = _mm256_set1_ps(scale);
    const uint8_t* in = codes + r * dim;
    uint8_t* row = d + r * dim * esize;
    for (size_t i = 0; i < vec_end; i += 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i));
      const __m256 q = is_int8 ? _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))
                               : Fp8Values(_mm256_cvtepu8_epi32(b));
      Store8(dtype, row + i * esize, _mm256_mul_ps(q, vscale));
    }
    for (size_t i = vec_end; i < dim; ++i) {
      const float q = is_int8 ? static_cast<float>(static_cast<int8_t>(in[i])) : E4M3ToFloat(in[i]);
      StoreScalar(dtype, row + i * esize, q * scale);
    }
  }
}

// Eight elements times the inverse step, clamped to the code range; kCentered: of
// CenterElement(x, offset, inv_cscale).
template <DType dtype, bool kCentered>
STRATA_AVX2 inline __m256 ScaledClamped(const uint8_t* p, const float* offset,
                                        const float* inv_cscale, __m256 vinv, __m256 lo,
                                        __m256 hi) {
  __m256 x = Load8(dtype, p);
  if constexpr (kCentered) {
    x = _mm256_mul_ps(_mm256_sub_ps(x, _mm256_loadu_ps(offset)), _mm256_loadu_ps(inv_cscale));
  }
  return _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, vinv), lo), hi);
}

// One row's codes with inverse step `inv`: of x itself, or (kCentered) of
// CenterElement(x, offset[i], inv_cscale[i]). Same packing as AbsMaxEncodeT.
template <DType dtype, bool is_int8, bool kCentered>
STRATA_AVX2 inline void QuantizeRowT(const uint8_t* row, size_t dim, const float* offset,
                                     const float* inv_cscale, float inv, uint8_t* out) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const float qmax = is_int8 ? kInt8Max : kFp8Max;
  const __m256 hi = _mm256_set1_ps(qmax);
  const __m256 lo = _mm256_set1_ps(-qmax);
  const __m256 vinv = _mm256_set1_ps(inv);
  const size_t vec_end = dim & ~size_t{7};
  // Plain rows pass null parameters: no arithmetic on them.
#define STRATA_SCALED(i)                                                                   \
  ScaledClamped<dtype, kCentered>(row + (i) * esize, kCentered ? offset + (i) : nullptr,   \
                                  kCentered ? inv_cscale + (i) : nullptr, vinv, lo, hi)
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m256i c[4];
    for (int k = 0; k < 4; ++k) {
      const __m256 y = STRATA_SCALED(i + 8 * k);
      if constexpr (is_int8) {
        c[k] = _mm256_cvtps_epi32(y);
      } else {
        c[k] = Fp8Codes(y);
      }
    }
    const __m256i w01 = _mm256_packs_epi32(c[0], c[1]);
    const __m256i w23 = _mm256_packs_epi32(c[2], c[3]);
    const __m256i b = is_int8 ? _mm256_packs_epi16(w01, w23) : _mm256_packus_epi16(w01, w23);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
  for (; i < vec_end; i += 8) {
    const __m256 y = STRATA_SCALED(i);
    if constexpr (is_int8) {
      StoreBytes8(out + i, _mm256_cvtps_epi32(y), true);
    } else {
      StoreBytes8(out + i, Fp8Codes(y), false);
    }
  }
  for (i = vec_end; i < dim; ++i) {
    float x = LoadScalar(dtype, row + i * esize);
    if constexpr (kCentered) x = CenterElement(x, offset[i], inv_cscale[i]);
    out[i] = is_int8 ? static_cast<uint8_t>(QuantizeInt8(x, inv)) : QuantizeFp8(x, inv);
  }
}

#undef STRATA_SCALED

template <DType dtype, bool is_int8>
STRATA_AVX2 void AbsMaxEncodeCenteredT(const void* src, size_t rows, size_t dim, size_t period,
                                       const float* offset, const float* inv_cscale,
                                       const float* max_cscale, float* scales, uint8_t* codes) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const auto* s = static_cast<const uint8_t*>(src);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const float qmax = is_int8 ? kInt8Max : kFp8Max;
  const size_t vec_end = dim & ~size_t{7};
  // Rows up to kRowBuffer elements keep their centered values for the quantizing pass, which
  // then reads them as f32 (the same values, so the same codes) instead of recomputing them.
  constexpr size_t kRowBuffer = 512;
  alignas(32) float centered_row[kRowBuffer];
  const bool buffered = dim <= kRowBuffer;
  for (size_t r = 0, p = 0; r < rows; ++r, p = p + 1 == period ? 0 : p + 1) {
    const uint8_t* row = s + r * dim * esize;
    const float* o = offset + p * dim;
    const float* ic = inv_cscale + p * dim;
    __m256 vplain = _mm256_setzero_ps(), vcentered = _mm256_setzero_ps();
    for (size_t i = 0; i < vec_end; i += 8) {
      const __m256 x = Load8(dtype, row + i * esize);
      vplain = _mm256_max_ps(_mm256_and_ps(x, abs_mask), vplain);
      const __m256 y =
          _mm256_mul_ps(_mm256_sub_ps(x, _mm256_loadu_ps(o + i)), _mm256_loadu_ps(ic + i));
      vcentered = _mm256_max_ps(_mm256_and_ps(y, abs_mask), vcentered);
      if (buffered) _mm256_store_ps(centered_row + i, y);
    }
    float plain_max = HorizontalMax(vplain), centered_max = HorizontalMax(vcentered);
    for (size_t i = vec_end; i < dim; ++i) {
      const float x = LoadScalar(dtype, row + i * esize);
      const float a = std::fabs(x);
      plain_max = a > plain_max ? a : plain_max;
      const float y = CenterElement(x, o[i], ic[i]);
      const float c = std::fabs(y);
      centered_max = c > centered_max ? c : centered_max;
      if (buffered) centered_row[i] = y;
    }
    const float plain = AbsMaxScale(plain_max, qmax);
    const float centered = AbsMaxScale(centered_max, qmax);
    uint8_t* out = codes + r * dim;
    if (UseCenteredRow(centered, max_cscale[p], plain)) {
      scales[r] = centered;
      if (buffered) {
        QuantizeRowT<DType::kF32, is_int8, false>(reinterpret_cast<const uint8_t*>(centered_row),
                                                  dim, nullptr, nullptr, InverseScale(centered),
                                                  out);
      } else {
        QuantizeRowT<dtype, is_int8, true>(row, dim, o, ic, InverseScale(centered), out);
      }
    } else {
      scales[r] = BitsFloat(FloatBits(plain) | kPlainRowBit);
      QuantizeRowT<dtype, is_int8, false>(row, dim, nullptr, nullptr, InverseScale(plain), out);
    }
  }
}

template <DType dtype, bool is_int8>
STRATA_AVX2 void AbsMaxDecodeCenteredT(const uint8_t* codes, const float* scales, size_t rows,
                                       size_t dim, size_t period, const float* offset,
                                       const float* cscale, void* dst) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  auto* d = static_cast<uint8_t*>(dst);
  const size_t vec_end = dim & ~size_t{7};
  for (size_t r = 0, p = 0; r < rows; ++r, p = p + 1 == period ? 0 : p + 1) {
    const uint32_t bits = FloatBits(scales[r]);
    const bool plain = (bits & kPlainRowBit) != 0;
    const float scale = BitsFloat(bits & ~kPlainRowBit);
    const __m256 vscale = _mm256_set1_ps(scale);
    const float* o = offset + p * dim;
    const float* cs = cscale + p * dim;
    const uint8_t* in = codes + r * dim;
    uint8_t* row = d + r * dim * esize;
    for (size_t i = 0; i < vec_end; i += 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i));
      const __m256 q = is_int8 ? _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))
                               : Fp8Values(_mm256_cvtepu8_epi32(b));
      __m256 x = _mm256_mul_ps(q, vscale);
      if (!plain) {
        x = _mm256_add_ps(_mm256_mul_ps(x, _mm256_loadu_ps(cs + i)), _mm256_loadu_ps(o + i));
      }
      Store8(dtype, row + i * esize, x);
    }
    for (size_t i = vec_end; i < dim; ++i) {
      const float q = is_int8 ? static_cast<float>(static_cast<int8_t>(in[i])) : E4M3ToFloat(in[i]);
      StoreScalar(dtype, row + i * esize, plain ? q * scale : UncenterElement(q, scale, cs[i], o[i]));
    }
  }
}

template <DType dtype>
STRATA_AVX2 void PlaneMinMaxT(const void* src, size_t rows, size_t n, float* mn, float* mx) {
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const auto* s = static_cast<const uint8_t*>(src);
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) {
    const __m256 v = Load8(dtype, s + i * esize);
    _mm256_storeu_ps(mn + i, v);
    _mm256_storeu_ps(mx + i, v);
  }
  for (size_t i = vec_end; i < n; ++i) mn[i] = mx[i] = LoadScalar(dtype, s + i * esize);
  size_t r = 1;
  // Four rows per pass over mn / mx, in row order (the same result as one at a time).
  for (; r + 4 <= rows; r += 4) {
    const uint8_t* row = s + r * n * esize;
    for (size_t i = 0; i < vec_end; i += 8) {
      __m256 lo = _mm256_loadu_ps(mn + i), hi = _mm256_loadu_ps(mx + i);
      for (size_t k = 0; k < 4; ++k) {
        const __m256 v = Load8(dtype, row + (k * n + i) * esize);
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
      }
      _mm256_storeu_ps(mn + i, lo);
      _mm256_storeu_ps(mx + i, hi);
    }
    for (size_t k = 0; k < 4; ++k) {
      for (size_t i = vec_end; i < n; ++i) {
        const float v = LoadScalar(dtype, row + (k * n + i) * esize);
        mn[i] = v < mn[i] ? v : mn[i];
        mx[i] = v > mx[i] ? v : mx[i];
      }
    }
  }
  for (; r < rows; ++r) {
    const uint8_t* row = s + r * n * esize;
    for (size_t i = 0; i < vec_end; i += 8) {
      const __m256 v = Load8(dtype, row + i * esize);
      _mm256_storeu_ps(mn + i, _mm256_min_ps(v, _mm256_loadu_ps(mn + i)));
      _mm256_storeu_ps(mx + i, _mm256_max_ps(v, _mm256_loadu_ps(mx + i)));
    }
    for (size_t i = vec_end; i < n; ++i) {
      const float v = LoadScalar(dtype, row + i * esize);
      mn[i] = v < mn[i] ? v : mn[i];
      mx[i] = v > mx[i] ? v : mx[i];
    }
  }
}

STRATA_AVX2 void AbsMaxEncodeCenteredAvx2(AbsMaxFormat format, DType dtype, const void* src,
                                          size_t rows, size_t dim, size_t period,
                                          const float* offset, const float* inv_cscale,
                                          const float* max_cscale, float* scales,
                                          uint8_t* codes) {
  const bool i8 = format == AbsMaxFormat::kInt8;
#define STRATA_ENCODE_CENTERED(D, I8)                                                        \
  return AbsMaxEncodeCenteredT<D, I8>(src, rows, dim, period, offset, inv_cscale, max_cscale, \
                                      scales, codes)
  switch (dtype) {
    case DType::kF16:
      if (i8) STRATA_ENCODE_CENTERED(DType::kF16, true);
      STRATA_ENCODE_CENTERED(DType::kF16, false);
    case DType::kBF16:
      if (i8) STRATA_ENCODE_CENTERED(DType::kBF16, true);
      STRATA_ENCODE_CENTERED(DType::kBF16, false);
    default:
      if (i8) STRATA_ENCODE_CENTERED(DType::kF32, true);
      STRATA_ENCODE_CENTERED(DType::kF32, false);
  }
#undef STRATA_ENCODE_CENTERED
}

STRATA_AVX2 void AbsMaxDecodeCenteredAvx2(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                                          const float* scales, size_t rows, size_t dim,
                                          size_t period, const float* offset, const float* cscale,
                                          void* dst) {
  const bool i8 = format == AbsMaxFormat::kInt8;
#define STRATA_DECODE_CENTERED(D, I8) \
  return AbsMaxDecodeCenteredT<D, I8>(codes, scales, rows, dim, period, offset, cscale, dst)
  switch (dtype) {
    case DType::kF16:
      if (i8) STRATA_DECODE_CENTERED(DType::kF16, true);
      STRATA_DECODE_CENTERED(DType::kF16, false);
    case DType::kBF16:
      if (i8) STRATA_DECODE_CENTERED(DType::kBF16, true);
      STRATA_DECODE_CENTERED(DType::kBF16, false);
    default:
      if (i8) STRATA_DECODE_CENTERED(DType::kF32, true);
      STRATA_DECODE_CENTERED(DType::kF32, false);
  }
#undef STRATA_DECODE_CENTERED
}

STRATA_AVX2 void PlaneMinMaxAvx2(DType dtype, const void* src, size_t rows, size_t n, float* mn,
                                 float* mx) {
  switch (dtype) {
    case DType::kF16:
      return PlaneMinMaxT<DType::kF16>(src, rows, n, mn, mx);
    case DType::kBF16:
      return PlaneMinMaxT<DType::kBF16>(src, rows, n, mn, mx);
    default:
      return PlaneMinMaxT<DType::kF32>(src, rows, n, mn, mx);
  }
}

STRATA_AVX2 void AbsMaxEncodeAvx2(AbsMaxFormat format, DType dtype, const void* src, size_t rows,
                                  size_t dim, float* scales, uint8_t* codes) {
  const bool i8 = format == AbsMaxFormat::kInt8;
  switch (dtype) {
    case DType::kF16:
      return i8 ? AbsMaxEncodeT<DType::kF16, true>(src, rows, dim, scales, codes)
                : AbsMaxEncodeT<DType::kF16, false>(src, rows, dim, scales, codes);
    case DType::kBF16:
      return i8 ? AbsMaxEncodeT<DType::kBF16, true>(src, rows, dim, scales, codes)
                : AbsMaxEncodeT<DType::kBF16, false>(src, rows, dim, scales, codes);
    default:
      return i8 ? AbsMaxEncodeT<DType::kF32, true>(src, rows, dim, scales, codes)
                : AbsMaxEncodeT<DType::kF32, false>(src, rows, dim, scales, codes);
  }
}

STRATA_AVX2 void AbsMaxDecodeAvx2(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                                  const float* scales, size_t rows, size_t dim, void* dst) {
  const bool i8 = format == AbsMaxFormat::kInt8;
  switch (dtype) {
    case DType::kF16:
      return i8 ? AbsMaxDecodeT<DType::kF16, true>(codes, scales, rows, dim, dst)
                : AbsMaxDecodeT<DType::kF16, false>(codes, scales, rows, dim, dst);
    case DType::kBF16:
      return i8 ? AbsMaxDecodeT<DType::kBF16, true>(codes, scales, rows, dim, dst)
                : AbsMaxDecodeT<DType::kBF16, false>(codes, scales, rows, dim, dst);
    default:
      return i8 ? AbsMaxDecodeT<DType::kF32, true>(codes, scales, rows, dim, dst)
                : AbsMaxDecodeT<DType::kF32, false>(codes, scales, rows, dim, dst);
  }
}

template <DType dtype>
STRATA_AVX2 void LoadF32T(const void* src, size_t n, float* dst) {
  const auto* s = static_cast<const uint8_t*>(src);
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) _mm256_storeu_ps(dst + i, Load8(dtype, s + i * esize));
  for (size_t i = vec_end; i < n; ++i) dst[i] = LoadScalar(dtype, s + i * esize);
}

template <DType dtype>
STRATA_AVX2 void StoreF32T(const float* src, size_t n, void* dst) {
  auto* d = static_cast<uint8_t*>(dst);
  constexpr size_t esize = dtype == DType::kF32 ? 4 : 2;
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) Store8(dtype, d + i * esize, _mm256_loadu_ps(src + i));
  for (size_t i = vec_end; i < n; ++i) StoreScalar(dtype, d + i * esize, src[i]);
}

STRATA_AVX2 void LoadF32Avx2(DType dtype, const void* src, size_t n, float* dst) {
  switch (dtype) {
    case DType::kF16:
      return LoadF32T<DType::kF16>(src, n, dst);
    case DType::kBF16:
      return LoadF32T<DType::kBF16>(src, n, dst);
    default:
      return LoadF32T<DType::kF32>(src, n, dst);
  }
}

STRATA_AVX2 void StoreF32Avx2(DType dtype, const float* src, size_t n, void* dst) {
  switch (dtype) {
    case DType::kF16:
      return StoreF32T<DType::kF16>(src, n, dst);
    case DType::kBF16:
      return StoreF32T<DType::kBF16>(src, n, dst);
    default:
      return StoreF32T<DType::kF32>(src, n, dst);
  }
}

STRATA_AVX2 void ColumnMinMaxAvx2(const float* x, size_t rows, size_t n, float* mn, float* mx) {
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) {
    __m256 lo = _mm256_loadu_ps(x + i);
    __m256 hi = lo;
    for (size_t r = 1; r < rows; ++r) {
      const __m256 v = _mm256_loadu_ps(x + r * n + i);
      lo = _mm256_min_ps(v, lo);
      hi = _mm256_max_ps(v, hi);
    }
    _mm256_storeu_ps(mn + i, lo);
    _mm256_storeu_ps(mx + i, hi);
  }
  for (size_t i = vec_end; i < n; ++i) {
    float lo = x[i], hi = x[i];
    for (size_t r = 1; r < rows; ++r) {
      const float v = x[r * n + i];
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    mn[i] = lo;
    mx[i] = hi;
  }
}

STRATA_AVX2 void GroupMinMaxAvx2(const float* x, size_t n, size_t group, float* mn, float* mx) {
  for (size_t c0 = 0, g = 0; c0 < n; c0 += group, ++g) {
    const size_t len = c0 + group < n ? group : n - c0;
    const float* p = x + c0;
    float lo = p[0], hi = p[0];
    const size_t vec_end = len & ~size_t{7};
    if (vec_end > 0) {
      __m256 vlo = _mm256_loadu_ps(p), vhi = vlo;
      for (size_t i = 8; i < vec_end; i += 8) {
        const __m256 v = _mm256_loadu_ps(p + i);
        vlo = _mm256_min_ps(v, vlo);
        vhi = _mm256_max_ps(v, vhi);
      }
      alignas(32) float l[8], h[8];
      _mm256_store_ps(l, vlo);
      _mm256_store_ps(h, vhi);
      for (int k = 0; k < 8; ++k) {
        lo = l[k] < lo ? l[k] : lo;
        hi = h[k] > hi ? h[k] : hi;
      }
    }
    for (size_t i = vec_end; i < len; ++i) {
      lo = p[i] < lo ? p[i] : lo;
      hi = p[i] > hi ? p[i] : hi;
    }
    mn[g] = lo;
    mx[g] = hi;
  }
}

// vcvtps2ph with directed rounding is exactly FloatToHalfDown / FloatToHalfUp (largest half <= x,
// smallest half >= x, overflowing the same way), so this matches KiviParamsForBits bit for bit:
// kMidRise, KiviMidRiseParams with 4 buckets (2 bits); otherwise KiviGroupParams.
template <bool kMidRise>
STRATA_AVX2 bool KiviParamsT(const float* mn, const float* mx, size_t n, int bits,
                             uint8_t* scale16, uint8_t* min16, float* min_out, float* inv_out) {
  const float levels = static_cast<float>((1 << bits) - 1);
  const __m256 vlevels = _mm256_set1_ps(levels);
  const __m256 vbuckets = _mm256_set1_ps(static_cast<float>(1 << bits));
  const __m256 vbuckets_less_half = _mm256_set1_ps(static_cast<float>(1 << bits) - 0.5f);
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 two = _mm256_set1_ps(2.0f);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m128i exp_mask = _mm_set1_epi16(0x7c00);
  __m128i bad = _mm_setzero_si128();
  __m256 ordered = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) {
    const __m256 lo = _mm256_loadu_ps(mn + i);
    const __m256 hi = _mm256_loadu_ps(mx + i);
    ordered = _mm256_and_ps(ordered, _mm256_cmp_ps(lo, hi, _CMP_LE_OQ));
    if constexpr (kMidRise) {
      ordered = _mm256_and_ps(ordered, _mm256_cmp_ps(lo, _mm256_set1_ps(-kHalfMax), _CMP_GE_OQ));
      ordered = _mm256_and_ps(ordered, _mm256_cmp_ps(hi, _mm256_set1_ps(kHalfMax), _CMP_LE_OQ));
    }
    __m128i m16;
    __m256 step;
    if constexpr (kMidRise) {
      const __m256 ideal = _mm256_div_ps(_mm256_sub_ps(hi, lo), vbuckets);
      m16 = _mm256_cvtps_ph(_mm256_add_ps(lo, _mm256_mul_ps(half, ideal)),
                            _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      const __m256 mf = _mm256_cvtph_ps(m16);
      const __m256 above = _mm256_div_ps(_mm256_sub_ps(hi, mf), vbuckets_less_half);
      const __m256 below = _mm256_mul_ps(two, _mm256_sub_ps(lo, mf));
      step = _mm256_max_ps(above, below);  // above > below ? above : below
    } else {
      m16 = _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      step = _mm256_div_ps(_mm256_sub_ps(hi, _mm256_cvtph_ps(m16)), vlevels);
    }
    const __m256 mf = _mm256_cvtph_ps(m16);
    const __m128i s16 = _mm256_cvtps_ph(step, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    const __m256 sf = _mm256_cvtph_ps(s16);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(m16, exp_mask), exp_mask));
    bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(s16, exp_mask), exp_mask));
    const __m256 inv =
        _mm256_blendv_ps(zero, _mm256_div_ps(one, sf), _mm256_cmp_ps(sf, zero, _CMP_GT_OQ));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(scale16 + 2 * i), s16);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(min16 + 2 * i), m16);
    _mm256_storeu_ps(min_out + i, mf);
    _mm256_storeu_ps(inv_out + i, inv);
  }
  bool ok = _mm_testz_si128(bad, bad) && _mm256_movemask_ps(ordered) == 0xff;
  for (size_t i = vec_end; i < n; ++i) {
    uint16_t m = 0, s = 0;
    ok &= KiviParamsForBits(mn[i], mx[i], static_cast<uint32_t>(bits), &m, &s);
    std::memcpy(scale16 + 2 * i, &s, 2);
    std::memcpy(min16 + 2 * i, &m, 2);
    min_out[i] = HalfToFloat(m);
    inv_out[i] = InverseScale(HalfToFloat(s));
  }
  return ok;
}

STRATA_AVX2 bool KiviParamsAvx2(const float* mn, const float* mx, size_t n, int bits,
                                uint8_t* scale16, uint8_t* min16, float* min_out, float* inv_out) {
  if (bits == 2) return KiviParamsT<true>(mn, mx, n, bits, scale16, min16, min_out, inv_out);
  return KiviParamsT<false>(mn, mx, n, bits, scale16, min16, min_out, inv_out);
}

// kGrouped: mn / inv (scale) hold one value per `group` elements (group % 8 == 0), else one per
// element.
template <bool kGrouped>
STRATA_AVX2 void KiviQuantizeT(const float* x, const float* mn, const float* inv, size_t n,
                               size_t group, int bits, uint8_t* out) {
  const float levels = static_cast<float>((1 << bits) - 1);
  const __m256 vlevels = _mm256_set1_ps(levels);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i even_dwords = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const size_t vec_end = n & ~size_t{7};
  for (size_t i = 0; i < vec_end; i += 8) {
    __m256 vmn, vinv;
    if constexpr (kGrouped) {
      vmn = _mm256_set1_ps(mn[i / group]);
      vinv = _mm256_set1_ps(inv[i / group]);
    } else {
      vmn = _mm256_loadu_ps(mn + i);
      vinv = _mm256_loadu_ps(inv + i);
    }
    __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmn), vinv);
    t = _mm256_min_ps(_mm256_max_ps(t, zero), vlevels);
    const __m256i q = _mm256_cvtps_epi32(t);
    // Pairs of codes -> one value per 64-bit lane: c0 | c1 << bits.
    const __m256i pairs = _mm256_or_si256(q, _mm256_srli_epi64(q, 32 - bits));
    const __m128i p = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pairs, even_dwords));
    if (bits == 4) {
      const __m128i b = _mm_packus_epi16(_mm_packus_epi32(p, p), _mm_setzero_si128());
      const uint32_t word = static_cast<uint32_t>(_mm_cvtsi128_si32(b));
      std::memcpy(out + i / 2, &word, 4);
    } else {
      // p holds four 4-bit pairs; combine pairs again: p0 | p1 << 4.
      const __m128i quads = _mm_or_si128(p, _mm_srli_epi64(p, 28));
      out[i / 4] = static_cast<uint8_t>(_mm_cvtsi128_si32(quads));
      out[i / 4 + 1] = static_cast<uint8_t>(_mm_extract_epi32(quads, 2));
    }
  }
  if (vec_end < n) {
    const size_t per_byte = static_cast<size_t>(8 / bits);
    const size_t first = vec_end / per_byte;
    const size_t last = (n + per_byte - 1) / per_byte;
    std::memset(out + first, 0, last - first);
    for (size_t i = vec_end; i < n; ++i) {
      const size_t k = kGrouped ? i / group : i;
      const uint32_t q = QuantizeKivi(x[i], mn[k], inv[k], levels);
      out[i / per_byte] |= static_cast<uint8_t>(q << (bits * (i % per_byte)));
    }
  }
}

template <bool kGrouped>
STRATA_AVX2 void KiviDequantizeT(const uint8_t* codes, const float* mn, const float* scale,
                                 size_t n, size_t group, int bits, float* out) {
  const size_t vec_end = n & ~size_t{7};
  const __m256i shifts = bits == 4 ? _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)
                                   : _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
  for (size_t i = 0; i < vec_end; i += 8) {
    __m256 vmn, vscale;
    if constexpr (kGrouped) {
      vmn = _mm256_set1_ps(mn[i / group]);
      vscale = _mm256_set1_ps(scale[i / group]);
    } else {
      vmn = _mm256_loadu_ps(mn + i);
      vscale = _mm256_loadu_ps(scale + i);
    }
    uint32_t word;
    if (bits == 4) {
      std::memcpy(&word, codes + i / 2, 4);
    } else {
      uint16_t half;
      std::memcpy(&half, codes + i / 4, 2);
      word = half;
    }
    const __m256i q = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(word)), shifts), mask);
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), vscale), vmn));
  }
  const size_t per_byte = static_cast<size_t>(8 / bits);
  const uint32_t m = (1u << bits) - 1u;
  for (size_t i = vec_end; i < n; ++i) {
    const size_t k = kGrouped ? i / group : i;
    const uint32_t q = (codes[i / per_byte] >> (bits * (i % per_byte))) & m;
    out[i] = DequantizeKivi(q, mn[k], scale[k]);
  }
}

STRATA_AVX2 void KiviQuantizeAvx2(const float* x, const float* mn, const float* inv, size_t n,
                                  size_t group, int bits, uint8_t* out) {
  if (group == 1) return KiviQuantizeT<false>(x, mn, inv, n, 1, bits, out);
  return KiviQuantizeT<true>(x, mn, inv, n, group, bits, out);
}

STRATA_AVX2 void KiviDequantizeAvx2(const uint8_t* codes, const float* mn, const float* scale,
                                    size_t n, size_t group, int bits, float* out) {
  if (group == 1) return KiviDequantizeT<false>(codes, mn, scale, n, 1, bits, out);
  return KiviDequantizeT<true>(codes, mn, scale, n, group, bits, out);
}

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

constexpr Kernels kAvx2 = {
    "avx2",           AbsMaxEncodeAvx2,   AbsMaxDecodeAvx2, AbsMaxEncodeCenteredAvx2,
    AbsMaxDecodeCenteredAvx2, PlaneMinMaxAvx2, LoadF32Avx2, StoreF32Avx2,
    ColumnMinMaxAvx2, GroupMinMaxAvx2,    KiviParamsAvx2,   KiviQuantizeAvx2,
    KiviDequantizeAvx2, ShuffleAvx2,      UnshuffleAvx2,
};

// CPUID, not __builtin_cpu_supports: clang 14 does not know "f16c" there. AVX2 (leaf 7 EBX
// bit 5), FMA and F16C (leaf 1 ECX bits 12 and 29), and the OS saving YMM state (OSXSAVE, XCR0).
bool CpuSupportsAvx2() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), f16c = ecx & (1u << 29), osxsave = ecx & (1u << 27);
  if (!fma || !f16c || !osxsave) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6u) != 0x6u) return false;  // SSE and AVX state enabled
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx & (1u << 5);
}

}  // namespace

const Kernels* Avx2Kernels() {
  static const bool supported = CpuSupportsAvx2();
  return supported ? &kAvx2 : nullptr;
}

#else

const Kernels* Avx2Kernels() { return nullptr; }

#endif

}  // namespace strata::cpu

namespace strata {
bool CpuHasAvx2Path() { return cpu::Avx2Kernels() != nullptr; }
}  // namespace strata
