// Mooncake trace format (FAST'25 release): one JSON object per line,
//   {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [ids...]}
// where hash_ids are prefix-chained ids of fixed-size token blocks: equal ids at the same
// position mean a reusable prefix block, and id i+1's block hangs from id i's.
//
// Reading and writing are pure functions of their inputs (thread-compatible).
#ifndef STRATA_CLUSTER_REPLAY_TRACE_H_
#define STRATA_CLUSTER_REPLAY_TRACE_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace strata::replay {

struct TraceRequest {
  // Arrival in ms, relative to the first request.
  double timestamp_ms = 0;
  // Prompt and generated tokens. input_length 0 means unknown (every block counts as full).
  uint64_t input_length = 0;
  uint64_t output_length = 0;
  // Prefix-chained block ids; hash_ids[j]'s parent is hash_ids[j - 1].
  std::vector<uint64_t> hash_ids;
};

// Parses one line. INVALID_ARGUMENT naming the field when it is malformed.
absl::StatusOr<TraceRequest> ParseTraceLine(std::string_view line);

// Reads every non-blank line of `in`; errors name `source` and the line number.
absl::StatusOr<std::vector<TraceRequest>> ReadTrace(std::istream& in, std::string_view source);

// Reads a trace file: NOT_FOUND when it cannot be opened.
absl::StatusOr<std::vector<TraceRequest>> ReadTraceFile(const std::string& path);

// Writes one line per request in the same format (integral timestamps are written as integers).
void WriteTrace(const std::vector<TraceRequest>& requests, std::ostream& out);

// Number of distinct block ids in the trace.
uint64_t CountDistinctBlocks(const std::vector<TraceRequest>& requests);

// Tokens of block `j` of `request` (the last block of a prompt may be partial), given the
// trace's block size; block_tokens when the prompt length is unknown or inconsistent.
uint32_t BlockTokens(const TraceRequest& request, size_t j, uint32_t block_tokens);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_TRACE_H_
