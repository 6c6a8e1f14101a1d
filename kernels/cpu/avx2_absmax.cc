// AVX2 kernels of the absmax codecs (int8, fp8 E4M3; plain and centered key rows). See
// kernels/internal/avx2_common.h.
#include "kernels/internal/avx2_common.h"

#if defined(STRATA_HAVE_AVX2_PATH)

namespace strata::cpu::avx2 {

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
#define STRATA_SCALED(i)                                                               \
  ScaledClamped<dtype, kCentered>(row + (i)*esize, kCentered ? offset + (i) : nullptr, \
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
      StoreScalar(dtype, row + i * esize,
                  plain ? q * scale : UncenterElement(q, scale, cs[i], o[i]));
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
                                          const float* max_cscale, float* scales, uint8_t* codes) {
  const bool i8 = format == AbsMaxFormat::kInt8;
#define STRATA_ENCODE_CENTERED(D, I8)                                                         \
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

}  // namespace strata::cpu::avx2

#endif  // STRATA_HAVE_AVX2_PATH
