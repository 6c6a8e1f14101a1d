#include "kernels/codec_format.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {
namespace {

void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

void EncodedHeader::WriteTo(char* dst) const {
  dst[0] = 'S';
  dst[1] = 'C';
  dst[2] = static_cast<char>(kVersion);
  dst[3] = static_cast<char>(codec_id);
  dst[4] = static_cast<char>(param0);
  dst[5] = static_cast<char>(param1);
  dst[6] = 0;
  dst[7] = 0;
  std::string l;
  layout.EncodeTo(&l);
  for (size_t i = 0; i < BlockLayout::kEncodedSize; ++i) dst[8 + i] = l[i];
  PutU64(dst + 28, payload_bytes);
  PutU64(dst + 36, body_bytes);
}

absl::StatusOr<EncodedHeader> EncodedHeader::Parse(std::string_view encoded) {
  return ParseHeader(encoded.substr(0, std::min(encoded.size(), kSize)), encoded.size());
}

absl::StatusOr<EncodedHeader> EncodedHeader::ParseHeader(std::string_view encoded,
                                                         uint64_t encoded_size) {
  if (encoded_size < kSize || encoded.size() < kSize) {
    return absl::DataLossError(absl::StrCat("encoded block: ", encoded_size,
                                            " bytes, shorter than its ", kSize, "-byte header"));
  }
  const char* p = encoded.data();
  if (p[0] != 'S' || p[1] != 'C') return absl::DataLossError("encoded block: bad magic");
  if (static_cast<uint8_t>(p[2]) != kVersion) {
    return absl::DataLossError(
        absl::StrCat("encoded block: unknown format version ", static_cast<uint8_t>(p[2])));
  }
  if (p[6] != 0 || p[7] != 0) return absl::DataLossError("encoded block: reserved bytes set");
  EncodedHeader h;
  h.codec_id = static_cast<uint8_t>(p[3]);
  h.param0 = static_cast<uint8_t>(p[4]);
  h.param1 = static_cast<uint8_t>(p[5]);
  auto layout = BlockLayout::Decode(encoded.substr(8, BlockLayout::kEncodedSize));
  if (!layout.ok())
    return absl::DataLossError(absl::StrCat("encoded block: ", layout.status().message()));
  h.layout = *layout;
  h.payload_bytes = GetU64(p + 28);
  h.body_bytes = GetU64(p + 36);
  if (absl::Status s = h.layout.Validate(h.payload_bytes, "encoded block layout"); !s.ok()) {
    return absl::DataLossError(s.message());
  }
  if (h.body_bytes != encoded_size - kSize) {
    return absl::DataLossError(absl::StrCat("encoded block: header records a ", h.body_bytes,
                                            "-byte body, ", encoded_size - kSize, " present"));
  }
  return h;
}

}  // namespace strata
