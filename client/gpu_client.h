// strata::GpuClient: GPU buffers as Put sources and Get destinations, over a strata::Client.
//
// Two ways to move a device buffer, chosen once when the GpuClient is created:
//   - staged (Debian's UCX, which has no CUDA transports; any cluster client): blocks go through
//     two pinned host buffers of GpuClientOptions::chunk_bytes each, registered with the client
//     once. A batch is cut into chunks of whole blocks that fit one buffer; while the node reads
//     chunk i (PutFrom) the device-to-host copy of chunk i+1 runs, and while chunk i+1 arrives
//     (GetInto) the host-to-device copy of chunk i runs (client/internal/gpu_pipeline.h). One
//     block must fit a staging buffer (chunk_bytes; the node's max_payload_bytes by default).
//   - direct (UCX built with CUDA: ucp_context_query reports UCS_MEMORY_TYPE_CUDA, seen as
//     Client::data_plane_cuda_memory()): RegisterDeviceBuffer registers the device memory itself
//     with UCX and the node reads and writes it without a host copy. PutFrom still copies each
//     block through a staging buffer to compute its checksum (XXH3 on the host; the node checks
//     it), so direct Put saves the network's host bounce, not the copy.
// Registration::kAuto picks direct when UCX reports CUDA memory, staged otherwise; kStaged and
// kDirect force one (kDirect registers even when UCX does not report support: for the
// in-memory copier twin, whose "device" memory is host memory, and a UCX that misreports).
//
// Errors: every block of a batch is checked before anything moves (INVALID_ARGUMENT naming the
// field: keys, sizes, ranges in the device buffer, a block larger than a staging buffer), so a
// refused batch stores nothing. A pointer that is not device memory is refused at
// RegisterDeviceBuffer. Per-key results are as Client::GetInto / PutFrom's; a call-level failure
// in the middle of a batch (the node went away) returns that status, and chunks sent before it
// stay stored.
//
// Thread-safe; calls on one GpuClient take turns on its staging buffers (use one GpuClient per
// thread to run them in parallel). REQUIRES: the Client and the DeviceCopier outlive it.
#ifndef STRATA_CLIENT_GPU_CLIENT_H_
#define STRATA_CLIENT_GPU_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "client/gpu_staging.h"

namespace strata {

struct GpuClientOptions {
  // Bytes in each of the two pinned staging buffers; the largest block a call may move. 0: the
  // node's max_payload_bytes.
  uint64_t chunk_bytes = 0;
  enum class Registration { kAuto, kStaged, kDirect };
  Registration registration = Registration::kAuto;
};

// Device memory made known to a GpuClient (GpuClient::RegisterDeviceBuffer). REQUIRES: the
// GpuClient outlives it and the memory stays allocated while it lives.
class DeviceBuffer {
 public:
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  friend class GpuClient;
  DeviceBuffer(char* data, size_t size, std::unique_ptr<RegisteredBuffer> direct)
      : data_(data), size_(size), direct_(std::move(direct)) {}
  char* const data_;
  const size_t size_;
  // Set in direct mode: the memory registered with UCX.
  const std::unique_ptr<RegisteredBuffer> direct_;
};

class GpuClient {
 public:
  // Allocates and registers the two staging buffers. FAILED_PRECONDITION for kDirect without a
  // UCX data plane (a routed client, or the gRPC path).
  static absl::StatusOr<std::unique_ptr<GpuClient>> Create(Client* client,
                                                           gpu::DeviceCopier* copier,
                                                           const GpuClientOptions& options = {});
  ~GpuClient();

  // [ptr, ptr+len) must be device memory (DeviceCopier::IsDeviceMemory): INVALID_ARGUMENT
  // otherwise (host memory goes through Client::RegisterBuffer). Registers it with UCX in direct
  // mode (slow: register few, large buffers).
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> RegisterDeviceBuffer(void* ptr, size_t len);

  // As Client::PutFrom / GetInto, with the blocks in (or landing in) device memory.
  absl::StatusOr<std::vector<absl::Status>> PutFrom(std::string_view ns, const DeviceBuffer& buffer,
                                                    absl::Span<const PutFromBlock> blocks);
  absl::StatusOr<std::vector<GetIntoResult>> GetInto(std::string_view ns,
                                                     absl::Span<const std::string> keys,
                                                     const DeviceBuffer& buffer,
                                                     absl::Span<const uint64_t> offsets,
                                                     absl::Span<const uint64_t> capacities);

  // "direct" or "staged".
  std::string_view mode() const { return direct_ ? "direct" : "staged"; }
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  struct Counters {
    uint64_t chunks = 0;        // staging chunks moved (both directions)
    uint64_t staged_bytes = 0;  // bytes copied through staging buffers
    uint64_t direct_calls = 0;  // calls whose bytes moved straight to or from device memory
  };
  Counters counters() const;

 private:
  GpuClient(Client* client, gpu::DeviceCopier* copier, uint64_t chunk_bytes, bool direct)
      : client_(client), copier_(copier), chunk_bytes_(chunk_bytes), direct_(direct) {}

  // Constant after construction
  Client* const client_;
  gpu::DeviceCopier* const copier_;
  const uint64_t chunk_bytes_;
  const bool direct_;

  // The staging buffers, their registrations and the copy stream; one call at a time.
  absl::Mutex mu_;
  std::unique_ptr<gpu::CopierMemory> slot_memory_[2] ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RegisteredBuffer> slots_[2] ABSL_GUARDED_BY(mu_);
  std::unique_ptr<gpu::CopyStream> stream_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> chunks_{0}, staged_bytes_{0}, direct_calls_{0};
};

}  // namespace strata

#endif  // STRATA_CLIENT_GPU_CLIENT_H_
