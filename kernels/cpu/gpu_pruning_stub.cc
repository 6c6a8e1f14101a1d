// The GPU pruning API in a build without CUDA: nothing to run on.
#include "kernels/gpu_pruning.h"

namespace strata::gpu {
namespace {
absl::Status NotBuilt() {
  return absl::UnavailableError(
      "GPU pruning: this build has no CUDA (configure with -DSTRATA_CUDA=ON)");
}
}  // namespace

absl::StatusOr<PrunedBlock> PruneBlockHost(const BlockLayout&, std::string_view,
                                           std::span<const float>, const PruneOptions&) {
  return NotBuilt();
}

absl::StatusOr<PageBounds> ComputePageBoundsHost(const BlockLayout&, std::string_view) {
  return NotBuilt();
}

}  // namespace strata::gpu
