// kivi4 / kivi2: asymmetric min/max quantization after KIVI (Liu et al., 2024). Keys have fixed
// outlier channels, so they are quantized per channel over groups of G tokens; values have none
// and are quantized per token over groups of G channels. Scale and minimum are fp16, the minimum
// rounded down and the scale up so every code stays in range and |x - x'| <= scale / 2 (plus the
// rounding of x' to the block's dtype). kivi4 puts its codes at both ends of each group's range
// (mid-tread), kivi2 at the centres of four equal buckets (mid-rise: a quarter of the range per
// step instead of a third); quant::KiviParamsForBits says why. Decoding is the same for both.
// Body layout: kernels/internal/kivi_layout.h.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "kernels/codec_format.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/codecs.h"
#include "kernels/internal/kivi_layout.h"
#include "kernels/internal/quant_math.h"

namespace strata::internal {
namespace {

using quant::KiviGeometry;

uint8_t Log2(uint32_t g) {
  uint8_t l = 0;
  while ((1u << l) < g) ++l;
  return l;
}

class KiviCodec final : public Codec {
 public:
  KiviCodec(CodecId id, uint32_t group, CpuPath path)
      : Codec(id,
              absl::StrCat(id == CodecId::kKivi4 ? "kivi4" : "kivi2",
                           group == 32 ? "" : absl::StrCat("-g", group)),
              /*lossless=*/false, path),
        bits_(id == CodecId::kKivi4 ? 4 : 2),
        group_(group),
        kernels_(cpu::SelectKernels(path)) {}

  uint64_t MaxEncodedSize(const BlockLayout& layout, uint64_t payload_bytes) const override {
    return EncodedHeader::kSize + BodySize(layout, group_);
  }

  uint8_t param0() const override { return static_cast<uint8_t>(bits_); }
  uint8_t param1() const override { return Log2(group_); }

 protected:
  absl::Status CheckLayoutImpl(const BlockLayout& layout) const override {
    if (layout.kind != LayoutKind::kKv) {
      return absl::InvalidArgumentError(absl::StrCat("layout.kind: ", AsAbsl(name()),
                                                     " needs a kv layout, not ",
                                                     AsAbsl(LayoutKindName(layout.kind))));
    }
    return CheckFloatDType(layout, name());
  }

  absl::Status CheckParams(uint8_t p0, uint8_t p1) const override {
    if (p0 != bits_ || p1 < 5 || p1 > 7) {
      return absl::DataLossError(absl::StrCat("encoded block: parameters bits=", p0,
                                              " log2(group)=", p1, " invalid for ",
                                              AsAbsl(name())));
    }
    return absl::OkStatus();
  }

  absl::Status CheckBody(const BlockLayout& layout, uint8_t, uint8_t p1, uint64_t,
                         std::string_view body) const override {
    const uint64_t want = BodySize(layout, 1u << p1);
    if (body.size() != want) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()), " body of ",
                                              body.size(), " bytes, expected ", want));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> EncodeBody(const BlockLayout& layout, std::string_view src,
                                    std::span<char> dst, uint8_t*) const override {
    const KiviGeometry g = Geometry(layout, group_);
    const size_t c = g.channels;
    const size_t ngv = g.value_groups;
    const size_t esize = DTypeSize(layout.dtype);
    std::vector<float> buf(std::min<uint64_t>(g.group, g.tokens) * c);
    std::vector<float> lo(c), hi(c), mn(c), inv(c);
    for (uint32_t l = 0; l < layout.layers; ++l) {
      char* section = dst.data() + l * g.layer_bytes();
      const char* k_src = src.data() + (uint64_t{l} * 2) * g.tokens * c * esize;
      const char* v_src = k_src + g.tokens * c * esize;
      // Keys: per channel over token groups.
      auto* k_codes = reinterpret_cast<uint8_t*>(section + g.key_codes_offset());
      for (uint64_t kg = 0; kg < g.key_groups; ++kg) {
        const uint64_t t0 = kg * g.group;
        const size_t rows = static_cast<size_t>(std::min(g.group, g.tokens - t0));
        kernels_.load_f32(layout.dtype, k_src + t0 * c * esize, rows * c, buf.data());
        kernels_.column_min_max(buf.data(), rows, c, lo.data(), hi.data());
        auto* params = reinterpret_cast<uint8_t*>(section + kg * c * 4);
        if (!kernels_.kivi_params(lo.data(), hi.data(), c, bits_, params, params + 2 * c,
                                  mn.data(), inv.data())) {
          return OutOfRange(l, "K", t0);
        }
        for (size_t r = 0; r < rows; ++r) {
          kernels_.kivi_quantize(buf.data() + r * c, mn.data(), inv.data(), c, 1, bits_,
                                 k_codes + (t0 + r) * g.row_bytes);
        }
      }
      // Values: per token over channel groups.
      auto* v_codes = reinterpret_cast<uint8_t*>(section + g.value_codes_offset());
      for (uint64_t t = 0; t < g.tokens; ++t) {
        kernels_.load_f32(layout.dtype, v_src + t * c * esize, c, buf.data());
        kernels_.group_min_max(buf.data(), c, g.group, lo.data(), hi.data());
        auto* params = reinterpret_cast<uint8_t*>(section + g.value_params_offset() + t * ngv * 4);
        // kivi_params reads group i before writing output i, so it may work in place.
        if (!kernels_.kivi_params(lo.data(), hi.data(), ngv, bits_, params, params + 2 * ngv,
                                  lo.data(), hi.data())) {
          return OutOfRange(l, "V", t);
        }
        kernels_.kivi_quantize(buf.data(), lo.data(), hi.data(), c, g.group, bits_,
                               v_codes + t * g.row_bytes);
      }
    }
    return BodySize(layout, group_);
  }

