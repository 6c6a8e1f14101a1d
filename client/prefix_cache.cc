#include "client/prefix_cache.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace strata {

PrefixCache::PrefixCache(Client* client, std::string ns, const BlockHasherOptions& options)
    : client_(client), ns_(std::move(ns)), hasher_(ns_, options) {}

absl::StatusOr<PrefixHit> PrefixCache::Fetch(absl::Span<const uint32_t> tokens, uint32_t lease_ms) {
  PrefixHit hit;
  hit.keys = hasher_.Keys(tokens);
  if (hit.keys.empty()) return hit;
  STRATA_ASSIGN_OR_RETURN(size_t matched, client_->Lookup(ns_, hit.keys, lease_ms));
  if (matched == 0) return hit;
  STRATA_ASSIGN_OR_RETURN(std::vector<GetResult> got,
                          client_->Get(ns_, absl::MakeConstSpan(hit.keys).subspan(0, matched)));
  for (GetResult& g : got) {
    if (!g.found()) break;
    hit.payloads.push_back(std::move(g.payload));
  }
  hit.blocks = hit.payloads.size();
  hit.tokens = hit.blocks * hasher_.block_tokens();
  return hit;
}

absl::StatusOr<size_t> PrefixCache::Store(absl::Span<const uint32_t> tokens,
                                          absl::Span<const std::string> payloads,
                                          size_t first_block, const BlockLayout& layout) {
  const std::vector<std::string> keys = hasher_.Keys(tokens);
  if (first_block + payloads.size() > keys.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("payloads: ", payloads.size(), " blocks from block ", first_block,
                     " but the tokens hold ", keys.size(), " full blocks"));
  }
  if (payloads.empty()) return 0;
  std::vector<PutBlock> blocks;
  blocks.reserve(payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    const size_t b = first_block + i;
    blocks.push_back(PutBlock{keys[b], b > 0 ? std::string_view(keys[b - 1]) : std::string_view(),
                              layout, payloads[i]});
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<absl::Status> results, client_->Put(ns_, blocks));
  size_t stored = 0;
  for (const absl::Status& st : results) {
    if (!st.ok()) break;
    ++stored;
  }
  return stored;
}

}  // namespace strata
