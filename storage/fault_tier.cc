#include "storage/fault_tier.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {

void FaultTier::Set(const TierFaults& faults) {
  fail_writes_.store(faults.fail_writes);
  no_space_.store(faults.no_space);
  fail_reads_.store(faults.fail_reads);
  corrupt_reads_.store(faults.corrupt_reads);
  lose_reads_.store(faults.lose_reads);
}

TierFaults FaultTier::faults() const {
  return TierFaults{.fail_writes = fail_writes_.load(),
                    .no_space = no_space_.load(),
                    .fail_reads = fail_reads_.load(),
                    .corrupt_reads = corrupt_reads_.load(),
                    .lose_reads = lose_reads_.load()};
}

FaultTier::Counts FaultTier::counts() const {
  return Counts{.writes_refused = writes_refused_.load(),
                .reads_failed = reads_failed_.load(),
                .reads_corrupted = reads_corrupted_.load(),
                .reads_lost = reads_lost_.load()};
}

absl::Status FaultTier::WriteFault() const {
  if (no_space_.load()) {
    return absl::UnavailableError(
        absl::StrCat(AsAbsl(name()), " tier: disk full (injected by FaultTier)"));
  }
  if (fail_writes_.load()) {
    return absl::UnavailableError(
        absl::StrCat(AsAbsl(name()), " tier: injected write error (EIO)"));
  }
  return absl::OkStatus();
}

bool FaultTier::ReadFaultSet() const {
  return fail_reads_.load() || corrupt_reads_.load() || lose_reads_.load();
}

TierHealth FaultTier::health() const {
  absl::Status fault = WriteFault();
  if (!fault.ok()) return TierHealth{.degraded = true, .reason = std::string(fault.message())};
  return base_->health();
}

absl::StatusOr<TierSlot> FaultTier::Write(std::string_view id, uint64_t version,
                                          const BlockRecord& record, std::string_view bytes) {
  if (absl::Status fault = WriteFault(); !fault.ok()) {
    writes_refused_.fetch_add(1);
    return fault;
  }
  return base_->Write(id, version, record, bytes);
}

absl::StatusOr<TierSlot> FaultTier::Allocate(std::string_view id, uint64_t version,
                                             const BlockRecord& record, uint64_t stored_bytes,
                                             char** data) {
  if (absl::Status fault = WriteFault(); !fault.ok()) {
    writes_refused_.fetch_add(1);
    return fault;
  }
  return base_->Allocate(id, version, record, stored_bytes, data);
}

absl::Status FaultTier::Read(std::string_view id, const TierSlot& slot, std::string* out) {
  if (fail_reads_.load()) {
    reads_failed_.fetch_add(1);
    return absl::UnavailableError(absl::StrCat(AsAbsl(name()), " tier: injected read error (EIO)"));
  }
  if (lose_reads_.load()) {
    reads_lost_.fetch_add(1);
    return absl::DataLossError(absl::StrCat(AsAbsl(name()), " tier: injected lost block"));
  }
  absl::Status st = base_->Read(id, slot, out);
  if (st.ok() && corrupt_reads_.load() && !out->empty()) {
    // One flipped bit in the middle: the kind of damage only a checksum catches.
    (*out)[out->size() / 2] ^= 0x10;
    reads_corrupted_.fetch_add(1);
  }
  return st;
}

std::optional<std::string_view> FaultTier::View(const TierSlot& slot) const {
  if (ReadFaultSet()) return std::nullopt;  // reads must go through Read to meet the fault
  return base_->View(slot);
}

}  // namespace strata
