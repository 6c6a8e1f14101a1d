// Fuzz target: the SSD tier's record decoder and what the store does with a decoded record
// (storage/block_record.h, storage/tier_codecs.h). This is what a restart reads back from a
// disk that may hold anything: a torn write, a flipped bit, another program's file.
//
// Input: two bytes (little-endian) giving the record's length n, then n record bytes, then the
// block's stored bytes. Invariants checked:
//  - BlockRecord::Decode answers a record or DATA_LOSS, never anything else;
//  - a decoded record survives Encode/Decode unchanged;
//  - TierCodecs::Materialize answers DATA_LOSS or a payload of exactly record.payload_bytes
//    whose checksum is record.checksum (a block that comes back is the block that was stored).
#include <cstdint>
#include <string>
#include <string_view>

#include "common/checksum.h"
#include "fuzz/fuzz_check.h"
#include "storage/block_record.h"
#include "storage/tier_codecs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n = std::min<size_t>(size - 2, data[0] | (size_t{data[1]} << 8));
  const std::string_view record_bytes(reinterpret_cast<const char*>(data) + 2, n);
  const std::string_view stored(reinterpret_cast<const char*>(data) + 2 + n, size - 2 - n);

  absl::StatusOr<strata::BlockRecord> record = strata::BlockRecord::Decode(record_bytes);
  if (!record.ok()) {
    STRATA_FUZZ_CHECK(absl::IsDataLoss(record.status()),
                      "a record that does not decode is DATA_LOSS");
    return 0;
  }
  absl::StatusOr<strata::BlockRecord> again = strata::BlockRecord::Decode(record->Encode());
  STRATA_FUZZ_CHECK(again.ok(), "an encoded record decodes");
  STRATA_FUZZ_CHECK(again->parent == record->parent && again->checksum == record->checksum &&
                        again->payload_bytes == record->payload_bytes &&
                        again->stored_bytes == record->stored_bytes &&
                        again->codec_id == record->codec_id && again->layout == record->layout,
                    "a record survives Encode/Decode");
  // Decoders allocate the recorded payload size; a bounded size keeps the fuzzer's memory small
  // (the node bounds it by limits.max_payload_bytes on the way in).
  if (record->payload_bytes > (16u << 20)) return 0;
  for (bool verify : {false, true}) {
    std::string scratch;
    std::string_view payload;
    absl::Status st = strata::TierCodecs::Materialize(*record, verify, stored, &scratch, &payload);
    if (!st.ok()) {
      STRATA_FUZZ_CHECK(absl::IsDataLoss(st), "a block that cannot be materialized is DATA_LOSS");
      continue;
    }
    if (verify || record->codec_id != 0) {
      STRATA_FUZZ_CHECK(payload.size() == record->payload_bytes &&
                            strata::BlockChecksum(payload) == record->checksum,
                        "a verified block is the block that was stored");
    }
  }
  return 0;
}
