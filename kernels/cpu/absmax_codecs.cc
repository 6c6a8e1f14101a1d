// int8 and fp8-e4m3: symmetric absmax quantizers with one f32 scale per row of head_dim elements.
// A kv layout has a row per (layer, K|V, token, head), an mla_latent layout one per (layer,
// token), which is exactly the element order, so the whole payload is `rows` rows of head_dim.
//
// Keys have fixed outlier channels (a channel sitting near +18 for every token), and a row scale
// spends its range on them; in kv layouts the K plane of each layer is therefore quantized
// centered per channel (quant_math.h, "centered key rows"). param0 in the header names the body:
//   0  plain: rows f32 scales (little-endian), then rows * head_dim one-byte codes. Written for
//      mla_latent layouts (and for every layout by encoders before centered keys); always read.
//   1  centered keys with offsets: per layer u16 offset[C] (fp16, C = kv_heads * head_dim, for
//      that layer's K plane), then the scales and codes as in 0, where a K row's scale has the
//      sign bit set when that row is stored plain. fp8-e4m3 writes it for kv layouts.
//   2  as 1 with channel scales: per layer u16 offset[C] then u16 cscale[C]. int8 writes it for
//      kv layouts.
// fp8 takes no channel scales: E4M3's error is relative to each element, so equalizing the
// channels' ranges does not shrink it (measured: docs/codecs.md).
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "kernels/codec_format.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/codecs.h"
#include "kernels/internal/quant_math.h"

namespace strata::internal {
namespace {

// Rows per kernel call: bounds the scale scratch buffer.
constexpr size_t kChunkRows = 1024;

uint64_t Rows(const BlockLayout& layout) {
  return layout.kind == LayoutKind::kKv
             ? uint64_t{layout.layers} * 2 * layout.tokens * layout.kv_heads
             : uint64_t{layout.layers} * layout.tokens;
}

// Runs fn(r0, n) over [0, rows) in chunks of at most max(kChunkRows, period) rows, each a
// multiple of `period` except perhaps the last.
template <typename Fn>
void ForChunks(uint64_t rows, size_t period, Fn fn) {
  const uint64_t chunk = std::max<uint64_t>(1, kChunkRows / period) * period;
  for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
    fn(r0, static_cast<size_t>(std::min(chunk, rows - r0)));
  }
}

class AbsMaxCodec final : public Codec {
 public:
  AbsMaxCodec(CodecId id, CpuPath path)
      : Codec(id, id == CodecId::kInt8 ? "int8" : "fp8-e4m3", /*lossless=*/false, path),
        format_(id == CodecId::kInt8 ? cpu::AbsMaxFormat::kInt8 : cpu::AbsMaxFormat::kFp8),
        kernels_(cpu::SelectKernels(path)) {}

  uint64_t MaxEncodedSize(const BlockLayout& layout, uint64_t payload_bytes) const override {
    return EncodedHeader::kSize + BodySize(layout, AbsMaxParam0(id(), layout));
  }

  // What a kv layout records; mla_latent layouts record 0 (AbsMaxParam0).
  uint8_t param0() const override { return AbsMaxParam0(id(), KvLayoutTag()); }

 protected:
  absl::Status CheckLayoutImpl(const BlockLayout& layout) const override {
    if (layout.kind != LayoutKind::kKv && layout.kind != LayoutKind::kMlaLatent) {
      return absl::InvalidArgumentError(absl::StrCat("layout.kind: ", AsAbsl(name()),
                                                     " needs a kv or mla_latent layout, not ",
                                                     AsAbsl(LayoutKindName(layout.kind))));
    }
    return CheckFloatDType(layout, name());
  }

