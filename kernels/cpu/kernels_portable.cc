// Portable implementation of the CPU codec kernels: plain loops over quant_math.h.
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/quant_math.h"

namespace strata::cpu {
namespace {

using namespace strata::quant;  // NOLINT: the scalar formats are this file's vocabulary

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline void StoreU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

inline float LoadElement(DType dtype, const uint8_t* base, size_t i) {
  switch (dtype) {
    case DType::kF16:
      return HalfToFloat(LoadU16(base + 2 * i));
    case DType::kBF16:
      return Bf16ToFloat(LoadU16(base + 2 * i));
    default: {
      float f;
      std::memcpy(&f, base + 4 * i, 4);
      return f;
    }
  }
}

inline void StoreElement(DType dtype, uint8_t* base, size_t i, float v) {
  switch (dtype) {
    case DType::kF16:
      StoreU16(base + 2 * i, FloatToHalf(v));
      break;
    case DType::kBF16:
      StoreU16(base + 2 * i, FloatToBf16(v));
      break;
    default:
      std::memcpy(base + 4 * i, &v, 4);
      break;
  }
}

void LoadF32(DType dtype, const void* src, size_t n, float* dst) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = LoadElement(dtype, s, i);
}

void StoreF32(DType dtype, const float* src, size_t n, void* dst) {
  auto* d = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; ++i) StoreElement(dtype, d, i, src[i]);
}

void AbsMaxEncode(AbsMaxFormat format, DType dtype, const void* src, size_t rows, size_t dim,
                  float* scales, uint8_t* codes) {
  const size_t esize = DTypeSize(dtype);
  const auto* s = static_cast<const uint8_t*>(src);
  float buf[256];
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* row = s + r * dim * esize;
    float amax = 0.0f;
    for (size_t i = 0; i < dim; ++i) {
      const float a = std::fabs(LoadElement(dtype, row, i));
      amax = a > amax ? a : amax;
    }
    const float scale = AbsMaxScale(amax, format == AbsMaxFormat::kInt8 ? kInt8Max : kFp8Max);
    const float inv = InverseScale(scale);
    scales[r] = scale;
    uint8_t* out = codes + r * dim;
    for (size_t i0 = 0; i0 < dim; i0 += 256) {
      const size_t n = dim - i0 < 256 ? dim - i0 : 256;
      LoadF32(dtype, row + i0 * esize, n, buf);
      if (format == AbsMaxFormat::kInt8) {
        for (size_t i = 0; i < n; ++i)
          out[i0 + i] = static_cast<uint8_t>(QuantizeInt8(buf[i], inv));
      } else {
        for (size_t i = 0; i < n; ++i) out[i0 + i] = QuantizeFp8(buf[i], inv);
      }
    }
  }
}

void AbsMaxDecode(AbsMaxFormat format, DType dtype, const uint8_t* codes, const float* scales,
                  size_t rows, size_t dim, void* dst) {
  const size_t esize = DTypeSize(dtype);
  auto* d = static_cast<uint8_t*>(dst);
  for (size_t r = 0; r < rows; ++r) {
    const float scale = scales[r];
    const uint8_t* in = codes + r * dim;
    uint8_t* row = d + r * dim * esize;
    for (size_t i = 0; i < dim; ++i) {
      const float q = format == AbsMaxFormat::kInt8 ? static_cast<float>(static_cast<int8_t>(in[i]))
                                                    : E4M3ToFloat(in[i]);
      StoreElement(dtype, row, i, q * scale);
    }
  }
}

template <bool kInt8>
void QuantizeRow(DType dtype, const uint8_t* row, size_t dim, const float* offset,
                 const float* inv_cscale, float inv, uint8_t* out) {
  for (size_t i = 0; i < dim; ++i) {
    float x = LoadElement(dtype, row, i);
    if (offset != nullptr) x = CenterElement(x, offset[i], inv_cscale[i]);
    out[i] = kInt8 ? static_cast<uint8_t>(QuantizeInt8(x, inv)) : QuantizeFp8(x, inv);
  }
}

void AbsMaxEncodeCentered(AbsMaxFormat format, DType dtype, const void* src, size_t rows,
                          size_t dim, size_t period, const float* offset, const float* inv_cscale,
                          const float* max_cscale, float* scales, uint8_t* codes) {
  const size_t esize = DTypeSize(dtype);
  const auto* s = static_cast<const uint8_t*>(src);
  const bool int8 = format == AbsMaxFormat::kInt8;
  const float qmax = int8 ? kInt8Max : kFp8Max;
  for (size_t r = 0, p = 0; r < rows; ++r, p = p + 1 == period ? 0 : p + 1) {
    const uint8_t* row = s + r * dim * esize;
    const float* o = offset + p * dim;
    const float* ic = inv_cscale + p * dim;
    float plain_max = 0.0f, centered_max = 0.0f;
    for (size_t i = 0; i < dim; ++i) {
      const float x = LoadElement(dtype, row, i);
      const float a = std::fabs(x);
      plain_max = a > plain_max ? a : plain_max;
      const float c = std::fabs(CenterElement(x, o[i], ic[i]));
      centered_max = c > centered_max ? c : centered_max;
    }
    const float plain = AbsMaxScale(plain_max, qmax);
    const float centered = AbsMaxScale(centered_max, qmax);
    const bool use_centered = UseCenteredRow(centered, max_cscale[p], plain);
    const float scale = use_centered ? centered : plain;
    scales[r] = use_centered ? centered : BitsFloat(FloatBits(plain) | kPlainRowBit);
    const float inv = InverseScale(scale);
    const float* ro = use_centered ? o : nullptr;
    if (int8) {
      QuantizeRow<true>(dtype, row, dim, ro, ic, inv, codes + r * dim);
    } else {
      QuantizeRow<false>(dtype, row, dim, ro, ic, inv, codes + r * dim);
    }
  }
}

