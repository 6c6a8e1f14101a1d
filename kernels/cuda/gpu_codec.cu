// CUDA implementations of fp8-e4m3, int8, kivi4 and kivi2 (kernels/gpu_codec.h). The kernels
// call the same scalar functions as the CPU paths (kernels/internal/quant_math.h, compiled
// __host__ __device__) and the library builds with --fmad=false, so codes and scales match the
// CPU encoders bit for bit. cudaError_t becomes absl::Status only through kernels/cuda/cuda_status.h.
//
// Work split:
//   absmax params   kv layouts (centered keys): a block per (layer, 32 K channels), its 8
//                   warps each fold a contiguous eighth of the tokens, then one warp combines
//                   the eighths in token order (OrderedMinMax) and writes the fp16 offset and
//                   channel scale
//   absmax encode   one warp per row (layer, K|V, token, head): lanes stride the row, the
//                   absolute maxima (plain and centered) and the largest channel scale are
//                   reduced with shuffles, every lane quantizes its elements
//   absmax decode   one thread per element
//   kivi keys       a block per (layer, token group, 32 code bytes of a row): each thread owns
//                   one byte's 2 or 4 channels over an eighth of the group's tokens; the eighths
//                   combine in token order, one thread per byte writes the fp16 parameters, then
//                   every thread writes the codes of its tokens
//   kivi values     one thread per (layer, token, channel group)
//   kivi decode     one thread per code byte (layer, K|V, token, byte)
// Every kernel covers all layers in one launch (layers on a grid axis).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/codec.h"
#include "kernels/codec_format.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/gpu_codec.h"
#include "kernels/internal/codecs.h"
#include "kernels/internal/kivi_layout.h"
#include "kernels/internal/quant_math.h"

namespace strata::gpu {
namespace {

using quant::KiviGeometry;

// ---- element access (device) ----

template <int kDType>
__device__ __forceinline__ float LoadElem(const uint8_t* base, uint64_t i) {
  if constexpr (kDType == static_cast<int>(DType::kF16)) {
    return quant::HalfToFloat(reinterpret_cast<const uint16_t*>(base)[i]);
  } else if constexpr (kDType == static_cast<int>(DType::kBF16)) {
    return quant::Bf16ToFloat(reinterpret_cast<const uint16_t*>(base)[i]);
  } else {
    return reinterpret_cast<const float*>(base)[i];
  }
}

template <int kDType>
__device__ __forceinline__ void StoreElem(uint8_t* base, uint64_t i, float v) {
  if constexpr (kDType == static_cast<int>(DType::kF16)) {
    reinterpret_cast<uint16_t*>(base)[i] = quant::FloatToHalf(v);
  } else if constexpr (kDType == static_cast<int>(DType::kBF16)) {
    reinterpret_cast<uint16_t*>(base)[i] = quant::FloatToBf16(v);
  } else {
    reinterpret_cast<float*>(base)[i] = v;
  }
}

__device__ __forceinline__ uint64_t MinU64(uint64_t a, uint64_t b) { return a < b ? a : b; }

// Unaligned little-endian scalars inside the body.
__device__ __forceinline__ void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
__device__ __forceinline__ uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
__device__ __forceinline__ void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
__device__ __forceinline__ uint16_t GetU16(const uint8_t* p) {
  return static_cast<uint16_t>(uint32_t{p[0]} | (uint32_t{p[1]} << 8));
}

// ---- int8 / fp8 ----

// Where the rows of an absmax body live (kernels/cpu/absmax_codecs.cc). p0 = 0: plain rows
// only; 1 or 2: the K plane of each layer has channel parameters (offsets, and for 2 channel
// scales) at the start of the body.
struct AbsMaxGeometry {
  uint64_t rows;
  uint32_t dim;
  uint32_t heads;        // kv layouts; 1 for mla_latent
  uint64_t plane_rows;   // tokens * heads
  uint32_t p0;
  uint64_t param_bytes;  // layers * heads * dim * 2 * p0

  __device__ bool is_centered_plane(uint64_t row) const {
    return p0 != 0 && (row / plane_rows) % 2 == 0;
  }
  // The channel parameters of element i of a K row.
  __device__ void channel(const uint8_t* body, uint64_t row, uint32_t i, float* offset,
                          float* cscale) const {
    const uint64_t c = uint64_t{heads} * dim;
    const uint64_t layer = row / (2 * plane_rows);
    const uint64_t ch = (row % heads) * dim + i;
    const uint8_t* params = body + layer * p0 * c * 2;
    *offset = quant::HalfToFloat(GetU16(params + 2 * ch));
    *cscale = p0 == 2 ? quant::HalfToFloat(GetU16(params + 2 * (c + ch))) : 1.0f;
  }
};

// The min and max of a sequence exactly as the CPU folds it (lo = v < lo ? v : lo, starting from
// the first element), computed over contiguous chunks in parallel. The first chunk starts from
// the sequence's first element (a NaN there stays, as on the CPU); later chunks skip NaN until
// they hold a value (the CPU's fold ignores a NaN after a number); chunks combine in sequence
// order with the same strict comparisons, so of equal values (+0 and -0) the earliest wins,
// as it does in the sequential fold.
struct OrderedMinMax {
  float lo = 0.0f, hi = 0.0f;
  bool any = false;

