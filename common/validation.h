// Request limits and the validation rules of DESIGN.md section 3, shared by the node's request
// handling and the client (which checks before sending). Thread-safe (pure functions).
#ifndef STRATA_COMMON_VALIDATION_H_
#define STRATA_COMMON_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace strata {

struct RequestLimits {
  // Most keys in one batched call.
  size_t max_batch = 1024;
  // Largest payload of one block.
  uint64_t max_payload_bytes = 16ull << 20;
  // Longest key in bytes (the wire allows 1..64; a node may lower it, never raise it).
  size_t max_key_bytes = 64;
};

inline constexpr size_t kMaxNamespaceBytes = 128;
inline constexpr size_t kMaxKeyBytes = 64;

// The room a batched message needs beside its payload bytes, shared by the node (which answers
// RESOURCE_EXHAUSTED for Get items past its message limit) and the client (which splits Put
// batches to stay under it): every item costs at most kItemOverheadBytes (key, parent, layout,
// result, tier, codec, checksum and protobuf framing), every message kMessageOverheadBytes
// (namespace and framing). A message limit must hold one maximal payload plus both.
inline constexpr uint64_t kItemOverheadBytes = 2 * kMaxKeyBytes + 256;
inline constexpr uint64_t kMessageOverheadBytes = 4096;
inline constexpr uint64_t kMessageSlackBytes = kMessageOverheadBytes + kItemOverheadBytes;

// 1-128 bytes of [A-Za-z0-9._:/-]. INVALID_ARGUMENT names `field`.
absl::Status ValidateNamespace(std::string_view ns, std::string_view field = "namespace");
// 1..limits.max_key_bytes bytes, any values.
absl::Status ValidateKey(std::string_view key, const RequestLimits& limits,
                         std::string_view field = "key");
absl::Status ValidateBatchSize(size_t n, const RequestLimits& limits,
                               std::string_view field = "keys");
absl::Status ValidatePayloadSize(uint64_t n, const RequestLimits& limits,
                                 std::string_view field = "payload");

}  // namespace strata

#endif  // STRATA_COMMON_VALIDATION_H_
