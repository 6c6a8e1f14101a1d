// TierCodecs: which codec a block uses in each tier, and the conversions between a block's
// payload and the bytes a tier stores.
//
// Each tier has a lossless default codec; namespaces may opt into others, lossy ones included
// (the longest matching namespace prefix wins). "raw" stores blocks plain. A block's checksum
// always describes what a read returns: after a lossy encoding it is recomputed over what the
// block decodes to. Immutable after construction; thread-safe.
#ifndef STRATA_STORAGE_TIER_CODECS_H_
#define STRATA_STORAGE_TIER_CODECS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/codec.h"
#include "storage/block_record.h"

namespace strata {

class TierCodecs {
 public:
  struct Rule {
    std::string ns_prefix;
    size_t tier = 0;
    std::string codec;
  };

  // `tier_codecs` by tier (missing: "raw"); `tier_names` names tiers in errors.
  // INVALID_ARGUMENT for unknown codecs, lossy tier defaults and rules naming missing tiers.
  static absl::StatusOr<TierCodecs> Create(const std::vector<std::string>& tier_names,
                                           const std::vector<std::string>& tier_codecs,
                                           const std::vector<Rule>& rules);

  // The codec blocks of `id` (namespace, '\0', key) use in tier t.
  const Codec* For(std::string_view id, size_t t) const;
  // Tier t's default codec.
  const Codec& Default(size_t t) const { return *defaults_[t]; }

  // Stored bytes -> payload: decodes an encoded block and verifies its checksum (always after a
  // decode; for plain blocks when `verify`). DATA_LOSS when either fails.
  static absl::Status Materialize(const BlockRecord& record, bool verify, std::string_view stored,
                                  std::string* scratch, std::string_view* payload);
  // Payload -> the bytes tier t stores for `id`; sets record's codec fields (and, for lossy
  // codecs, the checksum of what the block now decodes to). Leaves the block plain when the
  // codec cannot take it or gains nothing. REQUIRES: record describes `payload` plainly.
  std::string_view Encode(std::string_view id, size_t t, std::string_view payload,
                          BlockRecord* record, std::string* scratch) const;

  // Adopts `encoded`, a plain block encoded with `codec` elsewhere (Tier::ReadEncoded), into
  // *record: sets the codec fields and, for a lossy codec, the checksum of what it decodes to.
  // DATA_LOSS when it does not decode. REQUIRES: record describes the plain block.
  static absl::Status AdoptEncoded(const Codec& codec, std::string_view encoded,
                                   BlockRecord* record);

  // The bytes match the record's size and checksum.
  static bool Intact(const BlockRecord& record, std::string_view bytes);

 private:
  struct ResolvedRule {
    std::string ns_prefix;
    size_t tier;
    const Codec* codec;
  };
  std::vector<const Codec*> defaults_;
  std::vector<ResolvedRule> rules_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_TIER_CODECS_H_
