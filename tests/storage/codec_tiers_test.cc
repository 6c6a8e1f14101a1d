// Codecs at tier boundaries: blocks are encoded as they move down and decoded on the way back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "storage/dram_tier.h"
#include "storage/mem_tier.h"
#include "storage/tiered_store.h"

namespace strata {
namespace {

constexpr uint64_t kPage = 4096;

BlockLayout KvF32(uint32_t layers, uint32_t heads, uint32_t dim, uint32_t tokens) {
  return BlockLayout::Kv(DType::kF32, layers, heads, dim, tokens);
}

std::vector<float> RandomKv(const BlockLayout& l, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> v(l.Elements());
  for (auto& x : v) x = n(rng);
  return v;
}

std::string AsBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

struct Store {
  std::unique_ptr<TieredStore> store;
  MemTier* ssd = nullptr;
};

// 64 KiB of DRAM over a 4 MiB in-memory second tier, one shard (one LRU order).
Store Make(TieredStoreOptions o) {
  Store s;
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = 16 * kPage, .page_bytes = kPage}));
  auto ssd = std::make_unique<MemTier>(MemTierOptions{.name = "ssd", .capacity_bytes = 4 << 20});
  s.ssd = ssd.get();
  tiers.push_back(std::move(ssd));
  o.shards = 1;
  auto opened = TieredStore::Open(o, std::move(tiers));
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (opened.ok()) s.store = std::move(*opened);
  return s;
}

std::string Read(TieredStore& s, std::string_view ns, std::string_view key, std::string* tier) {
  std::string out;
  absl::Status st = s.Get(ns, key, [&](const BlockView& v) {
    out.assign(v.payload);
    if (tier) tier->assign(v.tier);
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

// Puts `victim`, then enough other blocks to push it into the second tier.
void PushDown(TieredStore& s, std::string_view ns) {
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(s.Put("filler", "f" + std::to_string(i), "", {}, std::string(16384, 'f')).ok());
  }
}

TEST(CodecTiers, LosslessSsdCodecShrinksCompressibleBlocksAndRoundTripsExactly) {
  TieredStoreOptions o;
  o.tier_codecs = {"raw", "shuffle-zstd"};
  Store s = Make(o);
  // Small integers as f32: the high bytes compress.
  const BlockLayout l = KvF32(2, 2, 16, 32);
  std::vector<float> v(l.Elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7);
  const std::string payload = AsBytes(v);
  ASSERT_TRUE(s.store->Put("ns", "b", "", l, payload).ok());
  PushDown(*s.store, "ns");
  ASSERT_EQ(s.store->Stats().tiers[1].blocks, 1u + 5u);  // victim + fillers pushed down
  EXPECT_LT(s.ssd->used_bytes(), 5u * 16384 + payload.size() / 2)
      << "the compressible block should take well under half its size in the SSD tier";
  std::string tier;
  EXPECT_EQ(Read(*s.store, "ns", "b", &tier), payload);
  EXPECT_EQ(tier, "ssd");
  EXPECT_EQ(Read(*s.store, "ns", "b", &tier), payload);  // promoted back, decoded
  EXPECT_EQ(tier, "dram");
}

TEST(CodecTiers, LossyCodecOnlyForOptedInNamespacesAndWithinItsBound) {
  TieredStoreOptions o;
  o.tier_codecs = {"raw", "raw"};
  o.namespace_codecs = {{"lossy/", 1, "int8"}};
  Store s = Make(o);
  const BlockLayout l = KvF32(1, 2, 8, 16);
  const std::vector<float> v = RandomKv(l, 3);
  const std::string payload = AsBytes(v);
  ASSERT_TRUE(s.store->Put("lossy/model", "b", "", l, payload).ok());
  ASSERT_TRUE(s.store->Put("exact/model", "b", "", l, payload).ok());
  PushDown(*s.store, "");
  ASSERT_GE(s.store->Stats().tiers[1].blocks, 2u);

  // The opted-in namespace got int8: each element within half a step of its (token, head) scale.
  const std::string got = Read(*s.store, "lossy/model", "b", nullptr);
  ASSERT_EQ(got.size(), payload.size());
  std::vector<float> back(v.size());
  std::memcpy(back.data(), got.data(), got.size());
  bool any_different = false;
  for (uint32_t plane = 0; plane < 2; ++plane) {
    for (uint32_t tok = 0; tok < l.tokens; ++tok) {
      for (uint32_t h = 0; h < l.kv_heads; ++h) {
        const size_t base = ((plane * l.tokens + tok) * l.kv_heads + h) * l.head_dim;
        float absmax = 0;
        for (uint32_t d = 0; d < l.head_dim; ++d) absmax = std::max(absmax, std::fabs(v[base + d]));
        const float scale = absmax / 127.f;
        for (uint32_t d = 0; d < l.head_dim; ++d) {
          EXPECT_LE(std::fabs(back[base + d] - v[base + d]), scale / 2 * 1.0001f + 1e-7f);
          any_different |= back[base + d] != v[base + d];
        }
      }
    }
  }
  EXPECT_TRUE(any_different) << "int8 cannot reproduce random floats exactly: was it applied?";
  // Everyone else stays exact.
  EXPECT_EQ(Read(*s.store, "exact/model", "b", nullptr), payload);
}

TEST(CodecTiers, OpaqueBlocksStayPlainUnderALossyCodec) {
  TieredStoreOptions o;
  o.namespace_codecs = {{"lossy", 1, "kivi2"}};
  Store s = Make(o);
  const std::string payload(20000, 'x');
  ASSERT_TRUE(s.store->Put("lossy", "opaque", "", {}, payload).ok());
  PushDown(*s.store, "");
  EXPECT_EQ(Read(*s.store, "lossy", "opaque", nullptr), payload);
}

TEST(CodecTiers, LossyTierDefaultsAndUnknownCodecsAreRefused) {
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*DramTier::Create({.capacity_bytes = 1 << 20}));
  TieredStoreOptions o;
  o.tier_codecs = {"fp8-e4m3"};
  auto st = TieredStore::Open(o, std::move(tiers)).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("lossy"), absl::string_view::npos);
  std::vector<std::unique_ptr<Tier>> tiers2;
  tiers2.push_back(*DramTier::Create({.capacity_bytes = 1 << 20}));
  TieredStoreOptions u;
  u.namespace_codecs = {{"x", 0, "gzip"}};
  EXPECT_EQ(TieredStore::Open(u, std::move(tiers2)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTiers, DamagedEncodedBlockIsAMissNeverGarbage) {
  TieredStoreOptions o;
  o.tier_codecs = {"raw", "shuffle-lz4"};
  Store s = Make(o);
  const BlockLayout l = KvF32(1, 1, 64, 64);
  std::vector<float> v(l.Elements(), 1.0f);
  ASSERT_TRUE(s.store->Put("ns", "b", "", l, AsBytes(v)).ok());
  PushDown(*s.store, "ns");
  for (size_t byte : {5u, 40u, 200u}) {  // header, early body, later body
    (void)s.ssd->TEST_Corrupt(std::string("ns\0b", 4), byte);
  }
  absl::Status st = s.store->Get(
      "ns", "b", [](const BlockView&) { ADD_FAILURE() << "a damaged block was served"; });
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.store->Stats().checksum_failures, 1u);
}

}  // namespace
}  // namespace strata
