// NewCudaCopier in a build without CUDA (STRATA_HAVE_CUDA off): always UNAVAILABLE.
#include "client/gpu_staging.h"

namespace strata::gpu {

bool BuiltWithCuda() { return false; }

absl::StatusOr<std::unique_ptr<DeviceCopier>> NewCudaCopier(int /*device*/) {
  return absl::UnavailableError("no CUDA device: this build has no CUDA (STRATA_CUDA=OFF or no nvcc)");
}

}  // namespace strata::gpu
