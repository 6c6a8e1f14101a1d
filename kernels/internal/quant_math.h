// Scalar number formats and quantizer arithmetic shared by every implementation of the block
// codecs: the portable CPU path, the AVX2 path (which mirrors these operations lane by lane) and
// the CUDA kernels (compiled as __host__ __device__). Keeping one definition is what makes the
// three paths produce identical codes.
//
// Rounding: every float -> narrower conversion is round-to-nearest-even. Clamps are written as
// `x > lo ? x : lo` and `x < hi ? x : hi` so that a NaN becomes `lo`, exactly as x86 MAXPS/MINPS
// with the value in the first operand. Pure functions; thread-safe.
#ifndef STRATA_KERNELS_INTERNAL_QUANT_MATH_H_
#define STRATA_KERNELS_INTERNAL_QUANT_MATH_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define STRATA_HD __host__ __device__ __forceinline__
#else
#define STRATA_HD inline
#endif

namespace strata::quant {

// Largest finite OCP E4M3FN value; encoders saturate to it.
inline constexpr float kFp8Max = 448.0f;
inline constexpr float kInt8Max = 127.0f;
// Rows whose absolute maximum is below this encode as all zeros (their reciprocal scale would
// overflow float). Far below anything f16/bf16 can hold as a normal number.
inline constexpr float kMinAbsMax = 1e-30f;

STRATA_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

STRATA_HD float BitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// Round half to even, as cvtps2dq and rintf do in the default rounding mode. On the host,
// adding and subtracting 2^23 rounds |x| < 2^23 to an integer without a libm call (baseline
// x86-64 has no roundss); larger floats are integers already. Callers clamp first: x is never NaN.
// (-0.4 gives +0 rather than -0; every caller converts the result to an integer.)
STRATA_HD float RoundEven(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  constexpr float kTwo23 = 8388608.0f;
  if (!(std::fabs(x) < kTwo23)) return x;
  const float magic = x < 0 ? -kTwo23 : kTwo23;
  return (x + magic) - magic;
#endif
}

STRATA_HD float ClampF(float x, float lo, float hi) {
  x = x > lo ? x : lo;
  return x < hi ? x : hi;
}

// ---- IEEE binary16 ----

STRATA_HD float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) {  // infinity, or NaN made quiet as vcvtph2ps does
    return BitsFloat(sign | 0x7f800000u | (man << 13) | (man != 0 ? 0x400000u : 0u));
  }
  if (exp != 0) return BitsFloat(sign | ((exp + 112u) << 23) | (man << 13));
  // Zero or subnormal: man * 2^-24, exact in float.
  const float v = static_cast<float>(man) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

