// HbmTier: the pool's bounds, copies in and out, device-codec demotion and promotion through the
// store, corruption detection. Runs on whatever HbmTestDevice() gives (tests/storage/
// hbm_test_device.h): the twin in storage_test, a GPU in hbm_gpu_test.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/checksum.h"
#include "kernels/codec_format.h"
#include "storage/dram_tier.h"
#include "storage/hbm_tier.h"
#include "storage/tiered_store.h"
#include "tests/storage/hbm_test_device.h"
#include "tests/storage/storage_test_util.h"

namespace strata {
namespace {

using storage_test::Bytes;

constexpr uint64_t kPage = 4096;

BlockLayout KvF32(uint32_t layers, uint32_t heads, uint32_t dim, uint32_t tokens) {
  return BlockLayout::Kv(DType::kF32, layers, heads, dim, tokens);
}

// Normal floats with a few outlier channels, as real keys have.
std::string KvPayload(const BlockLayout& l, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> v(l.Elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = n(rng) * (i % l.head_dim == 3 ? 8.f : 1.f);
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

BlockRecord PlainRecord(const BlockLayout& l, std::string_view payload) {
  BlockRecord r;
  r.layout = l;
  r.checksum = BlockChecksum(payload);
  r.payload_bytes = r.stored_bytes = payload.size();
  return r;
}

TEST(HbmTier, RejectsBadOptions) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  EXPECT_EQ(HbmTier::Create({.capacity_bytes = 1 << 20, .page_bytes = 3000}, std::move(device))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  STRATA_HBM_DEVICE_OR_SKIP(device2);
  auto small = HbmTier::Create({.capacity_bytes = 100, .page_bytes = kPage}, std::move(device2));
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().message().find("below one page"), std::string::npos);
  EXPECT_EQ(HbmTier::Create({.capacity_bytes = 1 << 20}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HbmTier, WritesAndReadsBackExactBytesWithinItsCapacity) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  auto made = HbmTier::Create({.capacity_bytes = 16 * kPage + 100, .page_bytes = kPage},
                              std::move(device));
  ASSERT_TRUE(made.ok()) << made.status();
  HbmTier& tier = **made;
  EXPECT_EQ(tier.capacity_bytes(), 16 * kPage);  // rounded down to pages
  EXPECT_FALSE(tier.View(TierSlot{}).has_value()) << "device memory is not host-addressable";

  std::vector<std::pair<std::string, TierSlot>> held;
  const size_t sizes[] = {1, kPage - 1, kPage, kPage + 1, 3 * kPage + 17};
  uint64_t charged = 0;
  for (size_t i = 0; i < std::size(sizes); ++i) {
    std::string bytes = Bytes(sizes[i], static_cast<uint32_t>(i));
    auto slot = tier.Write("ns\0k", i, PlainRecord({}, bytes), bytes);
    ASSERT_TRUE(slot.ok()) << slot.status();
    EXPECT_EQ(slot->charged_bytes, tier.ChargeFor(sizes[i]));
    charged += slot->charged_bytes;
    held.emplace_back(std::move(bytes), *slot);
  }
  EXPECT_EQ(tier.used_bytes(), charged);
  for (const auto& [bytes, slot] : held) {
    std::string out = "stale";
    ASSERT_TRUE(tier.Read("ns\0k", slot, &out).ok());
    EXPECT_TRUE(out == bytes);
  }

  // Fill it: the write that does not fit is refused and changes nothing.
  const uint64_t left = tier.capacity_bytes() - tier.used_bytes();
  const std::string fill = Bytes(left, 9);
  auto filled = tier.Write("ns\0f", 9, PlainRecord({}, fill), fill);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(tier.used_bytes(), tier.capacity_bytes());
  auto refused = tier.Write("ns\0x", 10, PlainRecord({}, "x"), "x");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(tier.used_bytes(), tier.capacity_bytes());
  // Freed room is usable again, and neighbours are untouched.
  ASSERT_TRUE(tier.Erase("ns\0f", *filled).ok());
  EXPECT_EQ(tier.used_bytes(), charged);
  ASSERT_TRUE(tier.Write("ns\0x", 10, PlainRecord({}, "x"), "x").ok());
  std::string out;
  ASSERT_TRUE(tier.Read("ns\0k", held.back().second, &out).ok());
  EXPECT_TRUE(out == held.back().first);
}

TEST(HbmTier, EncodesOnTheDeviceExactlyAsTheCpuCodec) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  auto made = HbmTier::Create({.capacity_bytes = 64 * kPage, .page_bytes = kPage},
                              std::move(device));
  ASSERT_TRUE(made.ok()) << made.status();
  HbmTier& tier = **made;
  const BlockLayout l = KvF32(2, 4, 64, 16);  // 64 KiB
  const std::string payload = KvPayload(l, 1);
  const BlockRecord r = PlainRecord(l, payload);
  auto slot = tier.Write("ns\0k", 1, r, payload);
  ASSERT_TRUE(slot.ok());
  for (const char* name : {"int8", "fp8-e4m3", "kivi4", "kivi2"}) {
    SCOPED_TRACE(name);
    const Codec& codec = *FindCodec(name);
    std::string on_device;
    ASSERT_TRUE(tier.ReadEncoded("ns\0k", *slot, r, codec, &on_device).ok());
    auto on_cpu = codec.Encode(l, payload);
    ASSERT_TRUE(on_cpu.ok());
    EXPECT_EQ(on_device.size(), on_cpu->size());
    EXPECT_LT(on_device.size(), payload.size() / 2);
    EXPECT_TRUE(on_device == *on_cpu) << "device encoding differs from the CPU codec's";
  }
  // Codecs the device has no encoder for, and layouts a codec cannot take, are refused.
  std::string out;
  EXPECT_FALSE(tier.ReadEncoded("ns\0k", *slot, r, *FindCodec("shuffle-zstd"), &out).ok());
  BlockRecord opaque = r;
  opaque.layout = BlockLayout{};
  EXPECT_EQ(tier.ReadEncoded("ns\0k", *slot, opaque, *FindCodec("int8"), &out).code(),
            absl::StatusCode::kInvalidArgument);
  BlockRecord encoded = r;
  encoded.codec_id = 4;
  EXPECT_EQ(tier.ReadEncoded("ns\0k", *slot, encoded, *FindCodec("int8"), &out).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(HbmTier, CopyOutBatchMixesRawAndEncodedAndNamesTheBadItem) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  // A staging buffer smaller than the batch's encoded bytes: the ring wraps.
  auto made = HbmTier::Create(
      {.capacity_bytes = 512 * kPage, .page_bytes = kPage, .staging_bytes = 40 << 10},
      std::move(device));
  ASSERT_TRUE(made.ok()) << made.status();
  HbmTier& tier = **made;
  const BlockLayout l = KvF32(2, 4, 64, 16);
  std::vector<std::string> payloads;
  std::vector<HbmTier::CopyOutItem> items;
  std::vector<std::string> dst;
  const char* codecs[] = {nullptr, "int8", "fp8-e4m3", "int8", nullptr, "fp8-e4m3"};
  for (size_t i = 0; i < std::size(codecs); ++i) {
    payloads.push_back(KvPayload(l, 10 + i));
    auto slot = tier.Write("ns\0k", i, PlainRecord(l, payloads[i]), payloads[i]);
    ASSERT_TRUE(slot.ok());
    dst.emplace_back(payloads[i].size() + EncodedHeader::kSize, '\0');
    items.push_back({*slot, codecs[i] ? FindCodec(codecs[i]) : nullptr, l, dst[i].data(),
                     dst[i].size(), 0});
  }
  ASSERT_TRUE(tier.CopyOut(absl::MakeSpan(items)).ok());
  for (size_t i = 0; i < items.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string got = dst[i].substr(0, items[i].bytes);
    if (codecs[i] == nullptr) {
      EXPECT_TRUE(got == payloads[i]);
    } else {
      EXPECT_TRUE(got == *FindCodec(codecs[i])->Encode(l, payloads[i]));
    }
  }
  // A destination too small for its encoding.
  items[1].dst_capacity = 100;
  absl::Status st = tier.CopyOut(absl::MakeSpan(items));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("item 1"), std::string::npos) << st;
  // An encoding larger than the staging buffer.
  const BlockLayout big = KvF32(4, 8, 64, 32);  // 256 KiB: int8 body ~66 KiB > 40 KiB
  const std::string big_payload = KvPayload(big, 3);
  auto big_slot = tier.Write("ns\0b", 9, PlainRecord(big, big_payload), big_payload);
  ASSERT_TRUE(big_slot.ok());
  std::string big_dst(big_payload.size() + EncodedHeader::kSize, '\0');
  HbmTier::CopyOutItem big_item{*big_slot, FindCodec("int8"), big, big_dst.data(),
                                big_dst.size(), 0};
  EXPECT_EQ(tier.CopyOut(absl::MakeSpan(&big_item, 1)).code(),
            absl::StatusCode::kResourceExhausted);
}

// Many raw blocks of different sizes leave in one batched submission per stream (on CUDA 13,
// cudaMemcpyBatchAsync): every one arrives byte-exact at its own destination, and a second
// CopyOut of the same blocks, reversed, does too.
TEST(HbmTier, ManyRawBlocksCopyOutByteExact) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  auto made = HbmTier::Create(
      {.capacity_bytes = 256 * kPage, .page_bytes = kPage, .copy_streams = 2}, std::move(device));
  ASSERT_TRUE(made.ok()) << made.status();
  HbmTier& tier = **made;
  std::vector<std::string> payloads;
  std::vector<TierSlot> slots;
  for (uint32_t i = 0; i < 40; ++i) {
    payloads.push_back(Bytes(1 + i * 977, i));
    auto slot = tier.Write("ns\0m", i, PlainRecord(BlockLayout{}, payloads[i]), payloads[i]);
    ASSERT_TRUE(slot.ok()) << slot.status();
    slots.push_back(*slot);
  }
  for (bool reversed : {false, true}) {
    SCOPED_TRACE(reversed ? "reversed" : "in order");
    std::vector<std::string> dst;
    std::vector<HbmTier::CopyOutItem> items;
    for (uint32_t k = 0; k < 40; ++k) dst.emplace_back(payloads[k].size() + 7, '\x55');
    for (uint32_t k = 0; k < 40; ++k) {
      const uint32_t i = reversed ? 39 - k : k;
      items.push_back({slots[i], nullptr, BlockLayout{}, dst[i].data(), dst[i].size(), 0});
    }
    ASSERT_TRUE(tier.CopyOut(absl::MakeSpan(items)).ok());
    for (uint32_t i = 0; i < 40; ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(items[reversed ? 39 - i : i].bytes, payloads[i].size());
      EXPECT_TRUE(dst[i].substr(0, payloads[i].size()) == payloads[i]);
      EXPECT_EQ(dst[i].substr(payloads[i].size()), std::string(7, '\x55'))
          << "wrote past the block";
    }
  }
}

struct HbmStore {
  std::unique_ptr<TieredStore> store;
  HbmTier* hbm = nullptr;
};

// 64 KiB blocks: HBM holds 4, DRAM 64.
HbmStore MakeStore(std::unique_ptr<DeviceMemory> device, TieredStoreOptions o) {
  HbmStore s;
  auto hbm = HbmTier::Create({.capacity_bytes = 4 * 16 * kPage, .page_bytes = kPage},
                             std::move(device));
  EXPECT_TRUE(hbm.ok()) << hbm.status();
  if (!hbm.ok()) return s;
  s.hbm = hbm->get();
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*std::move(hbm));
  tiers.push_back(*DramTier::Create({.capacity_bytes = 64 * 16 * kPage, .page_bytes = kPage}));
  o.shards = 1;
  auto opened = TieredStore::Open(o, std::move(tiers));
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (opened.ok()) s.store = *std::move(opened);
  return s;
}

std::string Get(TieredStore& s, std::string_view ns, std::string_view key, std::string* tier) {
  std::string out;
  absl::Status st = s.Get(ns, key, [&](const BlockView& v) {
    out.assign(v.payload);
    if (tier != nullptr) tier->assign(v.tier);
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

TEST(HbmTier, StoreDemotesToDramAndPromotesBackByteExact) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  HbmStore s = MakeStore(std::move(device), {});
  ASSERT_NE(s.store, nullptr);
  const BlockLayout l = KvF32(2, 4, 64, 16);
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back(KvPayload(l, 100 + i));
    ASSERT_TRUE(s.store->Put("ns", "k" + std::to_string(i), "", l, payloads.back()).ok());
    EXPECT_LE(s.hbm->used_bytes(), s.hbm->capacity_bytes());
  }
  StoreStats st = s.store->Stats();
  EXPECT_EQ(st.tiers[0].name, "hbm");
  EXPECT_GE(st.demotions, 6u);
  EXPECT_EQ(st.tiers[0].blocks + st.tiers[1].blocks, 10u);
  std::string tier;
  EXPECT_TRUE(Get(*s.store, "ns", "k0", &tier) == payloads[0]);  // oldest: demoted
  EXPECT_EQ(tier, "dram");
  EXPECT_TRUE(Get(*s.store, "ns", "k0", &tier) == payloads[0]);  // promoted on the hit
  EXPECT_EQ(tier, "hbm");
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(Get(*s.store, "ns", "k" + std::to_string(i), nullptr) == payloads[i]) << i;
  }
  EXPECT_EQ(s.store->Stats().checksum_failures, 0u);
}

TEST(HbmTier, CodecBoundaryDemotesThroughTheDeviceCodecAndServesWhatItDecodesTo) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  TieredStoreOptions o;
  o.namespace_codecs = {{"lossy/", 1, "int8"}, {"fp8/", 1, "fp8-e4m3"}};
  HbmStore s = MakeStore(std::move(device), o);
  ASSERT_NE(s.store, nullptr);
  const BlockLayout l = KvF32(2, 4, 64, 16);
  const std::string a = KvPayload(l, 7), b = KvPayload(l, 8), c = KvPayload(l, 9);
  ASSERT_TRUE(s.store->Put("lossy/m", "a", "", l, a).ok());
  ASSERT_TRUE(s.store->Put("fp8/m", "b", "", l, b).ok());
  ASSERT_TRUE(s.store->Put("exact/m", "c", "", l, c).ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(s.store->Put("fill", "f" + std::to_string(i), "", l, KvPayload(l, 50 + i)).ok());
  }
  auto da = s.store->Describe("lossy/m", "a");
  auto db = s.store->Describe("fp8/m", "b");
  auto dc = s.store->Describe("exact/m", "c");
  ASSERT_TRUE(da && db && dc);
  EXPECT_EQ(da->tier, "dram");
  EXPECT_EQ(da->codec, "int8");
  EXPECT_LT(da->stored_bytes, a.size() / 3);
  EXPECT_EQ(db->codec, "fp8-e4m3");
  EXPECT_EQ(dc->tier, "dram");
  EXPECT_EQ(dc->codec, "raw");

