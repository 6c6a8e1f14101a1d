#include "tests/kernels/test_data.h"

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/internal/quant_math.h"

namespace strata::testing {

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

std::string TiesBlock(const BlockLayout& layout) {
  // -0, +0, 0.5, -1, 1 in each dtype; each channel draws from a set whose extreme is a zero tie.
  constexpr uint16_t kHalf[] = {0x8000, 0x0000, 0x3800, 0xBC00, 0x3C00};
  constexpr uint16_t kBf16[] = {0x8000, 0x0000, 0x3F00, 0xBF80, 0x3F80};
  constexpr float kFloat[] = {-0.0f, 0.0f, 0.5f, -1.0f, 1.0f};
  constexpr int kSets[3][3] = {{0, 1, 2}, {3, 0, 1}, {1, 0, 4}};
  const uint64_t channels = uint64_t{layout.kv_heads} * layout.head_dim;
  const uint64_t elements = layout.Bytes() / DTypeSize(layout.dtype);
  std::string out(layout.Bytes(), '\0');
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (uint64_t i = 0; i < elements; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const int v = kSets[(i % channels) % 3][(state >> 33) % 3];
    switch (layout.dtype) {
      case DType::kF32:
        std::memcpy(&out[i * 4], &kFloat[v], 4);
        break;
      case DType::kBF16:
        std::memcpy(&out[i * 2], &kBf16[v], 2);
        break;
      default:
        std::memcpy(&out[i * 2], &kHalf[v], 2);
        break;
    }
  }
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
