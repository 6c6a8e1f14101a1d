#include "client/block_hasher.h"

#include <openssl/sha.h>
#include <xxhash.h>

#include <algorithm>

namespace strata {
namespace {

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

BlockHasher::BlockHasher(std::string_view ns, const BlockHasherOptions& options)
    : options_(options) {
  if (options_.block_tokens == 0) options_.block_tokens = 1;
  const size_t max = options_.hash == BlockHash::kSha256 ? 32 : 16;
  options_.key_bytes = std::clamp<size_t>(options_.key_bytes, 1, max);
  salt_ = Sha256(std::string("strata/v1/namespace/") + std::string(ns));
}

std::string BlockHasher::Next(std::string_view prev_key,
                              absl::Span<const uint32_t> block_tokens) const {
  std::string input;
  input.reserve(salt_.size() + 1 + prev_key.size() + 4 * block_tokens.size());
  input.append(salt_);
  input.push_back(static_cast<char>(prev_key.size()));
  input.append(prev_key);
  for (uint32_t t : block_tokens) {
    const char le[4] = {static_cast<char>(t & 0xff), static_cast<char>((t >> 8) & 0xff),
                        static_cast<char>((t >> 16) & 0xff), static_cast<char>((t >> 24) & 0xff)};
    input.append(le, 4);
  }
  if (options_.hash == BlockHash::kSha256) return Sha256(input).substr(0, options_.key_bytes);
  const XXH128_hash_t h = XXH3_128bits(input.data(), input.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, h);
  return std::string(reinterpret_cast<const char*>(canonical.digest), options_.key_bytes);
}

std::vector<std::string> BlockHasher::Keys(absl::Span<const uint32_t> tokens) const {
  std::vector<std::string> keys;
  const size_t n = tokens.size() / options_.block_tokens;
  keys.reserve(n);
  std::string prev;
  for (size_t i = 0; i < n; ++i) {
    prev = Next(prev, tokens.subspan(i * options_.block_tokens, options_.block_tokens));
    keys.push_back(prev);
  }
  return keys;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

bool FromHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  *out = std::move(bytes);
  return true;
}

}  // namespace strata