  __device__ void StartWith(float v) {
    lo = hi = v;
    any = true;
  }
  __device__ void Add(float v) {
    if (!any) {
      if (v == v) StartWith(v);
      return;
    }
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  __device__ void Combine(float later_lo, float later_hi, bool later_any) {
    if (!later_any) return;
    lo = later_lo < lo ? later_lo : lo;
    hi = later_hi > hi ? later_hi : hi;
  }
};

// Threads per block of the chunked min/max kernels: 32 columns (a warp reads 32 adjacent
// elements) x 8 chunks of the token range.
constexpr int kTileColumns = 32;
constexpr int kTileChunks = 8;

// The token range [*t0, *t1) of chunk `chunk` of [begin, end).
__device__ __forceinline__ void ChunkRange(uint64_t begin, uint64_t end, uint32_t chunk,
                                           uint64_t* t0, uint64_t* t1) {
  const uint64_t per = (end - begin + kTileChunks - 1) / kTileChunks;
  *t0 = begin + chunk * per < end ? begin + chunk * per : end;
  *t1 = *t0 + per < end ? *t0 + per : end;
}

// Block per (32 K channels, layer): blockDim (kTileColumns, kTileChunks).
template <int kDType>
__global__ void CenterParamsKernel(const uint8_t* src, AbsMaxGeometry g, uint8_t* body) {
  __shared__ float s_lo[kTileChunks][kTileColumns];
  __shared__ float s_hi[kTileChunks][kTileColumns];
  __shared__ bool s_any[kTileChunks][kTileColumns];
  const uint64_t c = uint64_t{g.heads} * g.dim;
  const uint64_t ch = uint64_t{blockIdx.x} * kTileColumns + threadIdx.x;
  const uint64_t layer = blockIdx.y;
  const uint64_t tokens = g.plane_rows / g.heads;
  constexpr int kSize = kDType == static_cast<int>(DType::kF32) ? 4 : 2;
  const uint8_t* k_plane = src + layer * 2 * tokens * c * kSize;
  OrderedMinMax m;
  if (ch < c) {
    uint64_t t0, t1;
    ChunkRange(0, tokens, threadIdx.y, &t0, &t1);
    uint64_t t = t0;
    if (threadIdx.y == 0 && t0 < t1) m.StartWith(LoadElem<kDType>(k_plane, t++ * c + ch));
    for (; t < t1; ++t) m.Add(LoadElem<kDType>(k_plane, t * c + ch));
  }
  s_lo[threadIdx.y][threadIdx.x] = m.lo;
  s_hi[threadIdx.y][threadIdx.x] = m.hi;
  s_any[threadIdx.y][threadIdx.x] = m.any;
  __syncthreads();
  if (threadIdx.y != 0 || ch >= c) return;
  for (int j = 1; j < kTileChunks; ++j) {
    m.Combine(s_lo[j][threadIdx.x], s_hi[j][threadIdx.x], s_any[j][threadIdx.x]);
  }
  uint16_t o16, s16;
  quant::CenterChannelParams(m.lo, m.hi, g.p0 == 2, &o16, &s16);
  uint8_t* params = body + layer * g.p0 * c * 2;
  PutU16(params + 2 * ch, o16);
  if (g.p0 == 2) PutU16(params + 2 * (c + ch), s16);
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int off = 16; off > 0; off /= 2) {
    const float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  return v;
}

template <int kDType, bool kInt8>
__global__ void AbsMaxEncodeKernel(const uint8_t* src, AbsMaxGeometry g, uint8_t* body) {
  const uint64_t warp = (uint64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32;
  const uint32_t lane = threadIdx.x % 32;
  if (warp >= g.rows) return;  // whole warps exit together: rows are warp-uniform
  constexpr int kSize = kDType == static_cast<int>(DType::kF32) ? 4 : 2;
  const uint32_t dim = g.dim;
  const float qmax = kInt8 ? quant::kInt8Max : quant::kFp8Max;
  const uint8_t* row = src + warp * dim * kSize;
  const bool centered_plane = g.is_centered_plane(warp);
  float amax = 0.0f, cmax = 0.0f, csmax = 0.0f;
  for (uint32_t i = lane; i < dim; i += 32) {
    const float x = LoadElem<kDType>(row, i);
    const float a = fabsf(x);
    amax = a > amax ? a : amax;
    if (centered_plane) {
      float o, cs;
      g.channel(body, warp, i, &o, &cs);
      const float c = fabsf(quant::CenterElement(x, o, 1.0f / cs));
      cmax = c > cmax ? c : cmax;
      csmax = cs > csmax ? cs : csmax;
    }
  }
  amax = WarpMax(amax);
  const float plain = quant::AbsMaxScale(amax, qmax);
  bool centered = false;
  float scale = plain;
  if (centered_plane) {
    cmax = WarpMax(cmax);
    csmax = WarpMax(csmax);
    const float cscale = quant::AbsMaxScale(cmax, qmax);
    centered = quant::UseCenteredRow(cscale, csmax, plain);
    if (centered) scale = cscale;
  }
  const float inv = quant::InverseScale(scale);
  if (lane == 0) {
    const uint32_t bits = quant::FloatBits(scale);
    PutU32(body + g.param_bytes + warp * 4,
           centered_plane && !centered ? bits | quant::kPlainRowBit : bits);
  }
  uint8_t* codes = body + g.param_bytes + g.rows * 4 + warp * dim;
  for (uint32_t i = lane; i < dim; i += 32) {
    float x = LoadElem<kDType>(row, i);
    if (centered) {
      float o, cs;
      g.channel(body, warp, i, &o, &cs);
      x = quant::CenterElement(x, o, 1.0f / cs);
    }
    codes[i] =
        kInt8 ? static_cast<uint8_t>(quant::QuantizeInt8(x, inv)) : quant::QuantizeFp8(x, inv);
  }
}

template <int kDType, bool kInt8>
__global__ void AbsMaxDecodeKernel(const uint8_t* body, AbsMaxGeometry g, uint8_t* dst) {
  const uint64_t i = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= g.rows * g.dim) return;
  const uint64_t r = i / g.dim;
  const uint32_t bits = GetU32(body + g.param_bytes + r * 4);
  const uint8_t c = body[g.param_bytes + g.rows * 4 + i];
  const float q = kInt8 ? static_cast<float>(static_cast<int8_t>(c)) : quant::E4M3ToFloat(c);
  if (g.is_centered_plane(r) && (bits & quant::kPlainRowBit) == 0) {
    float o, cs;
    g.channel(body, r, static_cast<uint32_t>(i % g.dim), &o, &cs);
    StoreElem<kDType>(dst, i, quant::UncenterElement(q, quant::BitsFloat(bits), cs, o));
  } else {
    StoreElem<kDType>(dst, i, q * quant::BitsFloat(bits & ~quant::kPlainRowBit));
  }
}

// ---- kivi ----

// Keys: block per (32 byte columns, token group, layer); blockDim (kTileColumns, kTileChunks).
template <int kDType>
__global__ void KiviKeyEncodeKernel(const uint8_t* src, KiviGeometry g, uint8_t* body,
                                    int* error) {
  __shared__ float s_lo[kTileChunks][kTileColumns][4];
  __shared__ float s_hi[kTileChunks][kTileColumns][4];
  __shared__ bool s_any[kTileChunks][kTileColumns][4];
  __shared__ float s_mn[kTileColumns][4];
  __shared__ float s_inv[kTileColumns][4];
  constexpr int kSize = kDType == static_cast<int>(DType::kF32) ? 4 : 2;
  const uint64_t byte = uint64_t{blockIdx.x} * kTileColumns + threadIdx.x;
  const uint64_t kg = blockIdx.y;
  const uint64_t layer = blockIdx.z;
  const uint8_t* k_plane = src + layer * 2 * g.tokens * g.channels * kSize;
  uint8_t* section = body + layer * g.layer_bytes();
  const uint32_t per_byte = 8 / g.bits;
  const uint64_t c0 = byte * per_byte;
  const bool owns_byte = byte < g.row_bytes;
  const uint32_t nch = owns_byte ? static_cast<uint32_t>(MinU64(per_byte, g.channels - c0)) : 0;
  const uint64_t g0 = kg * g.group, g1 = MinU64(g.tokens, g0 + g.group);
  uint64_t t0, t1;
  ChunkRange(g0, g1, threadIdx.y, &t0, &t1);
  OrderedMinMax m[4];
  for (uint64_t t = t0; t < t1; ++t) {
    for (uint32_t j = 0; j < nch; ++j) {
      const float v = LoadElem<kDType>(k_plane, t * g.channels + c0 + j);
      if (threadIdx.y == 0 && t == t0) {
        m[j].StartWith(v);
      } else {
        m[j].Add(v);
      }
    }
  }
  for (uint32_t j = 0; j < 4; ++j) {
    s_lo[threadIdx.y][threadIdx.x][j] = m[j].lo;
    s_hi[threadIdx.y][threadIdx.x][j] = m[j].hi;
    s_any[threadIdx.y][threadIdx.x][j] = m[j].any;
  }
  __syncthreads();
  if (threadIdx.y == 0) {
    uint8_t* params = section + kg * g.channels * 4;
    for (uint32_t j = 0; j < nch; ++j) {
      for (int k = 1; k < kTileChunks; ++k) {
        m[j].Combine(s_lo[k][threadIdx.x][j], s_hi[k][threadIdx.x][j], s_any[k][threadIdx.x][j]);
      }
      const uint64_t ch = c0 + j;
      uint16_t m16 = 0, s16 = 0;
      if (!quant::KiviParamsForBits(m[j].lo, m[j].hi, g.bits, &m16, &s16)) atomicOr(error, 1);
      PutU16(params + 2 * ch, s16);
      PutU16(params + 2 * (g.channels + ch), m16);
      s_mn[threadIdx.x][j] = quant::HalfToFloat(m16);
      s_inv[threadIdx.x][j] = quant::InverseScale(quant::HalfToFloat(s16));
    }
  }
  __syncthreads();
  if (!owns_byte) return;
  const float levels = static_cast<float>((1u << g.bits) - 1u);
  uint8_t* codes = section + g.key_codes_offset();
  for (uint64_t t = t0; t < t1; ++t) {
    uint32_t packed = 0;
    for (uint32_t j = 0; j < nch; ++j) {
      const float x = LoadElem<kDType>(k_plane, t * g.channels + c0 + j);
      packed |= quant::QuantizeKivi(x, s_mn[threadIdx.x][j], s_inv[threadIdx.x][j], levels)
                << (g.bits * j);
    }
    codes[t * g.row_bytes + byte] = static_cast<uint8_t>(packed);
  }
}

// Values: thread per (token, channel group); layer = blockIdx.y.
template <int kDType>
__global__ void KiviValueEncodeKernel(const uint8_t* src, KiviGeometry g, uint8_t* body,
                                      int* error) {
  const uint64_t idx = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (idx >= g.tokens * g.value_groups) return;
  constexpr int kSize = kDType == static_cast<int>(DType::kF32) ? 4 : 2;
  const uint64_t layer = blockIdx.y;
  const uint8_t* v_plane = src + (layer * 2 + 1) * g.tokens * g.channels * kSize;
  uint8_t* section = body + layer * g.layer_bytes();
  const uint64_t t = idx / g.value_groups, vg = idx % g.value_groups;
  const uint64_t c0 = vg * g.group, c1 = MinU64(g.channels, c0 + g.group);
  const float levels = static_cast<float>((1u << g.bits) - 1u);
  const uint64_t row = t * g.channels;
  float lo = LoadElem<kDType>(v_plane, row + c0), hi = lo;
  for (uint64_t ch = c0 + 1; ch < c1; ++ch) {
    const float v = LoadElem<kDType>(v_plane, row + ch);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  uint16_t m16 = 0, s16 = 0;
  if (!quant::KiviParamsForBits(lo, hi, g.bits, &m16, &s16)) atomicOr(error, 1);
  uint8_t* params = section + g.value_params_offset() + t * g.value_groups * 4;
  PutU16(params + 2 * vg, s16);
  PutU16(params + 2 * (g.value_groups + vg), m16);
  const float mn = quant::HalfToFloat(m16);
  const float inv = quant::InverseScale(quant::HalfToFloat(s16));
  uint8_t* codes = section + g.value_codes_offset() + t * g.row_bytes;
  const uint32_t per_byte = 8 / g.bits;
  // Groups start at multiples of G (>= 32), so every group starts on a byte.
  for (uint64_t b0 = c0; b0 < c1; b0 += per_byte) {
    uint32_t packed = 0;
    for (uint32_t j = 0; j < per_byte && b0 + j < c1; ++j) {
      packed |= quant::QuantizeKivi(LoadElem<kDType>(v_plane, row + b0 + j), mn, inv, levels)
                << (g.bits * j);
    }
    codes[b0 / per_byte] = static_cast<uint8_t>(packed);
  }
}

// Both planes: thread per (plane, token, byte); layer = blockIdx.y.
template <int kDType>
__global__ void KiviDecodeKernel(const uint8_t* body, KiviGeometry g, uint8_t* dst) {
  const uint64_t idx = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (idx >= 2 * g.tokens * g.row_bytes) return;
  constexpr int kSize = kDType == static_cast<int>(DType::kF32) ? 4 : 2;
  const uint64_t layer = blockIdx.y;
  const uint8_t* section = body + layer * g.layer_bytes();
  uint8_t* k_plane = dst + layer * 2 * g.tokens * g.channels * kSize;
  uint8_t* v_plane = k_plane + g.tokens * g.channels * kSize;
  const uint64_t plane = idx / (g.tokens * g.row_bytes);
  const uint64_t rest = idx % (g.tokens * g.row_bytes);
  const uint64_t t = rest / g.row_bytes, byte = rest % g.row_bytes;
  const uint32_t per_byte = 8 / g.bits;
  const uint32_t mask = (1u << g.bits) - 1u;
  const uint64_t c0 = byte * per_byte;
  const uint8_t* codes = section + (plane == 0 ? g.key_codes_offset() : g.value_codes_offset());
  const uint32_t packed = codes[t * g.row_bytes + byte];
  for (uint32_t j = 0; j < per_byte && c0 + j < g.channels; ++j) {
    const uint64_t ch = c0 + j;
    float scale, mn;
    if (plane == 0) {
      const uint8_t* params = section + (t / g.group) * g.channels * 4;
      scale = quant::HalfToFloat(GetU16(params + 2 * ch));
      mn = quant::HalfToFloat(GetU16(params + 2 * (g.channels + ch)));
    } else {
      const uint8_t* params = section + g.value_params_offset() + t * g.value_groups * 4;
      const uint64_t vg = ch / g.group;
      scale = quant::HalfToFloat(GetU16(params + 2 * vg));
      mn = quant::HalfToFloat(GetU16(params + 2 * (g.value_groups + vg)));
    }
    const float x = quant::DequantizeKivi((packed >> (g.bits * j)) & mask, mn, scale);
    StoreElem<kDType>(plane == 0 ? k_plane : v_plane, t * g.channels + ch, x);
  }
}

// ---- launchers ----

constexpr int kThreads = 256;

unsigned Blocks(uint64_t threads) {
  return static_cast<unsigned>((threads + kThreads - 1) / kThreads);
}

uint64_t AbsMaxRows(const BlockLayout& l) {
  return l.kind == LayoutKind::kKv ? uint64_t{l.layers} * 2 * l.tokens * l.kv_heads
                                   : uint64_t{l.layers} * l.tokens;
}

AbsMaxGeometry MakeAbsMaxGeometry(const BlockLayout& l, uint8_t p0) {
  AbsMaxGeometry g;
  g.rows = AbsMaxRows(l);
  g.dim = l.head_dim;
  g.heads = l.kind == LayoutKind::kKv ? l.kv_heads : 1;
  g.plane_rows = uint64_t{l.tokens} * g.heads;
  g.p0 = p0;
  g.param_bytes = uint64_t{l.layers} * g.heads * l.head_dim * 2 * p0;
  return g;
}

bool IsKivi(const Codec& c) { return c.id() == CodecId::kKivi4 || c.id() == CodecId::kKivi2; }

// The header param0 the encoder writes for this block (kivi: bits; absmax: body format).
uint8_t EncodedParam0(const Codec& c, const BlockLayout& l) {
  return IsKivi(c) ? c.param0() : internal::AbsMaxParam0(c.id(), l);
}

KiviGeometry Geometry(const BlockLayout& l, uint8_t bits, uint8_t log2_group) {
  return quant::MakeKiviGeometry(l.kv_heads, l.head_dim, l.tokens, uint64_t{1} << log2_group, bits);
}

template <int kDType>
void LaunchEncodeTyped(const Codec& codec, const BlockLayout& l, const uint8_t* src, uint8_t* body,
                       int* error, cudaStream_t stream) {
  if (!IsKivi(codec)) {
    const AbsMaxGeometry g = MakeAbsMaxGeometry(l, EncodedParam0(codec, l));
    if (g.p0 != 0) {
      const uint64_t channels = uint64_t{g.heads} * g.dim;
      const dim3 grid(static_cast<unsigned>((channels + kTileColumns - 1) / kTileColumns),
                      l.layers);
      CenterParamsKernel<kDType>
          <<<grid, dim3(kTileColumns, kTileChunks), 0, stream>>>(src, g, body);
    }
    const unsigned blocks = Blocks(g.rows * 32);
    if (codec.id() == CodecId::kInt8) {
      AbsMaxEncodeKernel<kDType, true><<<blocks, kThreads, 0, stream>>>(src, g, body);
    } else {
      AbsMaxEncodeKernel<kDType, false><<<blocks, kThreads, 0, stream>>>(src, g, body);
    }
    return;
  }
  const KiviGeometry g = Geometry(l, codec.param0(), codec.param1());
  const dim3 key_grid(static_cast<unsigned>((g.row_bytes + kTileColumns - 1) / kTileColumns),
                      static_cast<unsigned>(g.key_groups), l.layers);
  KiviKeyEncodeKernel<kDType>
      <<<key_grid, dim3(kTileColumns, kTileChunks), 0, stream>>>(src, g, body, error);
  KiviValueEncodeKernel<kDType>
      <<<dim3(Blocks(g.tokens * g.value_groups), l.layers), kThreads, 0, stream>>>(src, g, body,
                                                                                     error);
}

template <int kDType>
void LaunchDecodeTyped(const Codec& codec, const BlockLayout& l, uint8_t p0, uint8_t p1,
                       const uint8_t* body, uint8_t* dst, cudaStream_t stream) {
  if (!IsKivi(codec)) {
    const AbsMaxGeometry g = MakeAbsMaxGeometry(l, p0);
    const unsigned blocks = Blocks(g.rows * g.dim);
    if (codec.id() == CodecId::kInt8) {
      AbsMaxDecodeKernel<kDType, true><<<blocks, kThreads, 0, stream>>>(body, g, dst);
    } else {
      AbsMaxDecodeKernel<kDType, false><<<blocks, kThreads, 0, stream>>>(body, g, dst);
    }
    return;
  }
  const KiviGeometry g = Geometry(l, p0, p1);
  KiviDecodeKernel<kDType>
      <<<dim3(Blocks(2 * g.tokens * g.row_bytes), l.layers), kThreads, 0, stream>>>(body, g, dst);
}

void LaunchEncode(const Codec& codec, const BlockLayout& l, const void* src, void* body, int* error,
                  cudaStream_t stream) {
  const auto* s = static_cast<const uint8_t*>(src);
  auto* b = static_cast<uint8_t*>(body);
  switch (l.dtype) {
    case DType::kF16:
      return LaunchEncodeTyped<static_cast<int>(DType::kF16)>(codec, l, s, b, error, stream);
    case DType::kBF16:
      return LaunchEncodeTyped<static_cast<int>(DType::kBF16)>(codec, l, s, b, error, stream);
    default:
      return LaunchEncodeTyped<static_cast<int>(DType::kF32)>(codec, l, s, b, error, stream);
  }
}

void LaunchDecode(const Codec& codec, const BlockLayout& l, uint8_t p0, uint8_t p1,
                  const void* body, void* dst, cudaStream_t stream) {
  const auto* b = static_cast<const uint8_t*>(body);
  auto* d = static_cast<uint8_t*>(dst);
  switch (l.dtype) {
    case DType::kF16:
      return LaunchDecodeTyped<static_cast<int>(DType::kF16)>(codec, l, p0, p1, b, d, stream);
    case DType::kBF16:
      return LaunchDecodeTyped<static_cast<int>(DType::kBF16)>(codec, l, p0, p1, b, d, stream);
    default:
      return LaunchDecodeTyped<static_cast<int>(DType::kF32)>(codec, l, p0, p1, b, d, stream);
  }
}

absl::Status CheckSupported(const Codec& codec) {
  if (!Supports(codec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("codec: ", std::string(codec.name()), " has no GPU implementation"));
  }
  return absl::OkStatus();
}

absl::Status CheckAlignment(const void* p, const BlockLayout& l, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % DTypeSize(l.dtype) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": device pointer not aligned to the element size"));
  }
  return absl::OkStatus();
}

// The decoder-side checks of Codec::Decode, on a header copied from the device.
absl::StatusOr<EncodedHeader> ValidateHeader(const Codec& codec, const BlockLayout& layout,
                                             const char* header, uint64_t encoded_bytes) {
  auto h =
      EncodedHeader::ParseHeader(std::string_view(header, EncodedHeader::kSize), encoded_bytes);
  if (!h.ok()) return h.status();
  if (h->codec_id != codec.numeric_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("encoded block: codec id ", h->codec_id, ", expected ", codec.numeric_id()));
  }
  if (!(h->layout == layout)) {
    return absl::InvalidArgumentError("layout: does not match the encoded block's layout");
  }
  uint64_t body = 0;
  if (IsKivi(codec)) {
    if (h->param0 != codec.param0() || h->param1 < 5 || h->param1 > 7) {
      return absl::DataLossError("encoded block: invalid kivi parameters");
    }
    body = uint64_t{layout.layers} * Geometry(layout, h->param0, h->param1).layer_bytes();
  } else {
    if (h->param0 > 2 || h->param1 != 0 ||
        (h->param0 != 0 && layout.kind != LayoutKind::kKv)) {
      return absl::DataLossError("encoded block: invalid parameters");
    }
    const AbsMaxGeometry g = MakeAbsMaxGeometry(layout, h->param0);
    body = g.param_bytes + g.rows * (4 + uint64_t{layout.head_dim});
  }
  if (h->body_bytes != body) {
    return absl::DataLossError(
        absl::StrCat("encoded block: body of ", h->body_bytes, " bytes, expected ", body));
  }
  return h;
}

