// PrefixCache (client/prefix_cache.h), the README's headline API, against a real strata-node:
// Store then Fetch returns the exact payloads of the leading run, a missing block ends the
// prefix there, partial trailing blocks get no key, and bad Store arguments are refused.
#include "client/prefix_cache.h"

#include <gtest/gtest.h>

#include <numeric>

#include "tests/testing/process.h"

namespace strata {
namespace {

using testing::NodeProcess;

constexpr uint32_t kBlockTokens = 16;

class PrefixCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    node_ = NodeProcess::Start(testing::FreshDir("prefix_cache"), {"--dram", "32MiB"}, &error);
    ASSERT_NE(node_, nullptr) << error;
    ClientOptions options;
    options.address = node_->address();
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  static std::vector<uint32_t> Tokens(size_t n, uint32_t first) {
    std::vector<uint32_t> tokens(n);
    std::iota(tokens.begin(), tokens.end(), first);
    return tokens;
  }
  static std::vector<std::string> Payloads(size_t n, char tag) {
    std::vector<std::string> payloads;
    for (size_t i = 0; i < n; ++i) payloads.push_back(std::string(1000 + i, tag + i));
    return payloads;
  }

  std::unique_ptr<NodeProcess> node_;
  std::unique_ptr<Client> client_;
};

TEST_F(PrefixCacheTest, FetchReturnsTheStoredPrefixByteExact) {
  PrefixCache cache(client_.get(), "acme/model", {.block_tokens = kBlockTokens});
  // 4 full blocks and a partial one: the partial block has no key.
  const std::vector<uint32_t> prompt = Tokens(4 * kBlockTokens + 5, 100);
  const std::vector<std::string> kv = Payloads(4, 'a');

  auto empty = cache.Fetch(prompt);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->blocks, 0u);
  EXPECT_EQ(empty->tokens, 0u);
  EXPECT_EQ(empty->keys.size(), 4u);
  EXPECT_EQ(empty->keys, cache.hasher().Keys(prompt));

  auto stored = cache.Store(prompt, kv);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 4u);

  auto hit = cache.Fetch(prompt);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(hit->blocks, 4u);
  EXPECT_EQ(hit->tokens, 4u * kBlockTokens);
  EXPECT_EQ(hit->payloads, kv);

  // A longer conversation turn shares the first 4 blocks; its new blocks are stored from
  // block 4 on, chained to block 3.
  std::vector<uint32_t> turn2 = prompt;
  turn2.resize(6 * kBlockTokens, 7);
  const std::vector<std::string> more = Payloads(2, 'm');
  auto partial = cache.Fetch(turn2);
  ASSERT_TRUE(partial.ok());
  // turn2 keeps the prompt's tokens 0..68, so its first 4 blocks are the stored ones.
  EXPECT_EQ(partial->blocks, 4u);
  auto stored_more = cache.Store(turn2, more, /*first_block=*/4);
  ASSERT_TRUE(stored_more.ok()) << stored_more.status();
  EXPECT_EQ(*stored_more, 2u);
  auto full = cache.Fetch(turn2);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->blocks, 6u);
  EXPECT_EQ(full->payloads[3], kv[3]);
  EXPECT_EQ(full->payloads[4], more[0]);
  EXPECT_EQ(full->payloads[5], more[1]);
}

TEST_F(PrefixCacheTest, AMissingBlockEndsThePrefixThere) {
  PrefixCache cache(client_.get(), "acme/model", {.block_tokens = kBlockTokens});
  const std::vector<uint32_t> prompt = Tokens(5 * kBlockTokens, 9);
  const std::vector<std::string> kv = Payloads(5, 'k');
  ASSERT_EQ(*cache.Store(prompt, kv), 5u);
  const std::vector<std::string> keys = cache.hasher().Keys(prompt);
  auto removed = client_->Remove("acme/model", {keys[2]});
  ASSERT_TRUE(removed.ok());
  ASSERT_TRUE((*removed)[0]);

  auto hit = cache.Fetch(prompt);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(hit->blocks, 2u);  // blocks 3 and 4 are present but no longer a usable prefix
  EXPECT_EQ(hit->payloads, std::vector<std::string>(kv.begin(), kv.begin() + 2));
}

TEST_F(PrefixCacheTest, NamespacesAndDifferentPrefixesDoNotShareBlocks) {
  PrefixCache acme(client_.get(), "acme/model", {.block_tokens = kBlockTokens});
  PrefixCache other(client_.get(), "other/model", {.block_tokens = kBlockTokens});
  const std::vector<uint32_t> prompt = Tokens(2 * kBlockTokens, 1);
  ASSERT_EQ(*acme.Store(prompt, Payloads(2, 'x')), 2u);
  EXPECT_EQ(other.Fetch(prompt)->blocks, 0u);
  // Same second block, different first block: the chain differs from block 0 on.
  std::vector<uint32_t> changed = prompt;
  changed[0] = 999;
  EXPECT_EQ(acme.Fetch(changed)->blocks, 0u);
}

TEST_F(PrefixCacheTest, StoreRefusesMorePayloadsThanFullBlocks) {
  PrefixCache cache(client_.get(), "acme/model", {.block_tokens = kBlockTokens});
  const std::vector<uint32_t> prompt = Tokens(2 * kBlockTokens + 3, 1);
  auto too_many = cache.Store(prompt, Payloads(3, 'z'));
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  auto past_end = cache.Store(prompt, Payloads(1, 'z'), /*first_block=*/2);
  EXPECT_EQ(past_end.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Fetch(prompt)->blocks, 0u);  // nothing was stored
  EXPECT_EQ(*cache.Store(prompt, {}), 0u);
}

}  // namespace
}  // namespace strata
