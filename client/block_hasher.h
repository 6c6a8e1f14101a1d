// BlockHasher: prefix-chained block keys (DESIGN.md section 3).
//
//   key_i = H(salt(namespace) || len(key_{i-1}) || key_{i-1} || tokens_i as little-endian u32)
//
// salt(namespace) = SHA-256("strata/v1/namespace/" || namespace), so equal token sequences in
// different namespaces never share keys; len is one byte and key_{-1} is empty. H is SHA-256
// truncated to `key_bytes` (default 16; collision-resistant, so a tenant cannot forge another
// prompt's key) or, opt-in for trusted fast paths, XXH3-128. Because key i commits to the whole
// prefix, "block i is cached" implies its prefix was the same. Only full blocks get keys.
// Immutable after construction; thread-safe.
#ifndef STRATA_CLIENT_BLOCK_HASHER_H_
#define STRATA_CLIENT_BLOCK_HASHER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace strata {

enum class BlockHash { kSha256, kXxh3_128 };

struct BlockHasherOptions {
  BlockHash hash = BlockHash::kSha256;
  // Tokens per block.
  uint32_t block_tokens = 256;
  // Key length: 1-32 for SHA-256, 1-16 for XXH3-128.
  size_t key_bytes = 16;
};

class BlockHasher {
 public:
  // REQUIRES: options.block_tokens > 0; key_bytes within the hash's range (clamped otherwise).
  BlockHasher(std::string_view ns, const BlockHasherOptions& options = {});

  // Key of the block following `prev_key` ("" for the first block).
  std::string Next(std::string_view prev_key, absl::Span<const uint32_t> block_tokens) const;
  // Keys of every full block of `tokens`, in order.
  std::vector<std::string> Keys(absl::Span<const uint32_t> tokens) const;

  uint32_t block_tokens() const { return options_.block_tokens; }
  const BlockHasherOptions& options() const { return options_; }

 private:
  BlockHasherOptions options_;
  std::string salt_;  // 32 bytes
};

// Lowercase hex and back (for CLIs and logs). FromHex returns false on bad input.
std::string ToHex(std::string_view bytes);
bool FromHex(std::string_view hex, std::string* out);

}  // namespace strata

#endif  // STRATA_CLIENT_BLOCK_HASHER_H_
