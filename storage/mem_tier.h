// MemTier: an in-memory Tier, the twin of SsdTier for tests and for accounting-only replay.
// With `keep_bytes` false it stores no payload (reads return zeros of the right size), so a
// trace replay can run the real index and eviction code without the memory. Thread-safe.
#ifndef STRATA_STORAGE_MEM_TIER_H_
#define STRATA_STORAGE_MEM_TIER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/tier.h"

namespace strata {

struct MemTierOptions {
  std::string name = "ssd";
  uint64_t capacity_bytes = 64ull << 20;
  bool keep_bytes = true;
  bool persistent = false;
};

class MemTier final : public Tier {
 public:
  explicit MemTier(const MemTierOptions& options) : options_(options) {}

  std::string_view name() const override { return options_.name; }
  uint64_t capacity_bytes() const override { return options_.capacity_bytes; }
  uint64_t used_bytes() const override;
  bool persistent() const override { return options_.persistent; }

  // In place only when the tier keeps bytes (options.keep_bytes).
  absl::StatusOr<TierSlot> Allocate(std::string_view id, uint64_t version,
                                    const BlockRecord& record, uint64_t stored_bytes,
                                    char** data) override;
  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  absl::Status Erase(std::string_view id, const TierSlot& slot) override;
  absl::Status Recover(
      absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
      uint64_t* dropped) override;

  // Test access: the stored bytes of `id`, to damage them as a failing medium would.
  absl::Status TEST_Corrupt(std::string_view id, size_t byte_index);

 private:
  struct Stored {
    BlockRecord record;
    std::string bytes;
    uint64_t size = 0;
  };
  // Accounts for `size` bytes as `version` of `id` (replacing that version) and returns its
  // entry; RESOURCE_EXHAUSTED when they do not fit.
  absl::StatusOr<Stored*> PlaceLocked(std::string_view id, uint64_t version,
                                      const BlockRecord& record, uint64_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const MemTierOptions options_;
  mutable absl::Mutex mu_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  // Node-based: Allocate hands out pointers into a stored block, which must not move.
  absl::node_hash_map<std::string, Stored> blocks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_STORAGE_MEM_TIER_H_
