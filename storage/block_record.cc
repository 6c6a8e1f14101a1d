#include "storage/block_record.h"

#include "absl/strings/str_cat.h"

namespace strata {
namespace {

constexpr uint32_t kMagic = 0x31425453;  // "STB1" little-endian
constexpr size_t kFixedBytes = 4 + 1 + 1 + 2 + 8 + 8 + 8 + BlockLayout::kEncodedSize + 1;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string BlockRecord::Encode() const {
  std::string out;
  out.reserve(kFixedBytes + parent.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((kMagic >> (8 * i)) & 0xff));
  out.push_back(1);  // version
  out.push_back(static_cast<char>(codec_id));
  out.append(2, '\0');
  PutU64(&out, payload_bytes);
  PutU64(&out, stored_bytes);
  PutU64(&out, checksum);
  layout.EncodeTo(&out);
  out.push_back(static_cast<char>(parent.size()));
  out.append(parent);
  return out;
}

absl::StatusOr<BlockRecord> BlockRecord::Decode(std::string_view bytes) {
  if (bytes.size() < kFixedBytes) {
    return absl::DataLossError(absl::StrCat("block record: ", bytes.size(), " bytes, too short"));
  }
  uint32_t magic = 0;
  for (int i = 0; i < 4; ++i)
    magic |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (magic != kMagic || bytes[4] != 1)
    return absl::DataLossError("block record: bad magic or version");
  BlockRecord r;
  r.codec_id = static_cast<uint8_t>(bytes[5]);
  const char* p = bytes.data() + 8;
  r.payload_bytes = GetU64(p);
  r.stored_bytes = GetU64(p + 8);
  r.checksum = GetU64(p + 16);
  auto layout = BlockLayout::Decode(bytes.substr(32, BlockLayout::kEncodedSize));
  if (!layout.ok()) return layout.status();
  r.layout = *layout;
  const size_t parent_len = static_cast<uint8_t>(bytes[kFixedBytes - 1]);
  if (bytes.size() != kFixedBytes + parent_len) {
    return absl::DataLossError("block record: parent length does not match the record size");
  }
  r.parent = std::string(bytes.substr(kFixedBytes));
  return r;
}

}  // namespace strata