absl::Status EncodeRangeError(const Codec& codec) {
  return absl::InvalidArgumentError(
      absl::StrCat("src: values are not finite or exceed the fp16 range ",
                   std::string(codec.name()), " stores its scales in"));
}

}  // namespace

bool Built() { return true; }

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error on purpose: 0 devices is the answer
    return 0;
  }
  return n;
}

bool Supports(const Codec& codec) { return HasKernels(codec); }

absl::StatusOr<uint64_t> EncodeBodyAsync(const Codec& codec, const BlockLayout& layout,
                                         const void* d_src, uint64_t src_bytes, void* d_body,
                                         uint64_t body_capacity, char* header, int* d_error,
                                         void* stream_ptr) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  if (absl::Status s = codec.CheckLayout(layout, src_bytes); !s.ok()) return s;
  if (absl::Status s = CheckAlignment(d_src, layout, "src"); !s.ok()) return s;
  const uint64_t max = codec.MaxEncodedSize(layout, src_bytes);
  if (body_capacity < max - EncodedHeader::kSize) {
    return absl::ResourceExhaustedError(absl::StrCat("dst: ", body_capacity, " body bytes, ",
                                                     std::string(codec.name()), " needs ",
                                                     max - EncodedHeader::kSize));
  }
  EncodedHeader h;
  h.codec_id = codec.numeric_id();
  h.param0 = EncodedParam0(codec, layout);
  h.param1 = codec.param1();
  h.layout = layout;
  h.payload_bytes = src_bytes;
  h.body_bytes = max - EncodedHeader::kSize;
  h.WriteTo(header);
  LaunchEncode(codec, layout, d_src, d_body, d_error, static_cast<cudaStream_t>(stream_ptr));
  STRATA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "encode launch");
  return max;
}

