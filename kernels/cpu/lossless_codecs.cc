// raw, shuffle-lz4 and shuffle-zstd. The shuffle groups byte b of every element into plane b, so
// the exponent bytes of f16/bf16/f32 data sit together where an entropy coder finds them; opaque
// and fp8 blocks have one-byte elements and are compressed as they are. A body that would not
// shrink is stored shuffled but uncompressed (param0 = 1), so the encoded form never exceeds the
// payload by more than the header.
#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/codec_format.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/codecs.h"

namespace strata::internal {
namespace {

constexpr int kZstdLevel = 1;
constexpr uint8_t kCompressed = 0;
constexpr uint8_t kStored = 1;

const char* LosslessName(CodecId id) {
  switch (id) {
    case CodecId::kShuffleLz4:
      return "shuffle-lz4";
    case CodecId::kShuffleZstd:
      return "shuffle-zstd";
    default:
      return "raw";
  }
}

size_t ElementSize(const BlockLayout& layout) {
  return layout.is_opaque() ? 1 : DTypeSize(layout.dtype);
}

class LosslessCodec final : public Codec {
 public:
  LosslessCodec(CodecId id, CpuPath path)
      : Codec(id, LosslessName(id), /*lossless=*/true, path), kernels_(cpu::SelectKernels(path)) {}

  uint64_t MaxEncodedSize(const BlockLayout& layout, uint64_t payload_bytes) const override {
    uint64_t bound = payload_bytes;
    if (id() == CodecId::kShuffleLz4 && payload_bytes <= LZ4_MAX_INPUT_SIZE) {
      bound = std::max<uint64_t>(bound, LZ4_compressBound(static_cast<int>(payload_bytes)));
    } else if (id() == CodecId::kShuffleZstd) {
      bound = std::max<uint64_t>(bound, ZSTD_compressBound(payload_bytes));
    }
    return EncodedHeader::kSize + bound;
  }

 protected:
  absl::Status CheckLayoutImpl(const BlockLayout& layout) const override {
    return absl::OkStatus();
  }

  absl::Status CheckParams(uint8_t p0, uint8_t p1) const override {
    const bool ok = p1 == 0 && (p0 == kStored || (p0 == kCompressed && id() != CodecId::kRaw));
    if (!ok) {
      return absl::DataLossError(absl::StrCat("encoded block: parameters ", p0, ",", p1,
                                              " invalid for ", LosslessName(id())));
    }
    return absl::OkStatus();
  }

  absl::Status CheckBody(const BlockLayout& layout, uint8_t p0, uint8_t p1, uint64_t payload,
                         std::string_view body) const override {
    if (p0 == kStored) {
      if (body.size() != payload) {
        return absl::DataLossError(absl::StrCat("encoded block: stored body of ", body.size(),
                                                " bytes for a ", payload, "-byte payload"));
      }
      return absl::OkStatus();
    }
    if (id() == CodecId::kShuffleLz4) {
      // LZ4 expands at most 255 bytes per input byte.
      if (payload > LZ4_MAX_INPUT_SIZE || body.size() > LZ4_MAX_INPUT_SIZE ||
          payload > 255 * uint64_t{body.size()} + 16) {
        return absl::DataLossError(
            absl::StrCat("encoded block: ", body.size(), " LZ4 bytes cannot hold ", payload));
      }
      return absl::OkStatus();
    }
    const unsigned long long content = ZSTD_getFrameContentSize(body.data(), body.size());
    if (content != payload) {
      return absl::DataLossError(
          absl::StrCat("encoded block: zstd frame does not record ", payload, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> EncodeBody(const BlockLayout& layout, std::string_view src,
                                    std::span<char> dst, uint8_t* p0) const override {
    const size_t esize = ElementSize(layout);
    if (id() == CodecId::kRaw) {
      std::memcpy(dst.data(), src.data(), src.size());
      *p0 = kStored;
      return src.size();
    }
    std::string_view plain = src;
    std::unique_ptr<char[]> shuffled;
    if (esize > 1) {
      shuffled.reset(new char[src.size()]);
      kernels_.shuffle(reinterpret_cast<const uint8_t*>(src.data()), src.size() / esize, esize,
                       reinterpret_cast<uint8_t*>(shuffled.get()));
      plain = std::string_view(shuffled.get(), src.size());
    }
    size_t n = 0;
    if (id() == CodecId::kShuffleLz4) {
      if (src.size() > LZ4_MAX_INPUT_SIZE) {
        return absl::InvalidArgumentError(
            absl::StrCat("src: ", src.size(), " bytes, over LZ4's ", LZ4_MAX_INPUT_SIZE, " limit"));
      }
      const int r = LZ4_compress_default(plain.data(), dst.data(), static_cast<int>(plain.size()),
                                         static_cast<int>(std::min<size_t>(dst.size(), INT32_MAX)));
      n = r > 0 ? static_cast<size_t>(r) : src.size();
    } else {
      const size_t r =
          ZSTD_compress(dst.data(), dst.size(), plain.data(), plain.size(), kZstdLevel);
      n = ZSTD_isError(r) ? src.size() : r;
    }
    if (n >= src.size()) {
      std::memcpy(dst.data(), plain.data(), plain.size());
      *p0 = kStored;
      return plain.size();
    }
    *p0 = kCompressed;
    return n;
  }

  absl::Status DecodeBody(const BlockLayout& layout, uint8_t p0, uint8_t p1, std::string_view body,
                          std::span<char> dst) const override {
    const size_t esize = id() == CodecId::kRaw ? 1 : ElementSize(layout);
    std::unique_ptr<char[]> tmp;
    char* plain = dst.data();
    if (esize > 1) {
      tmp.reset(new char[dst.size()]);
      plain = tmp.get();
    }
    if (p0 == kStored) {
      std::memcpy(plain, body.data(), body.size());
    } else if (id() == CodecId::kShuffleLz4) {
      const int r = LZ4_decompress_safe(body.data(), plain, static_cast<int>(body.size()),
                                        static_cast<int>(dst.size()));
      if (r < 0 || static_cast<size_t>(r) != dst.size()) {
        return absl::DataLossError("encoded block: corrupt LZ4 body");
      }
    } else {
      const size_t r = ZSTD_decompress(plain, dst.size(), body.data(), body.size());
      if (ZSTD_isError(r) || r != dst.size()) {
        return absl::DataLossError(absl::StrCat("encoded block: corrupt zstd body: ",
                                                ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short"));
      }
    }
    if (esize > 1) {
      kernels_.unshuffle(reinterpret_cast<const uint8_t*>(plain), dst.size() / esize, esize,
                         reinterpret_cast<uint8_t*>(dst.data()));
    }
    return absl::OkStatus();
  }

 private:
  const cpu::Kernels& kernels_;
};

}  // namespace

std::unique_ptr<Codec> NewLosslessCodec(CodecId id, CpuPath path) {
  return std::make_unique<LosslessCodec>(id, path);
}

}  // namespace strata::internal