  absl::Status CheckParams(uint8_t p0, uint8_t p1) const override {
    if (p0 > 2 || p1 != 0) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()),
                                              " parameters ", p0, ",", p1,
                                              " name no known body format"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckBody(const BlockLayout& layout, uint8_t p0, uint8_t, uint64_t,
                         std::string_view body) const override {
    if (p0 != 0 && layout.kind != LayoutKind::kKv) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()),
                                              " channel parameters on a non-kv layout"));
    }
    if (body.size() != BodySize(layout, p0)) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()), " body of ",
                                              body.size(), " bytes, expected ",
                                              BodySize(layout, p0)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> EncodeBody(const BlockLayout& layout, std::string_view src,
                                    std::span<char> dst, uint8_t* param0_out) const override {
    const uint8_t p0 = AbsMaxParam0(id(), layout);
    *param0_out = p0;
    const uint64_t rows = Rows(layout);
    const size_t dim = layout.head_dim;
    const size_t esize = DTypeSize(layout.dtype);
    char* scale_out = dst.data() + ChannelParamBytes(layout, p0);
    auto* codes = reinterpret_cast<uint8_t*>(scale_out + rows * 4);
    std::vector<float> scales(std::min<uint64_t>(rows, std::max<size_t>(kChunkRows, 1)));
    // Plain rows [first, first + count).
    auto encode_plain = [&](uint64_t first, uint64_t count) {
      ForChunks(count, 1, [&](uint64_t r0, size_t n) {
        const uint64_t r = first + r0;
        kernels_.absmax_encode(format_, layout.dtype, src.data() + r * dim * esize, n, dim,
                               scales.data(), codes + r * dim);
        std::memcpy(scale_out + r * 4, scales.data(), n * 4);
      });
    };
    if (p0 == 0) {
      encode_plain(0, rows);
      return BodySize(layout, p0);
    }
    const size_t heads = layout.kv_heads;
    const size_t c = heads * dim;
    const uint64_t plane_rows = uint64_t{layout.tokens} * heads;
    scales.resize(std::max<size_t>(scales.size(), heads));
    std::vector<float> mn(c), mx(c), offset(c), inv_cscale(c), max_cscale(heads);
    for (uint32_t l = 0; l < layout.layers; ++l) {
      const uint64_t k_row0 = uint64_t{l} * 2 * plane_rows;
      const char* k_src = src.data() + k_row0 * dim * esize;
      kernels_.plane_min_max(layout.dtype, k_src, layout.tokens, c, mn.data(), mx.data());
      char* params = dst.data() + uint64_t{l} * p0 * c * 2;
      std::fill(max_cscale.begin(), max_cscale.end(), 0.0f);
      for (size_t ch = 0; ch < c; ++ch) {
        uint16_t o16, s16;
        quant::CenterChannelParams(mn[ch], mx[ch], p0 == 2, &o16, &s16);
        std::memcpy(params + 2 * ch, &o16, 2);
        if (p0 == 2) std::memcpy(params + 2 * (c + ch), &s16, 2);
        offset[ch] = quant::HalfToFloat(o16);
        const float cs = quant::HalfToFloat(s16);
        inv_cscale[ch] = 1.0f / cs;
        float& m = max_cscale[ch / dim];
        m = cs > m ? cs : m;
      }
      ForChunks(plane_rows, heads, [&](uint64_t r0, size_t n) {
        const uint64_t r = k_row0 + r0;
        kernels_.absmax_encode_centered(format_, layout.dtype, src.data() + r * dim * esize, n,
                                        dim, heads, offset.data(), inv_cscale.data(),
                                        max_cscale.data(), scales.data(), codes + r * dim);
        std::memcpy(scale_out + r * 4, scales.data(), n * 4);
      });
      encode_plain(k_row0 + plane_rows, plane_rows);  // V
    }
    return BodySize(layout, p0);
  }

  absl::Status DecodeBody(const BlockLayout& layout, uint8_t p0, uint8_t, std::string_view body,
                          std::span<char> dst) const override {
    const uint64_t rows = Rows(layout);
    const size_t dim = layout.head_dim;
    const size_t esize = DTypeSize(layout.dtype);
    const char* scale_in = body.data() + ChannelParamBytes(layout, p0);
    const auto* codes = reinterpret_cast<const uint8_t*>(scale_in + rows * 4);
    std::vector<float> scales(std::min<uint64_t>(rows, kChunkRows));
    auto decode_plain = [&](uint64_t first, uint64_t count) {
      ForChunks(count, 1, [&](uint64_t r0, size_t n) {
        const uint64_t r = first + r0;
        std::memcpy(scales.data(), scale_in + r * 4, n * 4);
        kernels_.absmax_decode(format_, layout.dtype, codes + r * dim, scales.data(), n, dim,
                               dst.data() + r * dim * esize);
      });
    };
    if (p0 == 0) {
      decode_plain(0, rows);
      return absl::OkStatus();
    }
    const size_t heads = layout.kv_heads;
    const size_t c = heads * dim;
    const uint64_t plane_rows = uint64_t{layout.tokens} * heads;
    scales.resize(std::max<size_t>(scales.size(), heads));
    std::vector<float> offset(c), cscale(c, 1.0f);
    for (uint32_t l = 0; l < layout.layers; ++l) {
      const char* params = body.data() + uint64_t{l} * p0 * c * 2;
      kernels_.load_f32(DType::kF16, params, c, offset.data());
      if (p0 == 2) kernels_.load_f32(DType::kF16, params + 2 * c, c, cscale.data());
      const uint64_t k_row0 = uint64_t{l} * 2 * plane_rows;
      ForChunks(plane_rows, heads, [&](uint64_t r0, size_t n) {
        const uint64_t r = k_row0 + r0;
        std::memcpy(scales.data(), scale_in + r * 4, n * 4);
        kernels_.absmax_decode_centered(format_, layout.dtype, codes + r * dim, scales.data(), n,
                                        dim, heads, offset.data(), cscale.data(),
                                        dst.data() + r * dim * esize);
      });
      decode_plain(k_row0 + plane_rows, plane_rows);  // V
    }
    return absl::OkStatus();
  }

 private:
  static BlockLayout KvLayoutTag() {
    BlockLayout l;
    l.kind = LayoutKind::kKv;
    return l;
  }
  static uint64_t ChannelParamBytes(const BlockLayout& layout, uint8_t p0) {
    return uint64_t{layout.layers} * layout.kv_heads * layout.head_dim * 2 * p0;
  }
  static uint64_t BodySize(const BlockLayout& layout, uint8_t p0) {
    return ChannelParamBytes(layout, p0) + Rows(layout) * (4 + uint64_t{layout.head_dim});
  }

  const cpu::AbsMaxFormat format_;
  const cpu::Kernels& kernels_;
};

}  // namespace

uint8_t AbsMaxParam0(CodecId id, const BlockLayout& layout) {
  if (layout.kind != LayoutKind::kKv) return 0;
  return id == CodecId::kInt8 ? 2 : 1;
}

std::unique_ptr<Codec> NewAbsMaxCodec(CodecId id, CpuPath path) {
  return std::make_unique<AbsMaxCodec>(id, path);
}

}  // namespace strata::internal