absl::StatusOr<uint64_t> EncodeOnDevice(const Codec& codec, const BlockLayout& layout,
                                        const void* d_src, uint64_t src_bytes, void* d_dst,
                                        uint64_t dst_capacity, void* stream_ptr) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  if (absl::Status s = codec.CheckLayout(layout, src_bytes); !s.ok()) return s;
  const uint64_t max = codec.MaxEncodedSize(layout, src_bytes);
  if (dst_capacity < max) {
    return absl::ResourceExhaustedError(
        absl::StrCat("dst: ", dst_capacity, " bytes, ", std::string(codec.name()), " needs ", max));
  }
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  auto flag = Allocate(sizeof(int));
  if (!flag.ok()) return flag.status();
  int* d_error = static_cast<int*>(flag->get());
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_error, 0, sizeof(int), stream), "memset");
  char header[EncodedHeader::kSize];
  auto n = EncodeBodyAsync(codec, layout, d_src, src_bytes,
                           static_cast<char*>(d_dst) + EncodedHeader::kSize,
                           dst_capacity - EncodedHeader::kSize, header, d_error, stream_ptr);
  if (!n.ok()) return n.status();
  // Pageable source: the call returns once the bytes are staged, so `header` may go away.
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(d_dst, header, sizeof(header), cudaMemcpyHostToDevice, stream),
      "header copy");
  int error = 0;
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&error, d_error, sizeof(int), cudaMemcpyDeviceToHost, stream), "flag copy");
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "encode");
  if (error != 0) return EncodeRangeError(codec);
  return max;
}

