// BlockRecord: the metadata stored with every block, and its fixed binary encoding (the SSD
// header). Plain value type; thread-compatible.
#ifndef STRATA_STORAGE_BLOCK_RECORD_H_
#define STRATA_STORAGE_BLOCK_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/block_layout.h"

namespace strata {

struct BlockRecord {
  // Key of the previous block of the chain (same namespace); empty for a chain's first block.
  std::string parent;
  BlockLayout layout;
  // XXH3-64 of the uncompressed payload (common/checksum.h).
  uint64_t checksum = 0;
  // Size of the uncompressed payload.
  uint64_t payload_bytes = 0;
  // Codec of the bytes as stored in a tier (0 = raw) and their size.
  uint8_t codec_id = 0;
  uint64_t stored_bytes = 0;

  std::string Encode() const;
  // DATA_LOSS when `bytes` is not a record this version wrote.
  static absl::StatusOr<BlockRecord> Decode(std::string_view bytes);
};

}  // namespace strata

#endif  // STRATA_STORAGE_BLOCK_RECORD_H_
