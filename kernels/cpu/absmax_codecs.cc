// int8 and fp8-e4m3: symmetric absmax quantizers with one f32 scale per row of head_dim elements.
// A kv layout has a row per (layer, K|V, token, head), an mla_latent layout one per (layer,
// token), which is exactly the element order, so the whole payload is `rows` rows of head_dim.
//
// Body: rows f32 scales (little-endian), then rows * head_dim one-byte codes.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "kernels/codec_format.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/codecs.h"

namespace strata::internal {
namespace {

// Rows per kernel call: bounds the scale scratch buffer.
constexpr size_t kChunkRows = 1024;

uint64_t Rows(const BlockLayout& layout) {
  return layout.kind == LayoutKind::kKv
             ? uint64_t{layout.layers} * 2 * layout.tokens * layout.kv_heads
             : uint64_t{layout.layers} * layout.tokens;
}

class AbsMaxCodec final : public Codec {
 public:
  AbsMaxCodec(CodecId id, CpuPath path)
      : Codec(id, id == CodecId::kInt8 ? "int8" : "fp8-e4m3", /*lossless=*/false, path),
        format_(id == CodecId::kInt8 ? cpu::AbsMaxFormat::kInt8 : cpu::AbsMaxFormat::kFp8),
        kernels_(cpu::SelectKernels(path)) {}

  uint64_t MaxEncodedSize(const BlockLayout& layout, uint64_t payload_bytes) const override {
    return EncodedHeader::kSize + BodySize(layout);
  }

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
    if (p0 != 0 || p1 != 0) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()),
                                              " records no parameters, found ", p0, ",", p1));
    }
    return absl::OkStatus();
  }

  absl::Status CheckBody(const BlockLayout& layout, uint8_t, uint8_t, uint64_t,
                         std::string_view body) const override {
    if (body.size() != BodySize(layout)) {
      return absl::DataLossError(absl::StrCat("encoded block: ", AsAbsl(name()), " body of ",
                                              body.size(), " bytes, expected ", BodySize(layout)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> EncodeBody(const BlockLayout& layout, std::string_view src,
                                    std::span<char> dst, uint8_t*) const override {
    const uint64_t rows = Rows(layout);
    const size_t dim = layout.head_dim;
    const size_t esize = DTypeSize(layout.dtype);
    char* scale_out = dst.data();
    auto* codes = reinterpret_cast<uint8_t*>(dst.data() + rows * 4);
    std::vector<float> scales(std::min<uint64_t>(rows, kChunkRows));
    for (uint64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkRows, rows - r0));
      kernels_.absmax_encode(format_, layout.dtype, src.data() + r0 * dim * esize, n, dim,
                             scales.data(), codes + r0 * dim);
      std::memcpy(scale_out + r0 * 4, scales.data(), n * 4);
    }
    return BodySize(layout);
  }

  absl::Status DecodeBody(const BlockLayout& layout, uint8_t, uint8_t, std::string_view body,
                          std::span<char> dst) const override {
    const uint64_t rows = Rows(layout);
    const size_t dim = layout.head_dim;
    const size_t esize = DTypeSize(layout.dtype);
    const auto* codes = reinterpret_cast<const uint8_t*>(body.data() + rows * 4);
    std::vector<float> scales(std::min<uint64_t>(rows, kChunkRows));
    for (uint64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkRows, rows - r0));
      std::memcpy(scales.data(), body.data() + r0 * 4, n * 4);
      kernels_.absmax_decode(format_, layout.dtype, codes + r0 * dim, scales.data(), n, dim,
                             dst.data() + r0 * dim * esize);
    }
    return absl::OkStatus();
  }

 private:
  static uint64_t BodySize(const BlockLayout& layout) {
    return Rows(layout) * (4 + uint64_t{layout.head_dim});
  }

  const cpu::AbsMaxFormat format_;
  const cpu::Kernels& kernels_;
};

}  // namespace

std::unique_ptr<Codec> NewAbsMaxCodec(CodecId id, CpuPath path) {
  return std::make_unique<AbsMaxCodec>(id, path);
}

}  // namespace strata::internal
