// cudaError_t -> absl::Status, for the CUDA sources of kernels/cuda/ and nowhere else (the one
// boundary where CUDA's errors become Strata's; STYLE.md practice 1). Internal to kernels/cuda.
#ifndef STRATA_KERNELS_CUDA_CUDA_STATUS_H_
#define STRATA_KERNELS_CUDA_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace strata::gpu {

// No device / driver: UNAVAILABLE; out of memory: RESOURCE_EXHAUSTED; anything else: INTERNAL.
inline absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  const std::string msg = absl::StrCat("CUDA ", what, ": ", cudaGetErrorString(e));
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ||
      e == cudaErrorDevicesUnavailable) {
    return absl::UnavailableError(msg);
  }
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

#define STRATA_CUDA_RETURN_IF_ERROR(expr, what)                                   \
  do {                                                                            \
    ::absl::Status strata_cuda_status_ = ::strata::gpu::CudaStatus((expr), what); \
    if (!strata_cuda_status_.ok()) return strata_cuda_status_;                    \
  } while (0)

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DeviceBuffer = std::unique_ptr<void, CudaFree>;

inline absl::StatusOr<DeviceBuffer> Allocate(uint64_t bytes) {
  void* p = nullptr;
  STRATA_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, std::max<uint64_t>(bytes, 1)), "cudaMalloc");
  return DeviceBuffer(p);
}

}  // namespace strata::gpu

#endif  // STRATA_KERNELS_CUDA_CUDA_STATUS_H_
