// Fuzz target: the CPU codec decoders (kernels/codec.h) fed arbitrary bytes as an encoded block,
// as a client or a damaged tier could present them. Invariants checked:
//  - DecodeAnyBlock answers a payload or DATA_LOSS (never a crash, never another code), and the
//    portable and AVX2 paths agree: both fail, or both return the same values. A NaN matches any
//    NaN: fuzzed scales can be NaN or infinite, and the two paths (software vs F16C conversion)
//    propagate different NaN payloads (seen in the clang build; corpus file
//    regress_kivi2_nan_scales_paths_differ).
//  - a decoded payload has exactly the size the header's layout describes;
//  - each registered codec's Decode under the header's own layout answers OK, DATA_LOSS or
//    INVALID_ARGUMENT (another codec's block), and never reads past the input;
//  - the lossless codecs round-trip the input itself as an opaque payload.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "kernels/codec.h"
#include "kernels/codec_format.h"

namespace {

// Decoders allocate the recorded payload size before decoding; keep the fuzzer's memory small.
constexpr uint64_t kMaxPayload = 16u << 20;

bool IsNan(strata::DType dtype, const unsigned char* p) {
  switch (dtype) {
    case strata::DType::kF16: {
      const unsigned v = p[0] | (p[1] << 8);
      return (v & 0x7c00) == 0x7c00 && (v & 0x03ff) != 0;
    }
    case strata::DType::kBF16: {
      const unsigned v = p[0] | (p[1] << 8);
      return (v & 0x7f80) == 0x7f80 && (v & 0x007f) != 0;
    }
    case strata::DType::kF32: {
      const uint32_t v = p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
      return (v & 0x7f800000u) == 0x7f800000u && (v & 0x007fffffu) != 0;
    }
    default:
      return false;
  }
}

// Equal bytes, except that a NaN element equals any NaN element.
bool SameValues(const strata::BlockLayout& layout, const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  if (a == b) return true;
  const size_t width = layout.is_opaque() ? 0 : strata::DTypeSize(layout.dtype);
  if (width == 0 || a.size() % width != 0) return false;
  const auto* pa = reinterpret_cast<const unsigned char*>(a.data());
  const auto* pb = reinterpret_cast<const unsigned char*>(b.data());
  for (size_t i = 0; i < a.size(); i += width) {
    if (std::memcmp(pa + i, pb + i, width) == 0) continue;
    if (!IsNan(layout.dtype, pa + i) || !IsNan(layout.dtype, pb + i)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using strata::CpuPath;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<strata::EncodedHeader> header = strata::EncodedHeader::Parse(input);
  if (header.ok() && header->payload_bytes <= kMaxPayload) {
    strata::BlockLayout layout;
    absl::StatusOr<std::string> portable =
        strata::DecodeAnyBlock(input, &layout, CpuPath::kPortable);
    if (!portable.ok()) {
      STRATA_FUZZ_CHECK(absl::IsDataLoss(portable.status()), "a bad block is DATA_LOSS");
    } else {
      STRATA_FUZZ_CHECK(portable->size() == header->payload_bytes,
                        "the payload has the size its header records");
      STRATA_FUZZ_CHECK(layout == header->layout, "the recorded layout is the header's");
    }
    if (strata::CpuHasAvx2Path()) {
      absl::StatusOr<std::string> avx2 = strata::DecodeAnyBlock(input, nullptr, CpuPath::kAvx2);
      STRATA_FUZZ_CHECK(avx2.ok() == portable.ok(), "portable and AVX2 paths agree on errors");
      if (avx2.ok()) {
        STRATA_FUZZ_CHECK(SameValues(header->layout, *avx2, *portable),
                          "portable and AVX2 paths agree on values");
      }
    }
    for (const strata::Codec* codec : strata::AllCodecs()) {
      absl::StatusOr<std::string> out = codec->Decode(header->layout, input);
      STRATA_FUZZ_CHECK(
          out.ok() || absl::IsDataLoss(out.status()) || absl::IsInvalidArgument(out.status()),
          "Decode answers OK, DATA_LOSS or INVALID_ARGUMENT");
      if (out.ok()) STRATA_FUZZ_CHECK(out->size() == header->payload_bytes, "payload size");
    }
  } else if (!header.ok()) {
    // Without a valid header every decoder refuses.
    absl::StatusOr<std::string> out = strata::DecodeAnyBlock(input);
    STRATA_FUZZ_CHECK(!out.ok() && absl::IsDataLoss(out.status()), "no header: DATA_LOSS");
  }

  // Lossless codecs take any bytes as an opaque payload and give them back.
  if (size > 0) {
    strata::BlockLayout opaque;  // kind opaque by default
    for (const strata::Codec* codec : strata::AllCodecs()) {
      if (!codec->lossless() || !codec->CheckLayout(opaque, size).ok()) continue;
      absl::StatusOr<std::string> encoded = codec->Encode(opaque, input);
      STRATA_FUZZ_CHECK(encoded.ok(), "a lossless codec encodes any opaque payload");
      absl::StatusOr<std::string> decoded = codec->Decode(opaque, *encoded);
      STRATA_FUZZ_CHECK(decoded.ok() && *decoded == input, "a lossless codec round-trips");
    }
  }
  return 0;
}