  // What is served is exactly what the CPU codec reconstructs, from DRAM and after promotion.
  const std::string a_ref = *FindCodec("int8")->Decode(l, *FindCodec("int8")->Encode(l, a));
  const std::string b_ref =
      *FindCodec("fp8-e4m3")->Decode(l, *FindCodec("fp8-e4m3")->Encode(l, b));
  ASSERT_FALSE(a_ref == a);
  std::string tier;
  EXPECT_TRUE(Get(*s.store, "lossy/m", "a", &tier) == a_ref);
  EXPECT_EQ(tier, "dram");
  EXPECT_TRUE(Get(*s.store, "lossy/m", "a", &tier) == a_ref);
  EXPECT_EQ(tier, "hbm");
  EXPECT_TRUE(Get(*s.store, "fp8/m", "b", nullptr) == b_ref);
  EXPECT_TRUE(Get(*s.store, "exact/m", "c", nullptr) == c);
  EXPECT_EQ(s.store->Stats().checksum_failures, 0u);
}

TEST(HbmTier, NonFiniteBlockIsServedAsTheCpuCodecReconstructsIt) {
  // The GPU encoder refuses non-finite values (the store then encodes on the CPU); the CPU int8
  // codec takes them. Either way the block is served exactly as the CPU path reconstructs it,
  // under a checksum of those bytes.
  STRATA_HBM_DEVICE_OR_SKIP(device);
  TieredStoreOptions o;
  o.namespace_codecs = {{"lossy/", 1, "int8"}};
  HbmStore s = MakeStore(std::move(device), o);
  ASSERT_NE(s.store, nullptr);
  const BlockLayout l = KvF32(2, 4, 64, 16);
  std::string bad = KvPayload(l, 4);
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(bad.data() + 40, &inf, sizeof(inf));
  ASSERT_TRUE(s.store->Put("lossy/m", "bad", "", l, bad).ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(s.store->Put("fill", "f" + std::to_string(i), "", l, KvPayload(l, 60 + i)).ok());
  }
  auto d = s.store->Describe("lossy/m", "bad");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->tier, "dram");
  auto cpu = FindCodec("int8")->Encode(l, bad);
  const std::string expected = cpu.ok() ? *FindCodec("int8")->Decode(l, *cpu) : bad;
  EXPECT_TRUE(Get(*s.store, "lossy/m", "bad", nullptr) == expected);
  EXPECT_EQ(s.store->Stats().checksum_failures, 0u);
}

