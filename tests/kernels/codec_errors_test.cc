// Layout mismatches are INVALID_ARGUMENT naming the field; malformed encoded input is DATA_LOSS
// (or INVALID_ARGUMENT), never a crash or an out-of-bounds read.
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/codec.h"
#include "kernels/codec_format.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kAllNames[] = {"raw",  "shuffle-lz4", "shuffle-zstd", "fp8-e4m3",
                                     "int8", "kivi4",       "kivi2",        "kivi2-g64"};

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(CodecLayoutTest, LossyCodecsRejectOpaqueNamingTheField) {
  const BlockLayout opaque;
  for (const char* name : {"fp8-e4m3", "int8", "kivi4", "kivi2"}) {
    auto enc = FindCodec(name)->Encode(opaque, std::string(64, 'x'));
    ASSERT_FALSE(enc.ok()) << name;
    EXPECT_EQ(enc.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(enc.status()), StartsWith("layout.kind: ")) << name;
  }
}

TEST(CodecLayoutTest, LossyCodecsRejectFp8InputAndKiviRejectsMla) {
  const BlockLayout fp8 = BlockLayout::Kv(DType::kFp8E4M3, 1, 2, 8, 4);
  for (const char* name : {"fp8-e4m3", "int8", "kivi4"}) {
    auto s = FindCodec(name)->CheckLayout(fp8, fp8.Bytes());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(s), StartsWith("layout.dtype: ")) << name;
  }
  const BlockLayout mla = BlockLayout::MlaLatent(DType::kF16, 1, 64, 4);
  EXPECT_TRUE(FindCodec("int8")->CheckLayout(mla, mla.Bytes()).ok());
  auto s = FindCodec("kivi4")->CheckLayout(mla, mla.Bytes());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), StartsWith("layout.kind: "));
}

TEST(CodecLayoutTest, PayloadSizeMismatchIsInvalidArgument) {
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 1, 2, 8, 4);
  for (const char* name : kAllNames) {
    auto enc = FindCodec(name)->Encode(layout, std::string(layout.Bytes() - 2, '\0'));
    ASSERT_FALSE(enc.ok()) << name;
    EXPECT_EQ(enc.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(Message(enc.status()), StartsWith("layout")) << name;
  }
}