absl::Status DecodeOnDevice(const Codec& codec, const BlockLayout& layout, const void* d_encoded,
                            uint64_t encoded_bytes, void* d_dst, uint64_t dst_bytes,
                            void* stream_ptr) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  if (absl::Status s = codec.CheckLayout(layout, layout.Bytes()); !s.ok()) return s;
  if (absl::Status s = CheckAlignment(d_dst, layout, "dst"); !s.ok()) return s;
  if (encoded_bytes < EncodedHeader::kSize) {
    return absl::DataLossError(
        absl::StrCat("encoded block: ", encoded_bytes, " bytes, shorter than its header"));
  }
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  char header[EncodedHeader::kSize];
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(header, d_encoded, sizeof(header), cudaMemcpyDeviceToHost, stream),
      "header copy");
  STRATA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "header copy");
  auto h = ValidateHeader(codec, layout, header, encoded_bytes);
  if (!h.ok()) return h.status();
  if (dst_bytes != h->payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("dst: ", dst_bytes, " bytes, the block has ", h->payload_bytes));
  }
  LaunchDecode(codec, layout, h->param0, h->param1,
               static_cast<const char*>(d_encoded) + EncodedHeader::kSize, d_dst, stream);
  return CudaStatus(cudaGetLastError(), "decode launch");
}