TEST(HbmTier, CorruptedBlockIsAMissNeverServed) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  HbmStore s = MakeStore(std::move(device), {});
  ASSERT_NE(s.store, nullptr);
  const BlockLayout l = KvF32(2, 4, 64, 16);
  const std::string payload = KvPayload(l, 5);
  ASSERT_TRUE(s.store->Put("ns", "k", "", l, payload).ok());
  ASSERT_EQ(s.store->Describe("ns", "k")->tier, "hbm");
  // A stray device write (another kernel on the GPU) flips one byte of the only block, which the
  // pool placed at its start.
  auto stream = s.hbm->device().NewStream();
  ASSERT_TRUE(stream.ok());
  const char flipped = static_cast<char>(payload[100] ^ 0x40);
  ASSERT_TRUE((*stream)->CopyToDevice(static_cast<char*>(s.hbm->TEST_pool()) + 100, &flipped, 1)
                  .ok());
  ASSERT_TRUE((*stream)->Synchronize().ok());

  bool served = false;
  absl::Status st = s.store->Get("ns", "k", [&](const BlockView&) { served = true; });
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(served);
  EXPECT_EQ(s.store->Stats().checksum_failures, 1u);
  EXPECT_FALSE(s.store->Exists("ns", "k"));
  EXPECT_EQ(s.hbm->used_bytes(), 0u);
}

