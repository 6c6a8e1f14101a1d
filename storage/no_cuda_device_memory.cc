// DeviceMemory over CUDA in a build without CUDA: there is no device to use.
#include "storage/device_memory.h"

namespace strata {

absl::StatusOr<std::unique_ptr<DeviceMemory>> NewCudaDeviceMemory(int /*device*/) {
  return absl::UnavailableError("this build has no CUDA (configure with -DSTRATA_CUDA=ON)");
}

int CudaDeviceCount() { return 0; }

}  // namespace strata