absl::StatusOr<std::string> EncodeHost(const Codec& codec, const BlockLayout& layout,
                                       std::string_view src) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  if (absl::Status s = codec.CheckLayout(layout, src.size()); !s.ok()) return s;
  const uint64_t max = codec.MaxEncodedSize(layout, src.size());
  auto d_src = Allocate(src.size());
  if (!d_src.ok()) return d_src.status();
  auto d_dst = Allocate(max);
  if (!d_dst.ok()) return d_dst.status();
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(d_src->get(), src.data(), src.size(), cudaMemcpyHostToDevice), "copy in");
  auto n = EncodeOnDevice(codec, layout, d_src->get(), src.size(), d_dst->get(), max, nullptr);
  if (!n.ok()) return n.status();
  std::string out(*n, '\0');
  STRATA_CUDA_RETURN_IF_ERROR(cudaMemcpy(out.data(), d_dst->get(), *n, cudaMemcpyDeviceToHost),
                              "copy out");
  return out;
}

absl::StatusOr<std::string> DecodeHost(const Codec& codec, const BlockLayout& layout,
                                       std::string_view encoded) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  auto d_enc = Allocate(encoded.size());
  if (!d_enc.ok()) return d_enc.status();
  auto d_dst = Allocate(layout.Bytes());
  if (!d_dst.ok()) return d_dst.status();
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(d_enc->get(), encoded.data(), encoded.size(), cudaMemcpyHostToDevice), "copy in");
  if (absl::Status s = DecodeOnDevice(codec, layout, d_enc->get(), encoded.size(), d_dst->get(),
                                      layout.Bytes(), nullptr);
      !s.ok()) {
    return s;
  }
  std::string out(layout.Bytes(), '\0');
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(out.data(), d_dst->get(), out.size(), cudaMemcpyDeviceToHost), "copy out");
  return out;
}

