#include "client/block_hasher.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <numeric>

namespace strata {
namespace {

std::vector<uint32_t> Tokens(size_t n, uint32_t start = 0) {
  std::vector<uint32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(BlockHasher, FirstKeyMatchesTheDocumentedFormula) {
  // key_0 = SHA-256(SHA-256("strata/v1/namespace/" + ns) || 0x00 || tokens as LE u32)[:16]
  const std::string ns = "acme/llama";
  unsigned char salt[32];
  const std::string salt_in = "strata/v1/namespace/" + ns;
  SHA256(reinterpret_cast<const unsigned char*>(salt_in.data()), salt_in.size(), salt);
  std::string input(reinterpret_cast<char*>(salt), 32);
  input.push_back('\0');
  for (uint32_t t : {1u, 2u, 0x01020304u, 4u}) {
    for (int b = 0; b < 4; ++b) input.push_back(static_cast<char>((t >> (8 * b)) & 0xff));
  }
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  BlockHasher h(ns, {.block_tokens = 4});
  const std::vector<uint32_t> tokens = {1, 2, 0x01020304, 4};
  EXPECT_EQ(h.Keys(tokens)[0], std::string(reinterpret_cast<char*>(digest), 16));
}

TEST(BlockHasher, SamePrefixSameKeys) {
  BlockHasher h("ns", {.block_tokens = 16});
  auto a = h.Keys(Tokens(100));
  auto b = h.Keys(Tokens(80));
  ASSERT_EQ(a.size(), 6u);  // full blocks only
  ASSERT_EQ(b.size(), 5u);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(a[i], b[i]);
  for (const auto& k : a) EXPECT_EQ(k.size(), 16u);
}

TEST(BlockHasher, ChangedTokenChangesThatBlockAndEveryLaterOne) {
  BlockHasher h("ns", {.block_tokens = 16});
  auto tokens = Tokens(96);
  auto before = h.Keys(tokens);
  tokens[40] ^= 1;  // block 2
  auto after = h.Keys(tokens);
  EXPECT_EQ(before[0], after[0]);
  EXPECT_EQ(before[1], after[1]);
  for (size_t i = 2; i < before.size(); ++i) EXPECT_NE(before[i], after[i]) << i;
}

TEST(BlockHasher, NamespaceSaltSeparatesTenants) {
  auto tokens = Tokens(32);
  EXPECT_NE(BlockHasher("tenant-a", {.block_tokens = 16}).Keys(tokens),
            BlockHasher("tenant-b", {.block_tokens = 16}).Keys(tokens));
}

TEST(BlockHasher, Xxh3IsOptInAndDifferent) {
  auto tokens = Tokens(32);
  BlockHasher sha("ns", {.block_tokens = 16});
  BlockHasher xxh("ns", {.hash = BlockHash::kXxh3_128, .block_tokens = 16});
  auto a = sha.Keys(tokens), b = xxh.Keys(tokens);
  EXPECT_NE(a, b);
  EXPECT_EQ(b[0].size(), 16u);
  EXPECT_EQ(xxh.Keys(tokens), b);  // deterministic
  // The chain property holds for XXH3 too.
  tokens[20] ^= 1;
  auto c = xxh.Keys(tokens);
  EXPECT_EQ(c[0], b[0]);
  EXPECT_NE(c[1], b[1]);
}

TEST(Hex, RoundTripsAndRejectsGarbage) {
  std::string out;
  ASSERT_TRUE(FromHex("00ffA1", &out));
  EXPECT_EQ(out, std::string("\x00\xff\xa1", 3));
  EXPECT_EQ(ToHex(out), "00ffa1");
  EXPECT_FALSE(FromHex("abc", &out));
  EXPECT_FALSE(FromHex("zz", &out));
}

}  // namespace
}  // namespace strata
