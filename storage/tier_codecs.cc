#include "storage/tier_codecs.h"

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "common/status_macros.h"

namespace strata {

absl::StatusOr<TierCodecs> TierCodecs::Create(const std::vector<std::string>& tier_names,
                                              const std::vector<std::string>& tier_codecs,
                                              const std::vector<Rule>& rules) {
  if (tier_codecs.size() > tier_names.size()) {
    return absl::InvalidArgumentError("store: more tier codecs than tiers");
  }
  TierCodecs c;
  for (size_t t = 0; t < tier_names.size(); ++t) {
    const std::string name = t < tier_codecs.size() ? tier_codecs[t] : "raw";
    STRATA_ASSIGN_OR_RETURN(const Codec* codec, GetCodec(name));
    if (!codec->lossless()) {
      return absl::InvalidArgumentError(
          absl::StrCat("codec of tier ", tier_names[t], ": '", name,
                       "' is lossy; lossy codecs apply only to namespaces that opt in"));
    }
    c.defaults_.push_back(codec);
  }
  for (const Rule& rule : rules) {
    if (rule.tier >= tier_names.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("namespace codec for '", rule.ns_prefix, "': no tier ", rule.tier));
    }
    STRATA_ASSIGN_OR_RETURN(const Codec* codec, GetCodec(rule.codec));
    c.rules_.push_back({rule.ns_prefix, rule.tier, codec});
  }
  return c;
}

bool TierCodecs::Intact(const BlockRecord& record, std::string_view bytes) {
  return bytes.size() == record.payload_bytes && BlockChecksum(bytes) == record.checksum;
}

const Codec* TierCodecs::For(std::string_view id, size_t t) const {
  const std::string_view ns = id.substr(0, id.find('\0'));
  const Codec* best = nullptr;
  size_t best_len = 0;
  for (const ResolvedRule& rule : rules_) {
    if (rule.tier != t || ns.substr(0, rule.ns_prefix.size()) != rule.ns_prefix) continue;
    if (best == nullptr || rule.ns_prefix.size() > best_len) {
      best = rule.codec;
      best_len = rule.ns_prefix.size();
    }
  }
  return best != nullptr ? best : defaults_[t];
}

absl::Status TierCodecs::Materialize(const BlockRecord& record, bool verify,
                                     std::string_view stored, std::string* scratch,
                                     std::string_view* payload) {
  if (record.codec_id == 0) {
    *payload = stored;
    if (verify && !Intact(record, stored)) {
      return absl::DataLossError("checksum mismatch");
    }
    return absl::OkStatus();
  }
  const Codec* codec = FindCodecById(record.codec_id);
  if (codec == nullptr) {
    return absl::DataLossError(absl::StrCat("unknown codec id ", record.codec_id));
  }
  absl::StatusOr<std::string> decoded = codec->Decode(record.layout, stored);
  if (!decoded.ok()) return absl::DataLossError(decoded.status().message());
  *scratch = std::move(*decoded);
  *payload = *scratch;
  // A decoded block is always verified: decoding is the expensive part.
  if (!Intact(record, *payload)) return absl::DataLossError("checksum mismatch after decode");
  return absl::OkStatus();
}

absl::Status TierCodecs::AdoptEncoded(const Codec& codec, std::string_view encoded,
                                      BlockRecord* record) {
  absl::StatusOr<std::string> decoded = codec.Decode(record->layout, encoded);
  if (!decoded.ok()) return absl::DataLossError(decoded.status().message());
  if (decoded->size() != record->payload_bytes) {
    return absl::DataLossError("encoded block decodes to a different size");
  }
  // As Encode: a lossy block now is what the codec reconstructs; a lossless one must be the same.
  const uint64_t checksum = BlockChecksum(*decoded);
  if (codec.lossless() && checksum != record->checksum) {
    return absl::DataLossError("encoded block does not decode to the block");
  }
  record->checksum = checksum;
  record->codec_id = codec.numeric_id();
  record->stored_bytes = encoded.size();
  return absl::OkStatus();
}

std::string_view TierCodecs::Encode(std::string_view id, size_t t, std::string_view payload,
                                    BlockRecord* record, std::string* scratch) const {
  record->codec_id = 0;
  record->stored_bytes = payload.size();
  const Codec* codec = For(id, t);
  if (codec == nullptr || codec->id() == CodecId::kRaw) return payload;
  // A codec that cannot take this block (a lossy codec and an opaque block) leaves it plain.
  if (!codec->CheckLayout(record->layout, payload.size()).ok()) return payload;
  absl::StatusOr<std::string> encoded = codec->Encode(record->layout, payload);
  if (!encoded.ok()) return payload;
  if (codec->lossless() && encoded->size() >= payload.size()) return payload;  // no gain
  if (!codec->lossless()) {
    // The block now is what the codec reconstructs: its checksum describes those bytes, so
    // every later read verifies exactly what it serves.
    absl::StatusOr<std::string> decoded = codec->Decode(record->layout, *encoded);
    if (!decoded.ok()) return payload;
    record->checksum = BlockChecksum(*decoded);
  }
  record->codec_id = codec->numeric_id();
  record->stored_bytes = encoded->size();
  *scratch = std::move(*encoded);
  return *scratch;
}

}  // namespace strata