TEST(CodecLayoutTest, DecodeWithAnotherLayoutOrCodecIsInvalidArgument) {
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 2, 2, 16, 8);
  BlockLayout other = layout;
  other.tokens = 4;
  other.layers = 4;
  ASSERT_EQ(other.Bytes(), layout.Bytes());
  const std::string src = MakeBlock(layout, 1);
  for (const char* name : kAllNames) {
    const Codec* codec = FindCodec(name);
    auto enc = codec->Encode(layout, src);
    ASSERT_TRUE(enc.ok()) << name << enc.status();
    auto dec = codec->Decode(other, *enc);
    EXPECT_EQ(dec.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(Message(dec.status()), StartsWith("layout: ")) << name;
    const Codec* wrong = FindCodec(codec->numeric_id() == 0 ? "int8" : "raw");
    EXPECT_EQ(wrong->Decode(layout, *enc).status().code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST(CodecBufferTest, CallerBuffersAreChecked) {
  const BlockLayout layout = BlockLayout::Kv(DType::kBF16, 1, 2, 16, 8);
  const std::string src = MakeBlock(layout, 2);
  const Codec* codec = FindCodec("kivi4");
  std::string small(codec->MaxEncodedSize(layout, src.size()) - 1, '\0');
  EXPECT_EQ(codec->EncodeTo(layout, src, std::span<char>(small)).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::string buf(codec->MaxEncodedSize(layout, src.size()), '\0');
  auto n = codec->EncodeTo(layout, src, std::span<char>(buf));
  ASSERT_TRUE(n.ok());
  buf.resize(*n);
  std::string out(src.size() + 1, '\0');
  EXPECT_EQ(codec->DecodeTo(layout, buf, std::span<char>(out)).code(),
            absl::StatusCode::kInvalidArgument);
  out.resize(src.size());
  EXPECT_TRUE(codec->DecodeTo(layout, buf, std::span<char>(out)).ok());
}

bool IsAcceptableFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDataLoss || s.code() == absl::StatusCode::kInvalidArgument;
}

TEST(CodecCorruptionTest, EveryTruncationIsAnError) {
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 1, 2, 8, 5);
  const std::string src = MakeBlock(layout, 3);
  for (const char* name : kAllNames) {
    const Codec* codec = FindCodec(name);
    auto enc = codec->Encode(layout, src);
    ASSERT_TRUE(enc.ok());
    for (size_t n = 0; n < enc->size(); ++n) {
      // A fresh allocation of exactly n bytes, so ASan sees any read past the end.
      const std::string cut = enc->substr(0, n);
      auto dec = codec->Decode(layout, cut);
      ASSERT_FALSE(dec.ok()) << name << " truncated to " << n;
      EXPECT_EQ(dec.status().code(), absl::StatusCode::kDataLoss) << name << " " << n;
      EXPECT_FALSE(DecodeAnyBlock(cut).ok());
    }
  }
}

TEST(CodecCorruptionTest, HeaderFieldsAreValidated) {
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 1, 2, 8, 5);
  const std::string src = MakeBlock(layout, 4);
  auto enc = FindCodec("kivi4")->Encode(layout, src);
  ASSERT_TRUE(enc.ok());
  auto corrupt = [&](size_t offset, char value) {
    std::string e = *enc;
    e[offset] = value;
    return FindCodec("kivi4")->Decode(layout, e).status();
  };
  EXPECT_THAT(Message(corrupt(0, 'X')), HasSubstr("magic"));
  EXPECT_THAT(Message(corrupt(2, 9)), HasSubstr("version"));
  EXPECT_EQ(corrupt(4, 3).code(), absl::StatusCode::kDataLoss);  // kivi4 with 3 bits
  EXPECT_EQ(corrupt(5, 9).code(), absl::StatusCode::kDataLoss);  // group 512
  EXPECT_EQ(corrupt(6, 1).code(), absl::StatusCode::kDataLoss);  // reserved
  std::string unknown = *enc;
  unknown[3] = 42;
  EXPECT_EQ(DecodeAnyBlock(unknown).status().code(), absl::StatusCode::kDataLoss);
  // A header claiming an absurd opaque payload is refused before anything is allocated.
  const BlockLayout opaque;
  auto z = FindCodec("shuffle-zstd")->Encode(opaque, std::string(1000, 'a'));
  ASSERT_TRUE(z.ok());
  std::string huge = *z;
  huge[28 + 5] = 1;  // payload_bytes += 2^40
  EXPECT_EQ(DecodeAnyBlock(huge).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FindCodec("shuffle-zstd")->Decode(opaque, huge).status().code(),
            absl::StatusCode::kDataLoss);
}

// int8 / fp8-e4m3 record their body format in param0 (0 plain, 1 centered keys, 2 centered
// keys with channel scales); a format the layout cannot have, or one that does not match the
// body's size, is DATA_LOSS before anything is decoded.
TEST(CodecCorruptionTest, AbsMaxBodyFormatIsValidated) {
  const BlockLayout kv = BlockLayout::Kv(DType::kF16, 2, 2, 8, 5);
  const BlockLayout mla = BlockLayout::MlaLatent(DType::kF16, 2, 16, 5);
  for (const char* name : {"int8", "fp8-e4m3"}) {
    const Codec* codec = FindCodec(name);
    auto enc = codec->Encode(kv, MakeBlock(kv, 6));
    ASSERT_TRUE(enc.ok());
    EXPECT_EQ((*enc)[4], std::string_view(name) == "int8" ? 2 : 1) << name;
    for (char p0 : {0, 1, 2, 3}) {
      if (p0 == (*enc)[4]) continue;
      std::string e = *enc;
      e[4] = p0;
      const absl::Status s = codec->Decode(kv, e).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << name << " param0 " << int{p0};
    }
    auto plain = codec->Encode(mla, MakeBlock(mla, 6));
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ((*plain)[4], 0) << name;
    std::string e = *plain;
    e[4] = 2;
    EXPECT_THAT(Message(codec->Decode(mla, e).status()), HasSubstr("non-kv")) << name;
  }
}

// Bounded fuzz loop with a fixed seed: random byte flips, truncations and extensions of valid
// encodings. A lossy body with flipped bits may decode (to wrong numbers); anything else must be
// DATA_LOSS or INVALID_ARGUMENT. Under ASan this also proves no out-of-bounds access.
TEST(CodecCorruptionTest, FuzzedEncodingsNeverCrash) {
  std::mt19937_64 rng(20260601);
  const BlockLayout layouts[] = {BlockLayout::Kv(DType::kF16, 2, 2, 16, 9),
                                 BlockLayout::Kv(DType::kBF16, 1, 3, 8, 33), BlockLayout{}};
  size_t ok = 0, failed = 0;
  for (const char* name : kAllNames) {
    const Codec* codec = FindCodec(name);
    for (const BlockLayout& layout : layouts) {
      if (!codec->lossless() && layout.is_opaque()) continue;
      const std::string src = MakeBlock(layout, 5, 300);
      auto enc = codec->Encode(layout, src);
      ASSERT_TRUE(enc.ok()) << enc.status();
      for (int iter = 0; iter < 150; ++iter) {
        std::string e = *enc;
        const int op = static_cast<int>(rng() % 4);
        if (op == 0 && !e.empty()) {
          e.resize(rng() % e.size());
        } else if (op == 1) {
          e.append(1 + rng() % 8, static_cast<char>(rng()));
        } else {
          const int flips = 1 + static_cast<int>(rng() % 4);
          for (int f = 0; f < flips; ++f) {
            // Bias half the flips into the header, where the interesting checks are.
            const size_t limit = (rng() % 2) ? std::min(e.size(), EncodedHeader::kSize) : e.size();
            e[rng() % limit] ^= static_cast<char>(1 + rng() % 255);
          }
        }
        e.shrink_to_fit();
        auto dec = codec->Decode(layout, e);
        if (dec.ok()) {
          ++ok;
          EXPECT_EQ(dec->size(), src.size());
        } else {
          ++failed;
          EXPECT_TRUE(IsAcceptableFailure(dec.status())) << name << ": " << dec.status();
        }
        auto any = DecodeAnyBlock(e);
        if (!any.ok()) {
          EXPECT_TRUE(IsAcceptableFailure(any.status())) << name << ": " << any.status();
        }
      }
    }
  }
  EXPECT_GT(failed, 0u);
  EXPECT_GT(ok + failed, 1000u);
}

}  // namespace
}  // namespace strata
