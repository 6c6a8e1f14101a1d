// DramTier: host memory tier over one pre-faulted region.
//
// The region is mapped once (MAP_POPULATE, transparent huge pages requested) so no block write
// pays first-touch faults, and so the data plane can register it with UCX once (region()).
// Blocks occupy contiguous runs of `page_bytes` pages handed out by a PageAllocator; capacity is
// a hard bound and no memory is allocated per block for payloads. Thread-safe: the allocator is
// guarded by a mutex, payload copies run outside it (a slot is private to its writer until the
// store publishes it).
#ifndef STRATA_STORAGE_DRAM_TIER_H_
#define STRATA_STORAGE_DRAM_TIER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/page_allocator.h"
#include "storage/tier.h"

namespace strata {

// An anonymous mapping, pre-faulted, unmapped on destruction.
class DramRegion {
 public:
  // RESOURCE_EXHAUSTED when the mapping fails.
  static absl::StatusOr<std::unique_ptr<DramRegion>> Map(size_t bytes);
  ~DramRegion();
  DramRegion(const DramRegion&) = delete;
  DramRegion& operator=(const DramRegion&) = delete;

  char* data() const { return base_; }
  size_t size() const { return size_; }

 private:
  DramRegion(char* base, size_t size) : base_(base), size_(size) {}
  char* const base_;
  const size_t size_;
};

struct DramTierOptions {
  // Capacity; rounded down to whole pages.
  uint64_t capacity_bytes = 1ull << 30;
  // Allocation granule. 4 KiB keeps small blocks cheap; KV blocks are usually far larger.
  uint64_t page_bytes = 4096;
};

class DramTier final : public Tier {
 public:
  static absl::StatusOr<std::unique_ptr<DramTier>> Create(const DramTierOptions& options);

  std::string_view name() const override { return "dram"; }
  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  uint64_t used_bytes() const override;
  bool verify_reads() const override { return false; }
  uint64_t ChargeFor(uint64_t stored_bytes) const override;

  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  absl::Status Erase(std::string_view id, const TierSlot& slot) override;

  // The bytes of a live slot, for zero-copy senders. Valid until the slot is erased: the caller
  // must hold the block pinned in the store.
  std::optional<std::string_view> View(const TierSlot& slot) const override;
  absl::StatusOr<TierSlot> Allocate(std::string_view id, uint64_t version,
                                    const BlockRecord& record, uint64_t stored_bytes,
                                    char** data) override;
  const DramRegion& region() const { return *region_; }
  uint64_t largest_free_run_bytes() const;

 private:
  DramTier(std::unique_ptr<DramRegion> region, uint64_t page_bytes);

  // Constant after construction
  const std::unique_ptr<DramRegion> region_;
  const uint64_t page_bytes_;
  const uint64_t capacity_bytes_;

  mutable absl::Mutex mu_;
  PageAllocator allocator_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_STORAGE_DRAM_TIER_H_
