// The in-memory twin of DeviceMemory (storage/device_memory.h).
#include "storage/device_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/codec_format.h"
#include "kernels/gpu_codec.h"

namespace strata {
namespace {

class MemStream final : public DeviceStream {
 public:
  absl::Status CopyToDevice(void* device_dst, const void* host_src, uint64_t bytes) override {
    std::memcpy(device_dst, host_src, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToHost(void* host_dst, const void* device_src, uint64_t bytes) override {
    std::memcpy(host_dst, device_src, bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Encode(const Codec& codec, const BlockLayout& layout,
                                  const void* device_src, uint64_t src_bytes, void* device_body,
                                  uint64_t body_capacity, char* header) override {
    if (!gpu::HasKernels(codec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("codec: ", std::string(codec.name()), " has no device implementation"));
    }
    if (absl::Status s = codec.CheckLayout(layout, src_bytes); !s.ok()) return s;
    const uint64_t max = codec.MaxEncodedSize(layout, src_bytes);
    if (body_capacity < max - EncodedHeader::kSize) {
      return absl::ResourceExhaustedError(absl::StrCat("device encode: body of ", body_capacity,
                                                       " bytes, ", std::string(codec.name()), " needs ",
                                                       max - EncodedHeader::kSize));
    }
    std::vector<char> out(max);
    absl::StatusOr<size_t> n = codec.EncodeTo(
        layout, std::string_view(static_cast<const char*>(device_src), src_bytes), out);
    if (!n.ok()) {
      // As on a device, a value the codec cannot take shows when the stream is synchronized.
      if (deferred_.ok()) deferred_ = n.status();
      std::memset(header, 0, EncodedHeader::kSize);
      return max;
    }
    std::memcpy(header, out.data(), EncodedHeader::kSize);
    std::memcpy(device_body, out.data() + EncodedHeader::kSize, *n - EncodedHeader::kSize);
    return *n;
  }
  absl::Status Synchronize() override {
    absl::Status s = deferred_;
    deferred_ = absl::OkStatus();
    return s;
  }

 private:
  absl::Status deferred_;
};

class MemDeviceMemory final : public DeviceMemory {
 public:
  explicit MemDeviceMemory(uint64_t capacity) : capacity_(capacity) {}
  ~MemDeviceMemory() override {
    for (auto& [p, bytes] : live_) std::free(p);
  }

  std::string Describe() const override { return "mem"; }

  absl::StatusOr<void*> Malloc(uint64_t bytes) override {
    if (bytes == 0) return absl::InvalidArgumentError("device malloc: 0 bytes");
    absl::MutexLock lock(&mu_);
    if (capacity_ != 0 && used_ + bytes > capacity_) {
      return absl::ResourceExhaustedError(absl::StrCat("device malloc: ", bytes, " bytes, ",
                                                       capacity_ - used_, " free of ", capacity_));
    }
    // 256-byte alignment, as cudaMalloc guarantees.
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (p == nullptr) return absl::ResourceExhaustedError("device malloc: out of host memory");
    used_ += bytes;
    live_[p] = bytes;
    return p;
  }
  void Free(void* p) override {
    if (p == nullptr) return;
    absl::MutexLock lock(&mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return;
    used_ -= it->second;
    live_.erase(it);
    std::free(p);
  }
  absl::StatusOr<void*> MallocHost(uint64_t bytes) override {
    void* p = std::aligned_alloc(4096, (std::max<uint64_t>(bytes, 1) + 4095) / 4096 * 4096);
    if (p == nullptr) return absl::ResourceExhaustedError("pinned malloc: out of host memory");
    return p;
  }
  void FreeHost(void* p) override { std::free(p); }
  absl::StatusOr<std::unique_ptr<DeviceStream>> NewStream() override {
    return std::unique_ptr<DeviceStream>(new MemStream());
  }
  bool CanEncode(const Codec& codec) const override { return gpu::HasKernels(codec); }

 private:
  // Constant after construction
  const uint64_t capacity_;

  absl::Mutex mu_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<void*, uint64_t> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<DeviceMemory> NewMemDeviceMemory(uint64_t capacity_bytes) {
  return std::make_unique<MemDeviceMemory>(capacity_bytes);
}

}  // namespace strata
