// GPU implementations of token pruning and Quest page bounds (kernels/pruning.h), in
// kernels/cuda/pruning.cu. They rank tokens by the same priorities as the CPU path
// (kernels/internal/pruning_math.h, compiled __host__ __device__, no FMA contraction), so they
// keep the same tokens at the same positions and produce byte-identical pruned payloads and
// bounds. Built when CMake's STRATA_HAVE_CUDA is ON; otherwise every call answers UNAVAILABLE
// (gpu::Built() and gpu::DeviceCount() in kernels/gpu_codec.h say which).
//
// Work split: one thread per (layer, head, token) computes its priority; one thread block per
// (layer, head) ranks its tokens (a token's rank is the number of tokens ranking before it, so a
// block of T tokens costs T^2 comparisons: fine for blocks of a few thousand tokens), marks the
// kept ones and gathers their K and V rows in position order; one thread per (layer, head,
// channel) scans the tokens for min/max.
//
// Thread-safety: the functions are thread-safe; each uses its own stream and device buffers.
#ifndef STRATA_KERNELS_GPU_PRUNING_H_
#define STRATA_KERNELS_GPU_PRUNING_H_

#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/block_layout.h"
#include "kernels/pruning.h"

namespace strata::gpu {

// As PruneBlock, on device 0: copies the payload and scores there, prunes, copies the view back.
// The same INVALID_ARGUMENT checks run on the host first.
absl::StatusOr<PrunedBlock> PruneBlockHost(const BlockLayout& layout, std::string_view payload,
                                           std::span<const float> scores,
                                           const PruneOptions& options);

// As ComputePageBounds, on device 0.
absl::StatusOr<PageBounds> ComputePageBoundsHost(const BlockLayout& layout,
                                                 std::string_view payload);

}  // namespace strata::gpu

#endif  // STRATA_KERNELS_GPU_PRUNING_H_
