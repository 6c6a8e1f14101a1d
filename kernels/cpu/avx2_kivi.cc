// AVX2 kernels of the KIVI codecs: dtype <-> float, min/max scans, fp16 parameters, packed
// 2/4-bit codes. See kernels/internal/avx2_common.h.
#include "kernels/internal/avx2_common.h"

#if defined(STRATA_HAVE_AVX2_PATH)

namespace strata::cpu::avx2 {

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

// The first of x[0, n) that compares equal to zero (+0 or -0). REQUIRES: there is one.
static float FirstZero(const float* x, size_t n) {
  size_t i = 0;
  while (i + 1 < n && x[i] != 0.0f) ++i;
  return x[i];
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
    // The element-order fold keeps the earliest of equal values. Equal floats differ in bits only
    // for +0 and -0, and the lanes above meet in lane order, not element order: when an extreme is
    // a zero, take the sign of the first zero, as the portable fold does.
    if (lo == 0.0f) lo = FirstZero(p, len);
    if (hi == 0.0f) hi = FirstZero(p, len);
    mn[g] = lo;
    mx[g] = hi;
  }
}

// vcvtps2ph with directed rounding is exactly FloatToHalfDown / FloatToHalfUp (largest half <= x,
// smallest half >= x, overflowing the same way), so this matches KiviParamsForBits bit for bit:
// kMidRise, KiviMidRiseParams with 4 buckets (2 bits); otherwise KiviGroupParams.
template <bool kMidRise>
STRATA_AVX2 bool KiviParamsT(const float* mn, const float* mx, size_t n, int bits, uint8_t* scale16,
                             uint8_t* min16, float* min_out, float* inv_out) {
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

}  // namespace strata::cpu::avx2

#endif  // STRATA_HAVE_AVX2_PATH