absl::StatusOr<DeviceThroughput> MeasureDeviceThroughput(const Codec& codec,
                                                         const BlockLayout& layout,
                                                         std::string_view src, int runs) {
  if (absl::Status s = CheckSupported(codec); !s.ok()) return s;
  if (absl::Status s = codec.CheckLayout(layout, src.size()); !s.ok()) return s;
  const uint64_t max = codec.MaxEncodedSize(layout, src.size());
  auto d_src = Allocate(src.size());
  auto d_enc = Allocate(max);
  auto d_dec = Allocate(src.size());
  auto d_err = Allocate(sizeof(int));
  if (!d_src.ok() || !d_enc.ok() || !d_dec.ok() || !d_err.ok()) {
    return absl::ResourceExhaustedError("GPU throughput: device allocation failed");
  }
  STRATA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(d_src->get(), src.data(), src.size(), cudaMemcpyHostToDevice), "copy in");
  // One checked encode (also writes the header the timed decodes read).
  auto n = EncodeOnDevice(codec, layout, d_src->get(), src.size(), d_enc->get(), max, nullptr);
  if (!n.ok()) return n.status();
  cudaEvent_t start, stop;
  STRATA_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start), "event");
  STRATA_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop), "event");
  constexpr int kIters = 20;
  auto* body = static_cast<char*>(d_enc->get()) + EncodedHeader::kSize;
  int* err = static_cast<int*>(d_err->get());
  enum Op { kEncode, kDecode, kCopy };
  auto time_op = [&](Op op) -> double {
    std::vector<double> rates;
    for (int r = 0; r < std::max(1, runs); ++r) {
      cudaEventRecord(start);
      for (int i = 0; i < kIters; ++i) {
        if (op == kEncode) {
          LaunchEncode(codec, layout, d_src->get(), body, err, nullptr);
        } else if (op == kDecode) {
          LaunchDecode(codec, layout, EncodedParam0(codec, layout), codec.param1(), body,
                       d_dec->get(), nullptr);
        } else {
          cudaMemcpyAsync(d_dec->get(), d_src->get(), src.size(), cudaMemcpyDeviceToDevice);
        }
      }
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      rates.push_back(static_cast<double>(src.size()) * kIters / (ms * 1e-3) / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
  };
  DeviceThroughput t;
  time_op(kCopy);  // warm-up
  t.d2d_copy_gbps = time_op(kCopy);
  t.encode_gbps = time_op(kEncode);
  t.decode_gbps = time_op(kDecode);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  STRATA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "throughput");
  return t;
}

}  // namespace strata::gpu
