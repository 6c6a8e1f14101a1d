// The double-buffered staging pipeline behind GpuClient (client/gpu_client.h), apart from the
// client so it can be driven with any sender. Internal to the client.
//
// A batch is cut, in order, into chunks of whole blocks that fit one staging slot
// (PlanChunks); two slots of pinned host memory alternate:
//   Put: the device-to-host copy of chunk i+1 is issued before chunk i is sent, so it runs while
//        the node reads chunk i; a slot is reused only after its send returned (the node has read
//        it: node-initiated transfers complete before the reply).
//   Get: chunk i+1 is received into the other slot while the host-to-device copy of chunk i
//        runs; a slot is reused only after the copy out of it completed (its event).
// Every call returns with no copy in flight, so the slots may be reused or freed at once.
#ifndef STRATA_CLIENT_INTERNAL_GPU_PIPELINE_H_
#define STRATA_CLIENT_INTERNAL_GPU_PIPELINE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/gpu_staging.h"
#include "client/node_client.h"

namespace strata::gpu {

struct StagingChunk {
  size_t first = 0;             // index of the chunk's first item in the batch
  size_t count = 0;             // items in the chunk
  std::vector<uint64_t> local;  // each item's offset in the slot
  uint64_t bytes = 0;           // slot bytes used
};

// Groups items of `sizes` bytes, in order, into chunks of at most chunk_bytes.
// REQUIRES: every size <= chunk_bytes.
std::vector<StagingChunk> PlanChunks(absl::Span<const uint64_t> sizes, uint64_t chunk_bytes);

using Slots = std::array<char*, 2>;

// Sends chunk `chunk` staged in slot `slot`; one status per item of the chunk.
using SendChunk =
    std::function<absl::StatusOr<std::vector<absl::Status>>(int slot, const StagingChunk& chunk)>;
// Receives chunk `chunk` into slot `slot`; one result per item, sizes as received.
using ReceiveChunk = std::function<absl::StatusOr<std::vector<GetIntoResult>>(
    int slot, const StagingChunk& chunk)>;

// Item i's bytes are at device + offsets[i], sizes[i] long. A call-level error from `send` (or a
// failed copy) ends the batch with that error; chunks sent before it stay sent.
absl::StatusOr<std::vector<absl::Status>> PipelinePut(CopyStream& stream, const Slots& slots,
                                                      const char* device,
                                                      absl::Span<const uint64_t> offsets,
                                                      absl::Span<const uint64_t> sizes,
                                                      const std::vector<StagingChunk>& chunks,
                                                      const SendChunk& send);
// Found items are copied to device + offsets[i] (their received size).
absl::StatusOr<std::vector<GetIntoResult>> PipelineGet(CopyStream& stream, const Slots& slots,
                                                       char* device,
                                                       absl::Span<const uint64_t> offsets,
                                                       const std::vector<StagingChunk>& chunks,
                                                       const ReceiveChunk& receive);

}  // namespace strata::gpu

#endif  // STRATA_CLIENT_INTERNAL_GPU_PIPELINE_H_
