// FaultTier: a Tier that forwards every call to another tier and injects the faults a failing
// medium shows, so tests can check what TieredStore and the node do about them (STYLE.md 4:
// faults are injected by wrappers, never by hooks in production classes; the twin of
// transfer/fault_transport.h for storage).
//
// Faults (TierFaults), switched on and off at any time with Set():
//  - fail_writes: Write and Allocate answer UNAVAILABLE ("injected write error") and store
//    nothing, as a device that returns EIO does; the tier reports itself degraded.
//  - no_space: Write and Allocate answer UNAVAILABLE ("disk full") and store nothing; degraded.
//  - fail_reads: Read answers UNAVAILABLE ("injected read error"): the device could not read,
//    nothing is known about the bytes (the block is kept; a later read may succeed).
//  - corrupt_reads: Read succeeds but one byte of what it returns is flipped (silent corruption:
//    the medium reports no error). Only the checksum can tell.
//  - lose_reads: Read answers DATA_LOSS, as a medium that knows a block is damaged does (a lost
//    blob file).
// While a read fault is set View() answers nullopt, so memory tiers are read through Read() too.
// The tier's health is degraded while a write fault is set, else the wrapped tier's; clearing
// the fault recovers it. Everything else (capacity, persistence, Erase, Recover, Flush)
// forwards unchanged.
//
// Thread-safe: faults and counters are atomics; the wrapped tier is thread-safe by contract.
#ifndef STRATA_STORAGE_FAULT_TIER_H_
#define STRATA_STORAGE_FAULT_TIER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "storage/tier.h"

namespace strata {

struct TierFaults {
  bool fail_writes = false;
  bool no_space = false;
  bool fail_reads = false;
  bool corrupt_reads = false;
  bool lose_reads = false;
};

class FaultTier final : public Tier {
 public:
  explicit FaultTier(std::unique_ptr<Tier> base) : base_(std::move(base)) {}

  // Replaces the faults in force (none until called).
  void Set(const TierFaults& faults);
  TierFaults faults() const;

  // What was injected so far.
  struct Counts {
    uint64_t writes_refused = 0;
    uint64_t reads_failed = 0;
    uint64_t reads_corrupted = 0;
    uint64_t reads_lost = 0;
  };
  Counts counts() const;

  Tier& base() { return *base_; }

  std::string_view name() const override { return base_->name(); }
  uint64_t capacity_bytes() const override { return base_->capacity_bytes(); }
  uint64_t used_bytes() const override { return base_->used_bytes(); }
  bool persistent() const override { return base_->persistent(); }
  bool verify_reads() const override { return base_->verify_reads(); }
  TierHealth health() const override;
  uint64_t ChargeFor(uint64_t stored_bytes) const override {
    return base_->ChargeFor(stored_bytes);
  }

  absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version, const BlockRecord& record,
                                 std::string_view bytes) override;
  absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) override;
  std::optional<std::string_view> View(const TierSlot& slot) const override;
  absl::StatusOr<TierSlot> Allocate(std::string_view id, uint64_t version,
                                    const BlockRecord& record, uint64_t stored_bytes,
                                    char** data) override;
  absl::Status Erase(std::string_view id, const TierSlot& slot) override {
    return base_->Erase(id, slot);
  }
  absl::Status Recover(
      absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
      uint64_t* dropped) override {
    return base_->Recover(fn, dropped);
  }
  absl::Status Flush() override { return base_->Flush(); }

 private:
  // UNAVAILABLE naming the write fault in force, or OK.
  absl::Status WriteFault() const;
  bool ReadFaultSet() const;

  // Constant after construction
  const std::unique_ptr<Tier> base_;

  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> no_space_{false};
  std::atomic<bool> fail_reads_{false};
  std::atomic<bool> corrupt_reads_{false};
  std::atomic<bool> lose_reads_{false};
  std::atomic<uint64_t> writes_refused_{0};
  std::atomic<uint64_t> reads_failed_{0};
  std::atomic<uint64_t> reads_corrupted_{0};
  std::atomic<uint64_t> reads_lost_{0};
};

}  // namespace strata

#endif  // STRATA_STORAGE_FAULT_TIER_H_
