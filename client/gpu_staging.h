// DeviceCopier: the narrow interface between the client and a GPU runtime, for moving blocks
// between device memory and pinned host memory (client/gpu_client.h stages GPU buffers through
// it). Two implementations:
//   - NewCudaCopier(): the CUDA runtime (cudaHostAlloc, cudaMemcpyAsync on a stream, events,
//     cudaPointerGetAttributes). Built only with STRATA_HAVE_CUDA; otherwise, and on a machine
//     without a device, it answers UNAVAILABLE saying which.
//   - NewMemoryCopier(): an in-memory twin. Its "device memory" is host memory it hands out
//     (AllocDevice) and tracks, so IsDeviceMemory is exact and copies outside a device
//     allocation fail INVALID_ARGUMENT. Copies are queued and run only when an event recorded
//     after them is waited on (or the stream synchronizes), so code that reads staged bytes
//     before waiting sees stale bytes and fails its tests. Every call is logged (log()) so tests
//     can check the order in which copies were issued and completed.
//
// The model is CUDA's: a CopyStream runs its copies in issue order, asynchronously to the
// caller; a CopyEvent recorded on a stream completes when every copy issued before it has.
// REQUIRES: the host side of a copy is pinned memory from AllocPinned and stays valid, and
// unchanged (CopyToDevice) or unread (CopyToHost), until an event recorded after the copy has
// completed.
//
// Thread-safety: a DeviceCopier may be shared by threads; a CopyStream and its events are used by
// one thread at a time.
#ifndef STRATA_CLIENT_GPU_STAGING_H_
#define STRATA_CLIENT_GPU_STAGING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace strata::gpu {

// Memory owned by a copier (pinned host or device), freed on destruction.
class CopierMemory {
 public:
  CopierMemory(char* data, size_t size, std::function<void(char*)> free)
      : data_(data), size_(size), free_(std::move(free)) {}
  ~CopierMemory() {
    if (free_) free_(data_);
  }
  CopierMemory(const CopierMemory&) = delete;
  CopierMemory& operator=(const CopierMemory&) = delete;
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* const data_;
  const size_t size_;
  const std::function<void(char*)> free_;
};

class CopyEvent {
 public:
  virtual ~CopyEvent() = default;
  // Blocks until every copy issued on the stream before this event was recorded has completed;
  // the first failed copy's status otherwise.
  virtual absl::Status Wait() = 0;
};

class CopyStream {
 public:
  virtual ~CopyStream() = default;
  // Queue a copy of n bytes; both return at once (errors here are argument errors).
  virtual absl::Status CopyToHost(char* host, const char* device, size_t n) = 0;
  virtual absl::Status CopyToDevice(char* device, const char* host, size_t n) = 0;
  // An event that completes once the copies issued so far have.
  virtual absl::StatusOr<std::unique_ptr<CopyEvent>> Record() = 0;
  // Waits for every copy issued so far.
  virtual absl::Status Synchronize() = 0;
};

class DeviceCopier {
 public:
  virtual ~DeviceCopier() = default;
  // "cuda" or "memory".
  virtual std::string_view name() const = 0;
  // A one-line description (device name, memory) for benchmarks and logs.
  virtual std::string Describe() const = 0;
  // Whether `ptr` points into device memory (cudaPointerGetAttributes: cudaMemoryTypeDevice).
  // Host memory, pinned or not, is false.
  virtual absl::StatusOr<bool> IsDeviceMemory(const void* ptr) const = 0;
  // Page-locked host memory, for staging (cudaHostAlloc).
  virtual absl::StatusOr<std::unique_ptr<CopierMemory>> AllocPinned(size_t bytes) = 0;
  // Device memory (cudaMalloc), for tests and benchmarks; the client never allocates any.
  virtual absl::StatusOr<std::unique_ptr<CopierMemory>> AllocDevice(size_t bytes) = 0;
  virtual absl::StatusOr<std::unique_ptr<CopyStream>> NewStream() = 0;
};

// The CUDA runtime on `device`. UNAVAILABLE when built without CUDA or when no device is present
// (the message says which).
absl::StatusOr<std::unique_ptr<DeviceCopier>> NewCudaCopier(int device = 0);
// Whether this build has the CUDA copier at all.
bool BuiltWithCuda();

// The in-memory twin (see the top of this file).
class MemoryCopier : public DeviceCopier {
 public:
  struct LogEntry {
    enum Kind { kIssueToHost, kIssueToDevice, kRunToHost, kRunToDevice, kRecord, kWait, kNote };
    Kind kind;
    const char* device = nullptr;  // the device side of a copy
    size_t bytes = 0;
    std::string note;  // kNote
  };

  MemoryCopier() = default;
  ~MemoryCopier() override = default;
  std::string_view name() const override { return "memory"; }
  std::string Describe() const override { return "in-memory twin"; }
  absl::StatusOr<bool> IsDeviceMemory(const void* ptr) const override;
  absl::StatusOr<std::unique_ptr<CopierMemory>> AllocPinned(size_t bytes) override;
  absl::StatusOr<std::unique_ptr<CopierMemory>> AllocDevice(size_t bytes) override;
  absl::StatusOr<std::unique_ptr<CopyStream>> NewStream() override;

  // Appends a note to the log, for a test to place its own steps among the copies.
  void Note(std::string note);
  std::vector<LogEntry> log() const;
  // Pinned bytes allocated and not yet freed.
  size_t pinned_bytes() const;

 private:
  class Stream;
  friend class Stream;
  void Append(LogEntry entry);
  // OK when [ptr, ptr+n) lies inside one device allocation.
  absl::Status CheckDevice(const char* ptr, size_t n, std::string_view what) const;

  mutable absl::Mutex mu_;
  // Device allocations: base -> size.
  std::vector<std::pair<const char*, size_t>> device_ ABSL_GUARDED_BY(mu_);
  size_t pinned_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<LogEntry> log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata::gpu

#endif  // STRATA_CLIENT_GPU_STAGING_H_
