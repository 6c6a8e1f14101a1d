#include "tests/kernels/test_data.h"

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/internal/quant_math.h"

namespace strata::testing {

BlockLayout KvLayout(DType dtype, uint32_t layers, uint32_t kv_heads, uint32_t head_dim,
                     uint32_t tokens) {
  BlockLayout l;
  l.kind = LayoutKind::kKv;
  l.dtype = dtype;
  l.layers = layers;
  l.kv_heads = kv_heads;
  l.head_dim = head_dim;
  l.tokens = tokens;
  return l;
}

BlockLayout MlaLayout(DType dtype, uint32_t layers, uint32_t head_dim, uint32_t tokens) {
  BlockLayout l = KvLayout(dtype, layers, 1, head_dim, tokens);
  l.kind = LayoutKind::kMlaLatent;
  return l;
}

std::string MakeBlock(const BlockLayout& layout, uint64_t seed, size_t opaque_bytes) {
  std::mt19937_64 rng(seed);
  if (layout.is_opaque()) {
    std::string s(opaque_bytes, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 7);  // compressible, not trivial
    return s;
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t n = layout.Elements();
  const size_t esize = DTypeSize(layout.dtype);
  std::string out(n * esize, '\0');
  const size_t dim = layout.head_dim;
  const size_t row = (layout.kind == LayoutKind::kKv ? layout.kv_heads : 1) * dim;
  const size_t plane = row * layout.tokens;
  for (size_t i = 0; i < n; ++i) {
    float v = normal(rng);
    const size_t ch = i % dim;
    const bool k_plane = layout.kind == LayoutKind::kMlaLatent || (i / plane) % 2 == 0;
    if (k_plane && (ch == 3 || ch == dim / 2)) v = v * 8.0f + 2.0f;
    if (i % 97 == 5) v = 0.0f;
    char* p = out.data() + i * esize;
    switch (layout.dtype) {
      case DType::kF16: {
        const uint16_t h = quant::FloatToHalf(v);
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kBF16: {
        const uint16_t h = quant::FloatToBf16(v);
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kF32:
        std::memcpy(p, &v, 4);
        break;
      case DType::kFp8E4M3:
        *p = static_cast<char>(quant::FloatToE4M3(quant::ClampF(v, -448.0f, 448.0f)));
        break;
      default:
        break;
    }
  }
  (void)row;
  return out;
}

std::vector<float> ToFloats(const BlockLayout& layout, const std::string& payload) {
  const size_t esize = DTypeSize(layout.dtype);
  std::vector<float> out(payload.size() / esize);
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = payload.data() + i * esize;
    uint16_t h;
    switch (layout.dtype) {
      case DType::kF16:
        std::memcpy(&h, p, 2);
        out[i] = quant::HalfToFloat(h);
        break;
      case DType::kBF16:
        std::memcpy(&h, p, 2);
        out[i] = quant::Bf16ToFloat(h);
        break;
      case DType::kF32:
        std::memcpy(&out[i], p, 4);
        break;
      default:
        out[i] = quant::E4M3ToFloat(static_cast<uint8_t>(*p));
        break;
    }
  }
  return out;
}

float HalfUlp(DType dtype, float v) {
  const float a = std::fabs(v);
  switch (dtype) {
    case DType::kF16:
      return std::max(a * 0.00048828125f, 2.98023224e-8f);  // 2^-11 relative, 2^-25 absolute
    case DType::kBF16:
      return std::max(a * 0.00390625f, 1e-38f);  // 2^-8 relative
    default:
      return 0.0f;
  }
}

}  // namespace strata::testing
