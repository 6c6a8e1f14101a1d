// PrefixCache: store and fetch a token sequence's KV by prefix, the three calls an inference
// worker makes:
//
//   strata::PrefixCache cache(client, "acme/llama3-8b/tp0", {.block_tokens = 256});
//   auto hit = cache.Fetch(prompt_tokens);      // KV of the longest cached prefix
//   ... compute KV for tokens [hit->tokens, end) ...
//   cache.Store(prompt_tokens, kv_blocks, hit->blocks);  // the new full blocks, chained
//
// Fetch hashes the full blocks (BlockHasher), asks the node for the leading run present
// (Lookup, leasing it so it survives until the Get), then gets those blocks. A block that went
// missing between Lookup and Get ends the prefix there (only a contiguous prefix is usable).
// Thread-compatible; the Client it uses is thread-safe.
#ifndef STRATA_CLIENT_PREFIX_CACHE_H_
#define STRATA_CLIENT_PREFIX_CACHE_H_

#include <string>
#include <vector>

#include "client/block_hasher.h"
#include "client/client.h"

namespace strata {

struct PrefixHit {
  size_t blocks = 0;                  // leading full blocks found
  size_t tokens = 0;                  // blocks * block_tokens
  std::vector<std::string> payloads;  // one per found block
  std::vector<std::string> keys;      // keys of every full block of the sequence
};

class PrefixCache {
 public:
  // `client` must outlive this object.
  PrefixCache(Client* client, std::string ns, const BlockHasherOptions& options = {});

  absl::StatusOr<PrefixHit> Fetch(absl::Span<const uint32_t> tokens, uint32_t lease_ms = 10'000);

  // Stores blocks [first_block, first_block + payloads.size()) of `tokens`, each naming its
  // parent. REQUIRES: those blocks are full blocks of `tokens`. Returns how many were stored
  // (a block refused for capacity ends the run: later ones would be stranded).
  absl::StatusOr<size_t> Store(absl::Span<const uint32_t> tokens,
                               absl::Span<const std::string> payloads, size_t first_block = 0,
                               const BlockLayout& layout = {});

  const BlockHasher& hasher() const { return hasher_; }

 private:
  Client* const client_;
  const std::string ns_;
  const BlockHasher hasher_;
};

}  // namespace strata

#endif  // STRATA_CLIENT_PREFIX_CACHE_H_
