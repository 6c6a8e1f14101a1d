// HbmTier: GPU memory tier over one device allocation.
//
// The pool is allocated once (plain device memory from DeviceMemory::Malloc: cudaMalloc, never
// managed memory) and carved into runs of `page_bytes` pages by a PageAllocator, as DramTier
// carves its region; capacity is a hard bound and no device memory is allocated per block.
// Blocks move between the pool and host memory on device streams: Write copies in (H2D), Read
// copies out (D2H), each waiting for its own stream only.
//
// Demotion through a device codec: when the store demotes a plain block to a tier whose codec
// the device implements (fp8-e4m3, int8, kivi), ReadEncoded encodes it on the device into a
// per-stream staging buffer and copies only the encoded bytes out, so the narrow D2H link carries
// the smaller form. CopyOut does the same for a batch with one wait at the end (the pipelined
// form benchmarks and batch movers use). Promotion back is a Write of the decoded block.
//
// Checksums: reads to the host are verified by the store (verify_reads(): the pool shares the
// device with inference kernels, and a stray write there must not be served). A block encoded on
// the device is not re-hashed before encoding (its plain bytes never reach the host); the store
// gives it the checksum of what it decodes to, so every later read is verified against exactly
// what it serves.
//
// Thread-safety: thread-safe. The allocator is guarded by a mutex; copies run outside it on a
// stream taken from a small free list (a slot is private to its writer until the store publishes
// it, and the store erases a slot only when no reader uses it).
#ifndef STRATA_STORAGE_HBM_TIER_H_
#define STRATA_STORAGE_HBM_TIER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "storage/device_memory.h"
#include "storage/page_allocator.h"
#include "storage/tier.h"

namespace strata {

struct HbmTierOptions {
  // Capacity; rounded down to whole pages. The pool is allocated at Create.
  uint64_t capacity_bytes = 0;
  // Allocation granule. KV blocks are 256 KiB - 2 MiB; 64 KiB keeps waste small.
  uint64_t page_bytes = 64 << 10;
  // Device scratch per stream for encoded bodies (outside capacity_bytes, allocated on first
  // use). Blocks whose encoding does not fit are encoded on the CPU instead.
  uint64_t staging_bytes = 64 << 20;
  // Streams a CopyOut batch is spread over (block i on stream i % copy_streams), so one block's
  // encode overlaps another's copy; 1 serializes them.
  int copy_streams = 4;
  // Verify the checksum of every block read back to the host (see above).
  bool verify_reads = true;
};

class HbmTier final : public Tier {
 public:
  // INVALID_ARGUMENT for a bad page size or a capacity below one page; the device's error
  // (RESOURCE_EXHAUSTED, UNAVAILABLE) when the pool cannot be allocated.
  static absl::StatusOr<std::unique_ptr<HbmTier>> Create(const HbmTierOptions& options,
                                                         std::unique_ptr<DeviceMemory> device);
  ~HbmTier() override;

  std::string_view name() const override { return "hbm"; }
  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  uint64_t used_bytes() const override;
  bool verify_reads() const override { return verify_reads_; }
  uint64_t ChargeFor(uint64_t stored_bytes) const override;

  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  absl::Status Erase(std::string_view id, const TierSlot& slot) override;
  absl::Status ReadEncoded(std::string_view id, const TierSlot& slot, const BlockRecord& record,
                           const Codec& codec, std::string* out) override;

  // One block to copy out of the pool: plain (codec == nullptr) or encoded on the device with
  // `codec` (the block must be plain, laid out as `layout`). `dst` is host memory (pinned for
  // full bandwidth) of `dst_capacity` bytes; `bytes` receives what was written there.
  struct CopyOutItem {
    TierSlot slot;
    const Codec* codec = nullptr;
    BlockLayout layout;
    char* dst = nullptr;
    uint64_t dst_capacity = 0;
    uint64_t bytes = 0;
  };
  // Enqueues the items over up to copy_streams streams and waits once for all. INVALID_ARGUMENT naming the item when a
  // destination is too small, a codec is not one the device implements or does not suit the
  // layout; RESOURCE_EXHAUSTED when an encoded body exceeds staging_bytes. On error the
  // destinations' contents are undefined.
  absl::Status CopyOut(absl::Span<CopyOutItem> items);

  DeviceMemory& device() const { return *device_; }
  // The pool's device address (tests of the twin scribble on it; never dereference on a GPU).
  void* TEST_pool() const { return pool_; }

 private:
  struct Lane {
    std::unique_ptr<DeviceStream> stream;
    void* staging = nullptr;  // device, staging_bytes, allocated on first encode
    std::vector<DeviceStream::HostCopy> raw;  // CopyOut's raw items, submitted as one batch
  };
  HbmTier(const HbmTierOptions& options, std::unique_ptr<DeviceMemory> device, void* pool,
          uint64_t capacity);

  absl::StatusOr<std::unique_ptr<Lane>> AcquireLane();
  // Enqueues item `index` on `lane` (staging ring position in *staging_at).
  absl::Status EnqueueCopyOut(Lane& lane, size_t index, CopyOutItem& item, uint64_t* staging_at);
  void ReleaseLane(std::unique_ptr<Lane> lane);
  char* At(const TierSlot& slot) const { return static_cast<char*>(pool_) + slot.offset; }

  // Constant after construction
  const std::unique_ptr<DeviceMemory> device_;
  void* const pool_;
  const uint64_t page_bytes_;
  const uint64_t capacity_bytes_;
  const uint64_t staging_bytes_;
  const bool verify_reads_;
  const int copy_streams_;

  mutable absl::Mutex mu_;
  PageAllocator allocator_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Lane>> idle_lanes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_STORAGE_HBM_TIER_H_
