// Conversions between the wire messages (strata.v1) and Strata's own types, shared by the node
// and the client so both read the contract the same way. Thread-safe (pure functions).
#ifndef STRATA_PROTO_CONVERT_H_
#define STRATA_PROTO_CONVERT_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/block_layout.h"
#include "proto/strata.pb.h"

namespace strata {

// INVALID_ARGUMENT naming `field` for enum values this version does not know.
absl::StatusOr<BlockLayout> LayoutFromProto(const v1::BlockLayout& p, std::string_view field);
void LayoutToProto(const BlockLayout& layout, v1::BlockLayout* p);

// Per-key results carry canonical codes (absl::StatusCode numbering).
void StatusToKeyResult(const absl::Status& status, v1::KeyResult* out);
absl::Status KeyResultToStatus(const v1::KeyResult& result);

}  // namespace strata

#endif  // STRATA_PROTO_CONVERT_H_
