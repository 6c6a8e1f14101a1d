// DeviceMemory over the CUDA runtime (storage/device_memory.h). Built when STRATA_HAVE_CUDA is
// ON. cudaError_t becomes absl::Status in CudaStatus and nowhere else in storage/.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/gpu_codec.h"
#include "storage/device_memory.h"

namespace strata {
namespace {

absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  const std::string msg = absl::StrCat("CUDA ", what, ": ", cudaGetErrorString(e));
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ||
      e == cudaErrorDevicesUnavailable || e == cudaErrorInvalidDevice) {
    return absl::UnavailableError(msg);
  }
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

#define STRATA_CUDA_OK(expr, what)                                     \
  do {                                                                 \
    ::absl::Status strata_cuda_status_ = CudaStatus((expr), what);     \
    if (!strata_cuda_status_.ok()) return strata_cuda_status_;         \
  } while (0)

class CudaStream final : public DeviceStream {
 public:
  CudaStream(int device, cudaStream_t stream, int* d_error)
      : device_(device), stream_(stream), d_error_(d_error) {}
  ~CudaStream() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);  // nothing enqueued may outlive the stream's buffers
    cudaFree(d_error_);
    cudaFreeHost(h_error_);
    cudaStreamDestroy(stream_);
  }

  absl::Status Init() {
    STRATA_CUDA_OK(cudaMallocHost(&h_error_, sizeof(int)), "cudaMallocHost");
    *h_error_ = 0;
    STRATA_CUDA_OK(cudaMemsetAsync(d_error_, 0, sizeof(int), stream_), "memset");
    return absl::OkStatus();
  }

  absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes) override {
    return CudaStatus(
        cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream_), "H2D");
  }
  absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes) override {
    return CudaStatus(
        cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream_), "D2H");
  }
  absl::Status CopyToHostBatch(absl::Span<const HostCopy> copies) override {
#if CUDART_VERSION >= 13000
    if (copies.size() > 1 && batch_usable_) {
      dsts_.clear();
      srcs_.clear();
      sizes_.clear();
      for (const HostCopy& c : copies) {
        dsts_.push_back(c.host_dst);
        srcs_.push_back(c.device_src);
        sizes_.push_back(c.bytes);
      }
      // One attribute for every copy: read the device source in stream order (the location
      // hints apply only to managed or pageable memory, which the tier never uses).
      cudaMemcpyAttributes attr = {};
      attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
      size_t first = 0;
      const cudaError_t e = cudaMemcpyBatchAsync(dsts_.data(), srcs_.data(), sizes_.data(),
                                                 copies.size(), &attr, &first, 1, stream_);
      if (e == cudaSuccess) return absl::OkStatus();
      if (e != cudaErrorNotSupported && e != cudaErrorInvalidValue) {
        return CudaStatus(e, "D2H batch");
      }
      // A driver or platform without batched copies: nothing was enqueued; copy one by one
      // from now on.
      (void)cudaGetLastError();
      batch_usable_ = false;
    }
#endif
    return DeviceStream::CopyToHostBatch(copies);
  }
  absl::StatusOr<uint64_t> Encode(const Codec& codec, const BlockLayout& layout,
                                  const void* device_src, uint64_t src_bytes, void* device_body,
                                  uint64_t body_capacity, char* header) override {
    STRATA_CUDA_OK(cudaSetDevice(device_), "cudaSetDevice");
    absl::StatusOr<uint64_t> n = gpu::EncodeBodyAsync(
        codec, layout, device_src, src_bytes, device_body, body_capacity, header, d_error_, stream_);
    if (n.ok()) encoded_ = true;
    return n;
  }
  absl::Status Synchronize() override {
    if (encoded_) {
      STRATA_CUDA_OK(
          cudaMemcpyAsync(h_error_, d_error_, sizeof(int), cudaMemcpyDeviceToHost, stream_),
          "flag copy");
    }
    STRATA_CUDA_OK(cudaStreamSynchronize(stream_), "stream");
    if (encoded_) {
      encoded_ = false;
      if (*h_error_ != 0) {
        *h_error_ = 0;
        STRATA_CUDA_OK(cudaMemsetAsync(d_error_, 0, sizeof(int), stream_), "memset");
        return absl::InvalidArgumentError(
            "device encode: values are not finite or exceed the range the codec stores");
      }
    }
    return absl::OkStatus();
  }

 private:
  // Constant after construction
  const int device_;
  const cudaStream_t stream_;
  int* const d_error_;

  int* h_error_ = nullptr;
  bool encoded_ = false;  // an encode was enqueued since the last Synchronize
  bool batch_usable_ = true;  // false once the runtime refused cudaMemcpyBatchAsync
  std::vector<void*> dsts_;   // CopyToHostBatch's arrays, kept to reuse their memory
  std::vector<const void*> srcs_;
  std::vector<size_t> sizes_;
};