TEST(HbmTier, FullOfLeasedBlocksAnswersResourceExhausted) {
  STRATA_HBM_DEVICE_OR_SKIP(device);
  auto hbm = HbmTier::Create({.capacity_bytes = 4 * 16 * kPage, .page_bytes = kPage},
                             std::move(device));
  ASSERT_TRUE(hbm.ok());
  std::vector<std::unique_ptr<Tier>> tiers;
  tiers.push_back(*std::move(hbm));
  TieredStoreOptions o;
  o.shards = 1;
  o.max_leased_bytes = 1 << 30;
  auto store = TieredStore::Open(o, std::move(tiers));
  ASSERT_TRUE(store.ok());
  const BlockLayout l = KvF32(2, 4, 64, 16);
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back("k" + std::to_string(i));
    ASSERT_TRUE((*store)->Put("ns", keys.back(), "", l, KvPayload(l, i)).ok());
  }
  ASSERT_EQ((*store)->Lookup("ns", keys, 60'000), 3u);
  ASSERT_TRUE((*store)->Put("ns", "k3", "", l, KvPayload(l, 3)).ok());
  // Four leased 64 KiB blocks fill the 256 KiB pool: the fifth cannot evict anything.
  ASSERT_EQ((*store)->Lookup("ns", std::vector<std::string>{"k3"}, 60'000), 1u);
  EXPECT_EQ((*store)->Put("ns", "k4", "", l, KvPayload(l, 4)).code(),
            absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(Get(**store, "ns", "k" + std::to_string(i), nullptr) == KvPayload(l, i)) << i;
  }
}

}  // namespace
}  // namespace strata
