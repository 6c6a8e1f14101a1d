#include "stratactl/replay/live_backend.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace strata::replay {

LiveNodeBackend::LiveNodeBackend(Client* client, std::string ns, const BlockGeometry& geometry)
    : client_(client), ns_(std::move(ns)), geometry_(geometry) {}

std::string LiveNodeBackend::Describe() const {
  return absl::StrCat("live node ", client_->address(), " namespace ", ns_);
}

std::string LiveNodeBackend::KeyFor(uint64_t hash_id) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[i] = static_cast<char>((hash_id >> (8 * (7 - i))) & 0xff);
  return key;
}

std::string LiveNodeBackend::PayloadFor(uint64_t hash_id, uint64_t bytes) {
  // splitmix64 stream seeded by the id: cheap, and different for every block.
  std::string payload(bytes, '\0');
  uint64_t x = hash_id * 0x9e3779b97f4a7c15ull + 1;
  for (uint64_t off = 0; off < bytes; off += 8) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(payload.data() + off, &z, std::min<uint64_t>(8, bytes - off));
  }
  return payload;
}

BlockLayout LiveNodeBackend::LayoutFor(const BlockGeometry& geometry, uint32_t tokens) {
  BlockLayout layout;
  const uint64_t per_token = 2 * uint64_t{geometry.block_tokens};
  if (geometry.block_tokens == 0 || geometry.block_bytes % per_token != 0 || tokens == 0) {
    return layout;  // opaque
  }
  layout.kind = LayoutKind::kMlaLatent;
  layout.dtype = DType::kBF16;
  layout.layers = 1;
  layout.head_dim = static_cast<uint32_t>(geometry.block_bytes / per_token);
  layout.tokens = tokens;
  return layout;
}

uint64_t LiveNodeBackend::PayloadBytesFor(const BlockGeometry& geometry, uint32_t tokens) {
  const BlockLayout layout = LayoutFor(geometry, tokens);
  return layout.is_opaque() ? geometry.block_bytes : layout.Bytes();
}

absl::StatusOr<RequestOutcome> LiveNodeBackend::Serve(const TraceRequest& request) {
  RequestOutcome outcome;
  if (request.hash_ids.empty()) return outcome;
  std::vector<std::string> keys;
  keys.reserve(request.hash_ids.size());
  for (uint64_t id : request.hash_ids) keys.push_back(KeyFor(id));

  absl::StatusOr<size_t> matched = client_->Lookup(ns_, keys);
  if (!matched.ok()) return matched.status();
  // Fetch the hit prefix, as a worker would; a block evicted between Lookup and Get ends it.
  if (*matched > 0) {
    auto got = client_->Get(ns_, absl::MakeConstSpan(keys).subspan(0, *matched));
    if (!got.ok()) return got.status();
    for (size_t i = 0; i < got->size(); ++i) {
      const GetResult& g = (*got)[i];
      if (!g.found()) break;
      const uint32_t tokens = BlockTokens(request, i, geometry_.block_tokens);
      if (g.payload != PayloadFor(request.hash_ids[i], PayloadBytesFor(geometry_, tokens))) {
        ++wrong_blocks_;
      }
      ++tier_hits_[g.tier];
      ++outcome.hit_blocks;
    }
  }
  // Store the rest, chained to their parents.
  std::vector<std::string> payloads;
  std::vector<BlockLayout> layouts;
  std::vector<PutBlock> blocks;
  payloads.reserve(keys.size() - outcome.hit_blocks);
  for (size_t i = outcome.hit_blocks; i < keys.size(); ++i) {
    const uint32_t tokens = BlockTokens(request, i, geometry_.block_tokens);
    layouts.push_back(LayoutFor(geometry_, tokens));
    payloads.push_back(PayloadFor(request.hash_ids[i], PayloadBytesFor(geometry_, tokens)));
  }
  for (size_t i = outcome.hit_blocks; i < keys.size(); ++i) {
    blocks.push_back(PutBlock{keys[i], i > 0 ? std::string_view(keys[i - 1]) : std::string_view(),
                              layouts[i - outcome.hit_blocks], payloads[i - outcome.hit_blocks]});
  }
  if (!blocks.empty()) {
    auto results = client_->Put(ns_, blocks);
    if (!results.ok()) return results.status();
    for (const absl::Status& st : *results) {
      if (st.ok()) {
        ++outcome.stored_blocks;
      } else if (absl::IsResourceExhausted(st)) {
        ++outcome.unstored_blocks;
      } else {
        return st;
      }
    }
  }
  return outcome;
}

}  // namespace strata::replay