class CudaDeviceMemory final : public DeviceMemory {
 public:
  CudaDeviceMemory(int device, std::string name) : device_(device), name_(std::move(name)) {}

  std::string Describe() const override { return absl::StrCat("cuda:", device_, " (", name_, ")"); }

  absl::StatusOr<void*> Malloc(uint64_t bytes) override {
    if (bytes == 0) return absl::InvalidArgumentError("device malloc: 0 bytes");
    STRATA_CUDA_OK(cudaSetDevice(device_), "cudaSetDevice");
    void* p = nullptr;
    // Plain device memory; never cudaMallocManaged (page migration under the tier).
    STRATA_CUDA_OK(cudaMalloc(&p, bytes), "cudaMalloc");
    return p;
  }
  void Free(void* p) override {
    cudaSetDevice(device_);
    cudaFree(p);  // swallowed on purpose: nothing useful to do with a failed free
  }
  absl::StatusOr<void*> MallocHost(uint64_t bytes) override {
    void* p = nullptr;
    STRATA_CUDA_OK(cudaMallocHost(&p, std::max<uint64_t>(bytes, 1)), "cudaMallocHost");
    return p;
  }
  void FreeHost(void* p) override { cudaFreeHost(p); }
  absl::StatusOr<std::unique_ptr<DeviceStream>> NewStream() override {
    STRATA_CUDA_OK(cudaSetDevice(device_), "cudaSetDevice");
    cudaStream_t stream = nullptr;
    STRATA_CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream create");
    void* flag = nullptr;
    if (absl::Status s = CudaStatus(cudaMalloc(&flag, sizeof(int)), "cudaMalloc"); !s.ok()) {
      cudaStreamDestroy(stream);
      return s;
    }
    auto out = std::make_unique<CudaStream>(device_, stream, static_cast<int*>(flag));
    if (absl::Status s = out->Init(); !s.ok()) return s;
    return std::unique_ptr<DeviceStream>(std::move(out));
  }
  bool CanEncode(const Codec& codec) const override { return gpu::Supports(codec); }

 private:
  const int device_;
  const std::string name_;
};

}  // namespace

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // on purpose: "no device" is the answer 0, not an error to keep
    return 0;
  }
  return n;
}

absl::StatusOr<std::unique_ptr<DeviceMemory>> NewCudaDeviceMemory(int device) {
  const int n = CudaDeviceCount();
  if (device < 0 || device >= n) {
    return absl::UnavailableError(
        n == 0 ? std::string("no CUDA device on this machine")
               : absl::StrCat("CUDA device ", device, " does not exist (", n, " present)"));
  }
  cudaDeviceProp prop;
  STRATA_CUDA_OK(cudaGetDeviceProperties(&prop, device), "device properties");
  STRATA_CUDA_OK(cudaSetDevice(device), "cudaSetDevice");
  return std::unique_ptr<DeviceMemory>(new CudaDeviceMemory(device, prop.name));
}

}  // namespace strata
