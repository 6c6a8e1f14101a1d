// Tier: one level of block storage (HBM, DRAM, SSD) as TieredStore sees it.
//
// A tier stores opaque bytes (a block as encoded for this tier) under an id (namespace, a zero
// byte, key) together with the block's BlockRecord. It enforces its own hard capacity bound: a
// Write that does not fit returns RESOURCE_EXHAUSTED and changes nothing; choosing what to evict
// is the store's job. The store keeps the index; a tier only answers for the slot it returned.
// Implementations are thread-safe. Twins: MemTier (in memory, for tests); wrappers may inject
// faults around any tier.
#ifndef STRATA_STORAGE_TIER_H_
#define STRATA_STORAGE_TIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/block_record.h"

namespace strata {

class Codec;  // kernels/codec.h

// Where a tier put a block. `offset` means what the tier wants (DRAM: byte offset in its
// region; SSD: the version written); `charged_bytes` is what the block counts against capacity.
struct TierSlot {
  uint64_t offset = 0;
  uint64_t stored_bytes = 0;
  uint64_t charged_bytes = 0;
};

// Whether a tier can take writes now. A degraded tier (a full disk, a failing device) still
// serves what it holds but refuses writes with UNAVAILABLE until it recovers; `reason` says why
// in words an operator can act on ("disk full: 1.2 MiB free in /data, 4 MiB needed").
struct TierHealth {
  bool degraded = false;
  std::string reason;
};

class Tier {
 public:
  virtual ~Tier() = default;

  // "hbm", "dram" or "ssd" (the names stats and stratactl report).
  virtual std::string_view name() const = 0;
  virtual uint64_t capacity_bytes() const = 0;
  virtual uint64_t used_bytes() const = 0;
  // True when content survives a restart (Recover() then reports it).
  virtual bool persistent() const { return false; }
  // Whether the store verifies each block's checksum when reading it from this tier. Media that
  // can rot or be tampered with (SSD, anything off-process) say yes; process memory says no.
  virtual bool verify_reads() const { return true; }
  // Healthy unless the medium failed; memory tiers never degrade.
  virtual TierHealth health() const { return {}; }
  // What a block of `stored_bytes` would be charged.
  virtual uint64_t ChargeFor(uint64_t stored_bytes) const { return stored_bytes; }

  // Stores `bytes` (record.stored_bytes of them) as `version` of `id`. Versions of one id are
  // distinct slots, so writing a new version never disturbs the old one until it is erased.
  // RESOURCE_EXHAUSTED when it does not fit the tier's capacity now (evicting from this tier
  // makes room); UNAVAILABLE when the medium cannot take it (full disk, I/O error: evicting does
  // not help, the tier reports itself degraded); INTERNAL for other failures. On any error
  // nothing was stored and nothing is charged.
  virtual absl::StatusOr<TierSlot> Write(std::string_view id, uint64_t version,
                                         const BlockRecord& record, std::string_view bytes) = 0;
  // Replaces *out with the stored bytes. NOT_FOUND when absent; DATA_LOSS when the medium
  // reports corruption.
  virtual absl::Status Read(std::string_view id, const TierSlot& slot, std::string* out) = 0;
  // Memory tiers that can hand out their bytes without a copy return them here (valid until the
  // slot is erased; the store serves them under the block's shard lock). Others: nullopt.
  virtual std::optional<std::string_view> View(const TierSlot& slot) const { return std::nullopt; }
  // Memory tiers that can be written in place: a slot for `stored_bytes` as `version` of `id`,
  // like Write, but the bytes are the caller's to write through `*data` (valid until the slot is
  // erased) -- so a transfer can land in the tier with no copy. Its contents are undefined until
  // written. Others: UNIMPLEMENTED. RESOURCE_EXHAUSTED as for Write.
  virtual absl::StatusOr<TierSlot> Allocate(std::string_view id, uint64_t version,
                                            const BlockRecord& record, uint64_t stored_bytes,
                                            char** data) {
    return absl::UnimplementedError("this tier cannot be written in place");
  }
  // Tiers that can encode where their bytes lie (HBM: on the GPU): replaces *out with the plain
  // block in `slot` (described by `record`, codec_id 0) encoded with `codec`, in the form
  // codec.Decode reads, so only the encoded bytes leave the tier. Others: UNIMPLEMENTED. The
  // caller falls back to Read and a CPU encode on any error.
  virtual absl::Status ReadEncoded(std::string_view id, const TierSlot& slot,
                                   const BlockRecord& record, const Codec& codec,
                                   std::string* out) {
    return absl::UnimplementedError("this tier cannot encode in place");
  }
  // Frees the slot. Idempotent for persistent tiers.
  virtual absl::Status Erase(std::string_view id, const TierSlot& slot) = 0;

  // Persistent tiers: calls `fn` for every block version that survived, in no particular order
  // (slot.offset is the version).
  // Records that do not decode are deleted and counted in *dropped.
  virtual absl::Status Recover(
      absl::FunctionRef<void(std::string_view id, const BlockRecord&, const TierSlot&)> fn,
      uint64_t* dropped) {
    *dropped = 0;
    return absl::OkStatus();
  }

  // Makes written data durable (SSD: flush memtables). Called on graceful shutdown.
  virtual absl::Status Flush() { return absl::OkStatus(); }
};

}  // namespace strata

#endif  // STRATA_STORAGE_TIER_H_