// Round to nearest even; overflow gives infinity; NaN stays NaN (quietened, like vcvtps2ph).
STRATA_HD uint16_t FloatToHalf(float f) {
  uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {
    if (x == 0x7f800000u) return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
  }
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
  if (x >= 0x38800000u) {                       // normal half (>= 2^-14)
    x += 0xfffu + ((x >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((x >> 13) - (112u << 10)));
  }
  if (x < 0x33000000u) return sign;  // < 2^-25 (2^-25 itself ties to even: zero)
  // Subnormal half: q = round(value / 2^-24) = round(m * 2^(e - 126)).
  const uint32_t e = x >> 23;
  const uint32_t m = (x & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

// Smallest half >= f (f finite), or the largest half <= f. Used so that a stored fp16 scale never
// shrinks the quantizer's range and a stored fp16 minimum never rises above the data.
STRATA_HD uint16_t FloatToHalfUp(float f) {
  uint16_t h = FloatToHalf(f);
  if (HalfToFloat(h) < f) {
    if (h & 0x8000u) {
      h = (h == 0x8000u) ? static_cast<uint16_t>(0x0001u) : static_cast<uint16_t>(h - 1u);
    } else {
      h = static_cast<uint16_t>(h + 1u);
    }
  }
  return h;
}

STRATA_HD uint16_t FloatToHalfDown(float f) {
  uint16_t h = FloatToHalf(f);
  if (HalfToFloat(h) > f) {
    if (h & 0x8000u) {
      h = static_cast<uint16_t>(h + 1u);
    } else {
      h = (h == 0u) ? static_cast<uint16_t>(0x8001u) : static_cast<uint16_t>(h - 1u);
    }
  }
  return h;
}

STRATA_HD bool HalfIsFinite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

// ---- bfloat16 ----

STRATA_HD float Bf16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

STRATA_HD uint16_t FloatToBf16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// ---- OCP FP8 E4M3FN (bias 7, no infinities, S.1111.111 is NaN, max 448) ----

// REQUIRES: |y| <= kFp8Max (callers clamp first with ClampF, which also maps NaN to -448).
STRATA_HD uint8_t FloatToE4M3(float y) {
  const uint32_t b = FloatBits(y);
  const uint8_t sign = static_cast<uint8_t>((b >> 24) & 0x80u);
  uint32_t a = b & 0x7fffffffu;
  if (a < 0x3c800000u) {  // |y| < 2^-6: subnormal steps of 2^-9 (code 8 is 2^-6, the first normal)
    const float t = RoundEven(BitsFloat(a) * 512.0f);
    return static_cast<uint8_t>(sign | static_cast<uint32_t>(t));
  }
  a += 0x7ffffu + ((a >> 20) & 1u);
  return static_cast<uint8_t>(sign | ((a >> 20) - (120u << 3)));
}

STRATA_HD float E4M3ToFloat(uint8_t c) {
  const uint32_t exp = (c >> 3) & 0xfu;
  const uint32_t man = c & 7u;
  float v;
  if ((c & 0x7fu) == 0x7fu) {
    v = BitsFloat(0x7fc00000u);
  } else if (exp == 0) {
    v = static_cast<float>(man) * 0.001953125f;  // 2^-9
  } else {
    v = BitsFloat(((exp + 120u) << 23) | (man << 20));
  }
  return (c & 0x80u) ? -v : v;
}

// ---- absmax quantizers (int8, fp8): one scale per row ----

// Scale for a row whose largest magnitude is `absmax`, for a format whose largest code is `qmax`.
STRATA_HD float AbsMaxScale(float absmax, float qmax) {
  return absmax >= kMinAbsMax ? absmax / qmax : 0.0f;
}
STRATA_HD float InverseScale(float scale) { return scale > 0.0f ? 1.0f / scale : 0.0f; }

STRATA_HD int8_t QuantizeInt8(float x, float inv) {
  return static_cast<int8_t>(static_cast<int>(RoundEven(ClampF(x * inv, -kInt8Max, kInt8Max))));
}
STRATA_HD uint8_t QuantizeFp8(float x, float inv) {
  return FloatToE4M3(ClampF(x * inv, -kFp8Max, kFp8Max));
}

// ---- centered key rows (int8 and fp8 with channel parameters) ----
//
// Keys have fixed outlier channels: a channel can sit at +18 for every token while the others
// vary around 0, so a per-row absmax scale spends its range on the channel's mean. The K plane
// of each layer therefore carries, per channel (kv head x dim) over the block's tokens, an fp16
// offset (the midrange) and, for int8, an fp16 channel scale (the half-range about the offset);
// a row is quantized as y = (x - offset) / channel_scale with its own absmax scale, and decoded
// as x' = q * scale * channel_scale + offset. A row whose centered step would exceed its plain
// absmax step in any channel is stored plain instead (UseCenteredRow), so no element's error
// bound is ever larger than the plain codec's.

inline constexpr uint16_t kHalfOne = 0x3c00u;

// fp16 offset and channel scale of a K channel whose values over the block's tokens lie in
// [mn, mx]. The offset is the midrange rounded to nearest (0 when that is not finite; -0 becomes
// 0). The channel scale is the larger distance from the offset to mn or mx, rounded to nearest,
// when `with_scale` and that is a positive normal fp16; 1 otherwise. Any offset and scale give a
// correct round trip; these only make it tight.
STRATA_HD void CenterChannelParams(float mn, float mx, bool with_scale, uint16_t* offset16,
                                   uint16_t* scale16) {
  uint16_t o = FloatToHalf(0.5f * mn + 0.5f * mx);
  if (!HalfIsFinite(o) || o == 0x8000u) o = 0;
  *offset16 = o;
  uint16_t s = kHalfOne;
  if (with_scale) {
    const float of = HalfToFloat(o);
    const float above = mx - of, below = of - mn;
    const uint16_t h = FloatToHalf(above > below ? above : below);
    const uint32_t exp = (h >> 10) & 0x1fu;
    if ((h & 0x8000u) == 0 && exp != 0 && exp != 0x1fu) s = h;
  }
  *scale16 = s;
}

STRATA_HD float CenterElement(float x, float offset, float inv_cscale) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(__fsub_rn(x, offset), inv_cscale);
#else
  return (x - offset) * inv_cscale;
#endif
}

STRATA_HD float UncenterElement(float q, float scale, float cscale, float offset) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(__fmul_rn(q, scale), cscale), offset);  // never contracted to FMA
#else
  return q * scale * cscale + offset;
#endif
}