void AbsMaxDecodeCentered(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                          const float* scales, size_t rows, size_t dim, size_t period,
                          const float* offset, const float* cscale, void* dst) {
  const size_t esize = DTypeSize(dtype);
  auto* d = static_cast<uint8_t*>(dst);
  for (size_t r = 0, p = 0; r < rows; ++r, p = p + 1 == period ? 0 : p + 1) {
    const uint32_t bits = FloatBits(scales[r]);
    const bool plain = (bits & kPlainRowBit) != 0;
    const float scale = BitsFloat(bits & ~kPlainRowBit);
    const uint8_t* in = codes + r * dim;
    uint8_t* row = d + r * dim * esize;
    for (size_t i = 0; i < dim; ++i) {
      const float q = format == AbsMaxFormat::kInt8 ? static_cast<float>(static_cast<int8_t>(in[i]))
                                                    : E4M3ToFloat(in[i]);
      StoreElement(dtype, row, i,
                   plain ? q * scale
                         : UncenterElement(q, scale, cscale[p * dim + i], offset[p * dim + i]));
    }
  }
}

void PlaneMinMax(DType dtype, const void* src, size_t rows, size_t n, float* mn, float* mx) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < n; ++i) mn[i] = mx[i] = LoadElement(dtype, s, i);
  for (size_t r = 1; r < rows; ++r) {
    for (size_t i = 0; i < n; ++i) {
      const float v = LoadElement(dtype, s, r * n + i);
      mn[i] = v < mn[i] ? v : mn[i];
      mx[i] = v > mx[i] ? v : mx[i];
    }
  }
}

void ColumnMinMax(const float* x, size_t rows, size_t n, float* mn, float* mx) {
  for (size_t i = 0; i < n; ++i) mn[i] = mx[i] = x[i];
  for (size_t r = 1; r < rows; ++r) {
    const float* row = x + r * n;
    for (size_t i = 0; i < n; ++i) {
      mn[i] = row[i] < mn[i] ? row[i] : mn[i];
      mx[i] = row[i] > mx[i] ? row[i] : mx[i];
    }
  }
}

void GroupMinMax(const float* x, size_t n, size_t group, float* mn, float* mx) {
  for (size_t c0 = 0, g = 0; c0 < n; c0 += group, ++g) {
    const size_t c1 = c0 + group < n ? c0 + group : n;
    float lo = x[c0], hi = x[c0];
    for (size_t i = c0 + 1; i < c1; ++i) {
      lo = x[i] < lo ? x[i] : lo;
      hi = x[i] > hi ? x[i] : hi;
    }
    mn[g] = lo;
    mx[g] = hi;
  }
}

bool KiviParams(const float* mn, const float* mx, size_t n, int bits, uint8_t* scale16,
                uint8_t* min16, float* min_out, float* inv_out) {
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    uint16_t m = 0, s = 0;
    ok &= KiviParamsForBits(mn[i], mx[i], static_cast<uint32_t>(bits), &m, &s);
    StoreU16(scale16 + 2 * i, s);
    StoreU16(min16 + 2 * i, m);
    min_out[i] = HalfToFloat(m);
    inv_out[i] = InverseScale(HalfToFloat(s));
  }
  return ok;
}

void KiviQuantize(const float* x, const float* mn, const float* inv, size_t n, size_t group,
                  int bits, uint8_t* out) {
  const float levels = static_cast<float>((1 << bits) - 1);
  const size_t per_byte = static_cast<size_t>(8 / bits);
  const size_t nbytes = (n + per_byte - 1) / per_byte;
  std::memset(out, 0, nbytes);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t q = QuantizeKivi(x[i], mn[i / group], inv[i / group], levels);
    out[i / per_byte] |= static_cast<uint8_t>(q << (bits * (i % per_byte)));
  }
}

void KiviDequantize(const uint8_t* codes, const float* mn, const float* scale, size_t n,
                    size_t group, int bits, float* out) {
  const size_t per_byte = static_cast<size_t>(8 / bits);
  const uint32_t mask = (1u << bits) - 1u;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t q = (codes[i / per_byte] >> (bits * (i % per_byte))) & mask;
    out[i] = DequantizeKivi(q, mn[i / group], scale[i / group]);
  }
}

void Shuffle(const uint8_t* src, size_t n, size_t esize, uint8_t* dst) {
  for (size_t b = 0; b < esize; ++b) {
    uint8_t* plane = dst + b * n;
    for (size_t i = 0; i < n; ++i) plane[i] = src[i * esize + b];
  }
}

void Unshuffle(const uint8_t* src, size_t n, size_t esize, uint8_t* dst) {
  for (size_t b = 0; b < esize; ++b) {
    const uint8_t* plane = src + b * n;
    for (size_t i = 0; i < n; ++i) dst[i * esize + b] = plane[i];
  }
}

constexpr Kernels kPortable = {
    "portable",   AbsMaxEncode,   AbsMaxDecode,   AbsMaxEncodeCentered, AbsMaxDecodeCentered,
    PlaneMinMax,  LoadF32,        StoreF32,       ColumnMinMax,         GroupMinMax,
    KiviParams,   KiviQuantize,   KiviDequantize, Shuffle,              Unshuffle,
};

}  // namespace

const Kernels& PortableKernels() { return kPortable; }

const Kernels& SelectKernels(CpuPath path) {
  if (path != CpuPath::kPortable) {
    if (const Kernels* k = Avx2Kernels()) return *k;
  }
  return kPortable;
}

}  // namespace strata::cpu