  absl::Status DecodeBody(const BlockLayout& layout, uint8_t, uint8_t p1, std::string_view body,
                          std::span<char> dst) const override {
    const KiviGeometry g = Geometry(layout, 1u << p1);
    const size_t c = g.channels;
    const size_t ngv = g.value_groups;
    const size_t esize = DTypeSize(layout.dtype);
    std::vector<float> buf(c), mn(c), scale(c), gmn(ngv), gscale(ngv);
    for (uint32_t l = 0; l < layout.layers; ++l) {
      const char* section = body.data() + l * g.layer_bytes();
      char* k_dst = dst.data() + (uint64_t{l} * 2) * g.tokens * c * esize;
      char* v_dst = k_dst + g.tokens * c * esize;
      const auto* k_codes = reinterpret_cast<const uint8_t*>(section + g.key_codes_offset());
      for (uint64_t kg = 0; kg < g.key_groups; ++kg) {
        const char* params = section + kg * c * 4;
        kernels_.load_f32(DType::kF16, params, c, scale.data());
        kernels_.load_f32(DType::kF16, params + 2 * c, c, mn.data());
        const uint64_t t0 = kg * g.group;
        const uint64_t t1 = std::min(g.tokens, t0 + g.group);
        for (uint64_t t = t0; t < t1; ++t) {
          kernels_.kivi_dequantize(k_codes + t * g.row_bytes, mn.data(), scale.data(), c, 1, bits_,
                                   buf.data());
          kernels_.store_f32(layout.dtype, buf.data(), c, k_dst + t * c * esize);
        }
      }
      const auto* v_codes = reinterpret_cast<const uint8_t*>(section + g.value_codes_offset());
      for (uint64_t t = 0; t < g.tokens; ++t) {
        const char* params = section + g.value_params_offset() + t * ngv * 4;
        kernels_.load_f32(DType::kF16, params, ngv, gscale.data());
        kernels_.load_f32(DType::kF16, params + 2 * ngv, ngv, gmn.data());
        kernels_.kivi_dequantize(v_codes + t * g.row_bytes, gmn.data(), gscale.data(), c, g.group,
                                 bits_, buf.data());
        kernels_.store_f32(layout.dtype, buf.data(), c, v_dst + t * c * esize);
      }
    }
    return absl::OkStatus();
  }

 private:
  KiviGeometry Geometry(const BlockLayout& layout, uint32_t group) const {
    return quant::MakeKiviGeometry(layout.kv_heads, layout.head_dim, layout.tokens, group,
                                   static_cast<uint32_t>(bits_));
  }
  uint64_t BodySize(const BlockLayout& layout, uint32_t group) const {
    return layout.layers * Geometry(layout, group).layer_bytes();
  }
  absl::Status OutOfRange(uint32_t layer, const char* plane, uint64_t token) const {
    return absl::InvalidArgumentError(
        absl::StrCat("src: layer ", layer, " ", plane, " group at token ", token,
                     ": values are not finite or exceed the fp16 range ", AsAbsl(name()),
                     " stores its scales in"));
  }

  const int bits_;
  const uint32_t group_;
  const cpu::Kernels& kernels_;
};

}  // namespace

std::unique_ptr<Codec> NewKiviCodec(CodecId id, uint32_t group, CpuPath path) {
  return std::make_unique<KiviCodec>(id, group, path);
}

}  // namespace strata::internal
