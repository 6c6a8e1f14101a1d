// The CUDA DeviceCopier (gpu_staging.h): the client's one boundary with the CUDA runtime, where
// cudaError_t becomes absl::Status. Built only with STRATA_HAVE_CUDA (client/CMakeLists.txt).
#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "client/gpu_staging.h"

namespace strata::gpu {
namespace {

absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", cudaGetErrorName(err), " (",
                                       cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  if (err == cudaErrorInvalidValue) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

class CudaEvent : public CopyEvent {
 public:
  explicit CudaEvent(cudaEvent_t event) : event_(event) {}
  ~CudaEvent() override { cudaEventDestroy(event_); }
  absl::Status Wait() override { return CudaStatus(cudaEventSynchronize(event_), "cudaEventSynchronize"); }

 private:
  const cudaEvent_t event_;
};

class CudaStream : public CopyStream {
 public:
  CudaStream(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  ~CudaStream() override {
    cudaStreamSynchronize(stream_);  // best effort: nothing may still read freed memory
    cudaStreamDestroy(stream_);
  }
  absl::Status CopyToHost(char* host, const char* device, size_t n) override {
    return CudaStatus(cudaMemcpyAsync(host, device, n, cudaMemcpyDeviceToHost, stream_),
                      "cudaMemcpyAsync device-to-host");
  }
  absl::Status CopyToDevice(char* device, const char* host, size_t n) override {
    return CudaStatus(cudaMemcpyAsync(device, host, n, cudaMemcpyHostToDevice, stream_),
                      "cudaMemcpyAsync host-to-device");
  }
  absl::StatusOr<std::unique_ptr<CopyEvent>> Record() override {
    cudaEvent_t event;
    if (absl::Status st = CudaStatus(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                                     "cudaEventCreate");
        !st.ok()) {
      return st;
    }
    auto owned = std::make_unique<CudaEvent>(event);
    if (absl::Status st = CudaStatus(cudaEventRecord(event, stream_), "cudaEventRecord"); !st.ok()) {
      return st;
    }
    return std::unique_ptr<CopyEvent>(std::move(owned));
  }
  absl::Status Synchronize() override {
    return CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  [[maybe_unused]] const int device_;
  const cudaStream_t stream_;
};

class CudaCopier : public DeviceCopier {
 public:
  explicit CudaCopier(int device) : device_(device) {}
  std::string_view name() const override { return "cuda"; }
  std::string Describe() const override {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device_) != cudaSuccess) return "cuda device ?";
    return absl::StrCat("cuda device ", device_, ": ", prop.name, ", ",
                        prop.totalGlobalMem >> 20, " MiB, sm_", prop.major, prop.minor);
  }
  absl::StatusOr<bool> IsDeviceMemory(const void* ptr) const override {
    cudaPointerAttributes attr;
    cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
    if (err == cudaErrorInvalidValue) {
      cudaGetLastError();  // older runtimes: an unregistered host pointer; clear the sticky error
      return false;
    }
    if (absl::Status st = CudaStatus(err, "cudaPointerGetAttributes"); !st.ok()) return st;
    return attr.type == cudaMemoryTypeDevice;
  }
  absl::StatusOr<std::unique_ptr<CopierMemory>> AllocPinned(size_t bytes) override {
    if (bytes == 0) return absl::InvalidArgumentError("AllocPinned: zero bytes");
    if (absl::Status st = CudaStatus(cudaSetDevice(device_), "cudaSetDevice"); !st.ok()) return st;
    void* p = nullptr;
    if (absl::Status st = CudaStatus(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "cudaHostAlloc");
        !st.ok()) {
      return st;
    }
    return std::make_unique<CopierMemory>(static_cast<char*>(p), bytes,
                                          [](char* q) { cudaFreeHost(q); });
  }
  absl::StatusOr<std::unique_ptr<CopierMemory>> AllocDevice(size_t bytes) override {
    if (bytes == 0) return absl::InvalidArgumentError("AllocDevice: zero bytes");
    if (absl::Status st = CudaStatus(cudaSetDevice(device_), "cudaSetDevice"); !st.ok()) return st;
    void* p = nullptr;
    if (absl::Status st = CudaStatus(cudaMalloc(&p, bytes), "cudaMalloc"); !st.ok()) return st;
    return std::make_unique<CopierMemory>(static_cast<char*>(p), bytes,
                                          [](char* q) { cudaFree(q); });
  }
  absl::StatusOr<std::unique_ptr<CopyStream>> NewStream() override {
    if (absl::Status st = CudaStatus(cudaSetDevice(device_), "cudaSetDevice"); !st.ok()) return st;
    cudaStream_t stream;
    if (absl::Status st = CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                                     "cudaStreamCreate");
        !st.ok()) {
      return st;
    }
    return std::unique_ptr<CopyStream>(new CudaStream(device_, stream));
  }

 private:
  const int device_;
};

}  // namespace

bool BuiltWithCuda() { return true; }

absl::StatusOr<std::unique_ptr<DeviceCopier>> NewCudaCopier(int device) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device: cudaGetDeviceCount found ", count,
        err == cudaSuccess ? "" : absl::StrCat(" (", cudaGetErrorName(err), ")")));
  }
  if (device < 0 || device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("device: ", device, " is not one of the ", count, " CUDA devices"));
  }
  return std::unique_ptr<DeviceCopier>(new CudaCopier(device));
}

}  // namespace strata::gpu
