// The header every encoded block starts with. Little-endian, 44 bytes:
//
//   offset size field
//        0    2 magic "SC"
//        2    1 format version (1)
//        3    1 codec id (CodecId)
//        4    1 param0   lossless codecs: 1 = body stored uncompressed (shuffled only), 0 =
//                        compressed
//                        kivi: bits per code (4 or 2)
//                        int8, fp8-e4m3: body format: 0 plain rows, 1 K planes centered (fp16
//                        offsets), 2 centered and scaled (offsets and channel scales)
//                        (kernels/cpu/absmax_codecs.cc); older encoders wrote 0 for every layout
//        5    1 param1   kivi: log2 of the group size G (5, 6 or 7)
//        6    2 reserved, zero
//        8   20 BlockLayout::EncodeTo
//       28    8 payload bytes (the decoded size)
//       36    8 body bytes (what follows the header; the encoded block is exactly header + body)
//
// Pure functions; thread-safe.
#ifndef STRATA_KERNELS_CODEC_FORMAT_H_
#define STRATA_KERNELS_CODEC_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/block_layout.h"

namespace strata {

struct EncodedHeader {
  static constexpr size_t kSize = 44;
  static constexpr uint8_t kVersion = 1;

  uint8_t codec_id = 0;
  uint8_t param0 = 0;
  uint8_t param1 = 0;
  BlockLayout layout;
  uint64_t payload_bytes = 0;
  uint64_t body_bytes = 0;

  // Writes kSize bytes at dst.
  void WriteTo(char* dst) const;
  // Parses and checks the header of a whole encoded block: magic, version, reserved bytes, a
  // self-consistent layout that describes payload_bytes, and body_bytes == encoded.size() - kSize.
  // DATA_LOSS otherwise.
  static absl::StatusOr<EncodedHeader> Parse(std::string_view encoded);
  // As Parse, from the first kSize bytes of an encoded block of `encoded_size` bytes held
  // elsewhere (e.g. in device memory).
  static absl::StatusOr<EncodedHeader> ParseHeader(std::string_view header, uint64_t encoded_size);
};

}  // namespace strata

#endif  // STRATA_KERNELS_CODEC_FORMAT_H_