// A K row is stored centered when its centered step, scaled by the largest channel scale among
// its elements, is no larger than its plain step (false for NaN).
STRATA_HD bool UseCenteredRow(float centered_scale, float max_cscale, float plain_scale) {
  return centered_scale * max_cscale <= plain_scale;
}

// Row scales are stored as f32 with the sign bit marking a row stored plain (x' = q * |scale|).
inline constexpr uint32_t kPlainRowBit = 0x80000000u;

// ---- KIVI-style asymmetric min/max quantizer ----

// Parameters of one group with data range [mn, mx] and 2^bits - 1 levels: the minimum rounded
// down to fp16 and the step rounded up to fp16, so q = round((x - min) / step) stays in range.
// Returns false when either does not fit a finite fp16 (non-finite or |x| > 65504 data).
STRATA_HD bool KiviGroupParams(float mn, float mx, float levels, uint16_t* min16,
                               uint16_t* scale16) {
  if (!(mn <= mx)) return false;  // also rejects NaN
  *min16 = FloatToHalfDown(mn);
  if (!HalfIsFinite(*min16)) return false;
  const float step = (mx - HalfToFloat(*min16)) / levels;
  *scale16 = FloatToHalfUp(step);
  return HalfIsFinite(*scale16);
}

inline constexpr float kHalfMax = 65504.0f;

// Mid-rise parameters of a group with range [mn, mx] and `buckets` = 2^bits codes: the range is
// cut into `buckets` equal buckets and the codes reconstruct their centres, so the step is
// range / 2^bits instead of range / (2^bits - 1). The stored minimum is the first centre rounded
// down to fp16; the step, rounded up, is widened to cover what that rounding moved, so codes
// stay in range and |x - x'| <= step / 2 as with KiviGroupParams. Decoding is unchanged
// (x' = q * step + min). False when the data is not finite, exceeds the fp16 range, or the
// parameters do not fit fp16.
STRATA_HD bool KiviMidRiseParams(float mn, float mx, float buckets, uint16_t* min16,
                                 uint16_t* scale16) {
  // Data beyond fp16 (or NaN) is refused outright, whatever the rounded parameters would be.
  if (!(mn <= mx && mn >= -kHalfMax && mx <= kHalfMax)) return false;
  const float ideal = (mx - mn) / buckets;
  *min16 = FloatToHalfDown(mn + 0.5f * ideal);
  if (!HalfIsFinite(*min16)) return false;
  const float m = HalfToFloat(*min16);
  const float above = (mx - m) / (buckets - 0.5f);  // the top code's centre within step/2 of mx
  const float below = 2.0f * (mn - m);               // mn within step/2 of the minimum
  *scale16 = FloatToHalfUp(above > below ? above : below);
  return HalfIsFinite(*scale16);
}

// The rule each KIVI width uses. 4 bits: mid-tread (KiviGroupParams: codes at both ends of the
// range, which real K/V groups, peaked with a few extremes, reward: measured lower error);
// 2 bits: mid-rise (a quarter instead of a third of the range per step: measured a third less
// K and V error on real and synthetic data). docs/codecs.md has the numbers.
STRATA_HD bool KiviParamsForBits(float mn, float mx, uint32_t bits, uint16_t* min16,
                                 uint16_t* scale16) {
  return bits == 2 ? KiviMidRiseParams(mn, mx, 4.0f, min16, scale16)
                   : KiviGroupParams(mn, mx, static_cast<float>((1u << bits) - 1u), min16,
                                     scale16);
}

STRATA_HD uint32_t QuantizeKivi(float x, float mn, float inv, float levels) {
  return static_cast<uint32_t>(RoundEven(ClampF((x - mn) * inv, 0.0f, levels)));
}

STRATA_HD float DequantizeKivi(uint32_t q, float mn, float scale) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(static_cast<float>(q), scale), mn);  // never contracted to FMA
#else
  return static_cast<float>(q) * scale + mn;
#endif
}

}  // namespace strata::quant

#endif  // STRATA_KERNELS_INTERNAL_QUANT_MATH_H_
