// DeviceMemory: the narrow slice of a GPU runtime the HBM tier needs, so its logic runs (and is
// tested) on machines without a GPU.
//
// A DeviceMemory hands out plain device allocations (cudaMalloc: never managed memory, whose
// page migration would make the tier's bandwidth unpredictable), pinned host buffers, and
// streams. A DeviceStream orders copies between device and host and codec encodes on the device;
// nothing it enqueues is guaranteed done, or its errors reported, until Synchronize() returns.
// Device pointers are opaque to the caller: only a DeviceStream may read or write through them.
//
// Implementations:
//   NewCudaDeviceMemory  CUDA device `device` (storage/cuda_device_memory.cc, built when CMake's
//                        STRATA_HAVE_CUDA is ON; UNAVAILABLE without CUDA or without a device).
//   NewMemDeviceMemory   the in-memory twin: "device" memory is host memory, streams run each
//                        operation at once (which is one valid stream order), encodes run the CPU
//                        codecs. For tests everywhere.
// Thread-safety: DeviceMemory is thread-safe. A DeviceStream is used by one thread at a time.
#ifndef STRATA_STORAGE_DEVICE_MEMORY_H_
#define STRATA_STORAGE_DEVICE_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/block_layout.h"
#include "kernels/codec.h"

namespace strata {

class DeviceStream {
 public:
  virtual ~DeviceStream() = default;

  // Enqueue a copy of `bytes` bytes. `host` may be pageable (the copy then may not overlap
  // other work) or pinned (DeviceMemory::MallocHost; the copy runs at full bandwidth).
  virtual absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes) = 0;
  // One device-to-host copy of a batch.
  struct HostCopy {
    void* host_dst;
    const void* device_src;
    uint64_t bytes;
  };
  // Enqueue many device-to-host copies: the batch is in stream order as a whole, its copies in
  // no particular order among themselves (their ranges must not overlap). The CUDA stream
  // submits them in one call where the runtime has one (cudaMemcpyBatchAsync, CUDA 13), which
  // saves a submission per block when many small blocks leave at once; this default issues
  // CopyToHost per copy.
  virtual absl::Status CopyToHostBatch(absl::Span<const HostCopy> copies) {
    for (const HostCopy& c : copies) {
      if (absl::Status s = CopyToHost(c.host_dst, c.device_src, c.bytes); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Enqueue the encode of the block at `device_src` (`src_bytes` bytes laid out as `layout`)
  // with `codec`: the body goes to `device_body` (at least MaxEncodedSize - EncodedHeader::kSize
  // bytes), the header, known at once, into `header` (host, EncodedHeader::kSize bytes). Returns
  // the encoded length, header included. INVALID_ARGUMENT when DeviceMemory::CanEncode(codec) is
  // false or the layout does not suit the codec. Values the codec cannot represent make the
  // next Synchronize answer INVALID_ARGUMENT.
  virtual absl::StatusOr<uint64_t> Encode(const Codec& codec, const BlockLayout& layout,
                                          const void* device_src, uint64_t src_bytes,
                                          void* device_body, uint64_t body_capacity,
                                          char* header) = 0;
  // Waits for everything enqueued; reports the first failure among it.
  virtual absl::Status Synchronize() = 0;
};

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;

  // "cuda:0 (NVIDIA H200)", "mem".
  virtual std::string Describe() const = 0;

  // A device allocation of `bytes` bytes (> 0). RESOURCE_EXHAUSTED when the device has no room.
  virtual absl::StatusOr<void*> Malloc(uint64_t bytes) = 0;
  // REQUIRES: p came from Malloc and nothing enqueued still uses it.
  virtual void Free(void* p) = 0;
  // Pinned (page-locked) host memory: what copies reach full bandwidth from and to.
  virtual absl::StatusOr<void*> MallocHost(uint64_t bytes) = 0;
  virtual void FreeHost(void* p) = 0;

  virtual absl::StatusOr<std::unique_ptr<DeviceStream>> NewStream() = 0;
  // Whether streams can encode blocks with `codec` on the device.
  virtual bool CanEncode(const Codec& codec) const = 0;
};

// Device `device` through the CUDA runtime. UNAVAILABLE when the build has no CUDA or the
// machine has no such device (the message says which).
absl::StatusOr<std::unique_ptr<DeviceMemory>> NewCudaDeviceMemory(int device = 0);
// Number of CUDA devices usable by NewCudaDeviceMemory (0 without CUDA).
int CudaDeviceCount();

// The in-memory twin. `capacity_bytes` bounds what Malloc hands out in all (0: unbounded), so
// tests can see RESOURCE_EXHAUSTED. Encodes support the codecs the GPU supports (lossy ones).
std::unique_ptr<DeviceMemory> NewMemDeviceMemory(uint64_t capacity_bytes = 0);

}  // namespace strata

#endif  // STRATA_STORAGE_DEVICE_MEMORY_H_
