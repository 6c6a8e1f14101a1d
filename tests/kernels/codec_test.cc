// Round trips of every codec over every dtype it accepts, with the error bound each promises.
#include "kernels/codec.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/codec_format.h"
#include "kernels/internal/quant_math.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::HalfUlp;
using ::strata::testing::KvLayout;
using ::strata::testing::MakeBlock;
using ::strata::testing::MlaLayout;
using ::strata::testing::ToFloats;

TEST(CodecRegistryTest, FindsByNameAndId) {
  const std::vector<std::pair<const char*, int>> expected = {
      {"raw", 0},        {"shuffle-lz4", 1}, {"shuffle-zstd", 2}, {"fp8-e4m3", 3},
      {"int8", 4},       {"kivi4", 5},       {"kivi2", 6},        {"kivi4-g64", 5},
      {"kivi4-g128", 5}, {"kivi2-g64", 6},   {"kivi2-g128", 6},
  };
  for (const auto& [name, id] : expected) {
    const Codec* c = FindCodec(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->name(), name);
    EXPECT_EQ(c->numeric_id(), id) << name;
    EXPECT_EQ(c->lossless(), id <= 2) << name;
  }
  EXPECT_EQ(FindCodecById(0)->name(), "raw");
  EXPECT_EQ(FindCodecById(2)->name(), "shuffle-zstd");
  EXPECT_EQ(FindCodecById(3)->name(), "fp8-e4m3");
  EXPECT_EQ(FindCodecById(5)->name(), "kivi4");
  EXPECT_EQ(FindCodecById(7), nullptr);
  EXPECT_EQ(FindCodec("kivi3"), nullptr);
  EXPECT_EQ(FindCodec("raw"), FindCodec("raw"));  // a table, not fresh objects
  auto unknown = GetCodec("gzip");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("shuffle-zstd"));
}

struct Shape {
  const char* label;
  BlockLayout (*make)(DType);
};

// Tails everywhere: head_dim 20 is not a multiple of 8 (AVX2 remainder), 37 tokens leave a key
// group of 5 at G=32, 3 x 20 = 60 channels leave a value group of 28.
BlockLayout OddKv(DType d) { return KvLayout(d, 2, 3, 20, 37); }
BlockLayout WideKv(DType d) { return KvLayout(d, 1, 2, 128, 64); }
BlockLayout Mla(DType d) { return MlaLayout(d, 2, 72, 19); }

const Shape kShapes[] = {{"odd_kv", OddKv}, {"wide_kv", WideKv}, {"mla", Mla}};
const DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

TEST(LosslessCodecTest, BitExactForEveryDtypeAndOpaque) {
  for (const char* name : {"raw", "shuffle-lz4", "shuffle-zstd"}) {
    const Codec* codec = FindCodec(name);
    for (const Shape& shape : kShapes) {
      for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3}) {
        const BlockLayout layout = shape.make(d);
        const std::string src = MakeBlock(layout, 7);
        auto enc = codec->Encode(layout, src);
        ASSERT_TRUE(enc.ok()) << name << " " << shape.label << ": " << enc.status();
        EXPECT_LE(enc->size(), codec->MaxEncodedSize(layout, src.size()));
        auto dec = codec->Decode(layout, *enc);
        ASSERT_TRUE(dec.ok()) << dec.status();
        EXPECT_TRUE(*dec == src) << name << " " << shape.label << " " << DTypeName(d);
      }
    }
    const BlockLayout opaque;
    for (size_t n : {size_t{0}, size_t{1}, size_t{777}, size_t{70000}}) {
      const std::string src = MakeBlock(opaque, n, n);
      auto enc = codec->Encode(opaque, src);
      ASSERT_TRUE(enc.ok()) << enc.status();
      auto dec = codec->Decode(opaque, *enc);
      ASSERT_TRUE(dec.ok()) << dec.status();
      EXPECT_TRUE(*dec == src) << name << " opaque " << n;
    }
  }
}

TEST(LosslessCodecTest, ShuffleHelpsOnHalfPrecision) {
  const BlockLayout layout = KvLayout(DType::kF16, 2, 8, 128, 64);
  const std::string src = MakeBlock(layout, 3);
  // zstd entropy-codes the exponent plane; LZ4 has no entropy coder and finds little to match in
  // Gaussian data, but never expands a block beyond its header.
  auto zstd = FindCodec("shuffle-zstd")->Encode(layout, src);
  ASSERT_TRUE(zstd.ok());
  EXPECT_LT(zstd->size(), src.size() * 10 / 11);  // at least ~1.1x
  auto lz4 = FindCodec("shuffle-lz4")->Encode(layout, src);
  ASSERT_TRUE(lz4.ok());
  EXPECT_LE(lz4->size(), src.size() + EncodedHeader::kSize);
}

// Checks |x - x'| against each quantizer's documented bound. Returns the largest error seen
// relative to the bound, for the messages.
void ExpectWithinBound(const Codec& codec, const BlockLayout& layout, const std::string& src,
                       const std::string& decoded) {
  const std::vector<float> x = ToFloats(layout, src);
  const std::vector<float> y = ToFloats(layout, decoded);
  ASSERT_EQ(x.size(), y.size());
  const size_t dim = layout.head_dim;
  const bool kv = layout.kind == LayoutKind::kKv;
  const size_t c = (kv ? layout.kv_heads : 1) * dim;
  const size_t t_count = layout.tokens;
  // scale[i]: the quantization step that applies to element i, derived from the data the way the
  // codec definition says.
  std::vector<float> step(x.size(), 0.0f);
  std::vector<float> mins(x.size(), 0.0f);
  const std::string_view name = codec.name();
  if (name == "int8" || name == "fp8-e4m3") {
    const float qmax = name == "int8" ? quant::kInt8Max : quant::kFp8Max;
    for (size_t r = 0; r < x.size() / dim; ++r) {
      float amax = 0;
      for (size_t i = 0; i < dim; ++i) amax = std::max(amax, std::fabs(x[r * dim + i]));
      for (size_t i = 0; i < dim; ++i) step[r * dim + i] = quant::AbsMaxScale(amax, qmax);
    }
  } else {
    const uint32_t group = name.find("g128") != name.npos  ? 128
                           : name.find("g64") != name.npos ? 64
                                                           : 32;
    const float levels = name.starts_with("kivi4") ? 15.0f : 3.0f;
    for (uint32_t l = 0; l < layout.layers; ++l) {
      const size_t k0 = size_t{l} * 2 * t_count * c, v0 = k0 + t_count * c;
      for (size_t t0 = 0; t0 < t_count; t0 += group) {
        const size_t t1 = std::min<size_t>(t_count, t0 + group);
        for (size_t ch = 0; ch < c; ++ch) {
          float lo = x[k0 + t0 * c + ch], hi = lo;
          for (size_t t = t0; t < t1; ++t) {
            lo = std::min(lo, x[k0 + t * c + ch]);
            hi = std::max(hi, x[k0 + t * c + ch]);
          }
          uint16_t m16, s16;
          ASSERT_TRUE(quant::KiviGroupParams(lo, hi, levels, &m16, &s16));
          for (size_t t = t0; t < t1; ++t) {
            step[k0 + t * c + ch] = quant::HalfToFloat(s16);
            mins[k0 + t * c + ch] = quant::HalfToFloat(m16);
          }
        }
      }
      for (size_t t = 0; t < t_count; ++t) {
        for (size_t c0 = 0; c0 < c; c0 += group) {
          const size_t c1 = std::min<size_t>(c, c0 + group);
          float lo = x[v0 + t * c + c0], hi = lo;
          for (size_t ch = c0; ch < c1; ++ch) {
            lo = std::min(lo, x[v0 + t * c + ch]);
            hi = std::max(hi, x[v0 + t * c + ch]);
          }
          uint16_t m16, s16;
          ASSERT_TRUE(quant::KiviGroupParams(lo, hi, levels, &m16, &s16));
          for (size_t ch = c0; ch < c1; ++ch) {
            step[v0 + t * c + ch] = quant::HalfToFloat(s16);
            mins[v0 + t * c + ch] = quant::HalfToFloat(m16);
          }
        }
      }
    }
  }
  size_t violations = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float err = std::fabs(x[i] - y[i]);
    const float s = step[i];
    float bound;
    if (name == "fp8-e4m3") {
      // E4M3 keeps 3 mantissa bits: half an ulp is at most |y| / 16 of the scaled value y = x / s,
      // and 2^-10 in the subnormal range.
      bound = std::max(std::fabs(x[i]) / 16.0f, s / 1024.0f) * 1.0001f;
    } else {
      bound = s / 2.0f * 1.0001f;
    }
    // Float arithmetic slack (the product and sum of the dequantization) and the rounding of
    // the result to the block's dtype.
    bound += 1e-6f * (std::fabs(x[i]) + std::fabs(mins[i])) +
             HalfUlp(layout.dtype, std::max(std::fabs(x[i]), std::fabs(y[i])));
    if (!(err <= bound)) {
      if (++violations <= 5) {
        ADD_FAILURE() << name << " " << DTypeName(layout.dtype) << " element " << i
                      << ": x=" << x[i] << " decoded=" << y[i] << " err=" << err
                      << " bound=" << bound << " step=" << s;
      }
    }
  }
  EXPECT_EQ(violations, 0u);
}

TEST(LossyCodecTest, RoundTripWithinBoundEveryDtype) {
  for (const char* name : {"int8", "fp8-e4m3", "kivi4", "kivi2", "kivi4-g64", "kivi2-g128"}) {
    for (CpuPath path : {CpuPath::kAuto, CpuPath::kPortable}) {
      const std::unique_ptr<Codec> owned = MakeCodec(name, path);
      const Codec* codec = owned.get();
      for (const Shape& shape : kShapes) {
        for (DType d : kFloatTypes) {
          const BlockLayout layout = shape.make(d);
          if (layout.kind == LayoutKind::kMlaLatent && std::string_view(name).starts_with("kivi")) {
            continue;
          }
          SCOPED_TRACE(::testing::Message() << name << " " << shape.label << " " << DTypeName(d)
                                            << (path == CpuPath::kPortable ? " portable" : ""));
          const std::string src = MakeBlock(layout, 11);
          auto enc = codec->Encode(layout, src);
          ASSERT_TRUE(enc.ok()) << enc.status();
          EXPECT_EQ(enc->size(), codec->MaxEncodedSize(layout, src.size()));
          EXPECT_LT(enc->size(), src.size());
          auto dec = codec->Decode(layout, *enc);
          ASSERT_TRUE(dec.ok()) << dec.status();
          ASSERT_EQ(dec->size(), src.size());
          ExpectWithinBound(*codec, layout, src, *dec);
          // Any id decodes through the generic entry point too.
          BlockLayout seen;
          auto any = DecodeAnyBlock(*enc, &seen);
          ASSERT_TRUE(any.ok()) << any.status();
          EXPECT_EQ(seen, layout);
          EXPECT_TRUE(*any == *dec);
        }
      }
    }
  }
}

TEST(LossyCodecTest, Int8IsNearlyExactOnSmoothData) {
  const BlockLayout layout = KvLayout(DType::kF32, 1, 1, 8, 1);
  std::vector<float> v = {0.0f, 127.0f, -127.0f, 63.5f, 1.0f, -1.0f, 2.0f, 100.0f};
  std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  std::string k_and_v = src + src;
  auto enc = FindCodec("int8")->Encode(layout, k_and_v);
  ASSERT_TRUE(enc.ok());
  auto dec = FindCodec("int8")->Decode(layout, *enc);
  ASSERT_TRUE(dec.ok());
  const std::vector<float> y = ToFloats(layout, *dec);
  // Scale 1: integers come back exactly, 63.5 ties to even.
  EXPECT_EQ(y[1], 127.0f);
  EXPECT_EQ(y[2], -127.0f);
  EXPECT_EQ(y[3], 64.0f);
  EXPECT_EQ(y[7], 100.0f);
}

TEST(LossyCodecTest, Fp8SaturatesAndKeepsZeros) {
  const BlockLayout layout = MlaLayout(DType::kF32, 1, 4, 1);
  std::vector<float> v = {0.0f, -0.0f, 448.0f, -448.0f};
  std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  const Codec* fp8 = FindCodec("fp8-e4m3");
  auto enc = fp8->Encode(layout, src);
  ASSERT_TRUE(enc.ok());
  // Body: one f32 scale (448 / 448 = 1) then the codes.
  const std::string_view body = std::string_view(*enc).substr(EncodedHeader::kSize);
  float scale;
  std::memcpy(&scale, body.data(), 4);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(static_cast<uint8_t>(body[4]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(body[5]), 0x80);
  EXPECT_EQ(static_cast<uint8_t>(body[6]), 0x7e);
  EXPECT_EQ(static_cast<uint8_t>(body[7]), 0xfe);
}

TEST(LossyCodecTest, KiviRejectsValuesOutsideFp16) {
  const BlockLayout layout = KvLayout(DType::kF32, 1, 1, 8, 2);
  std::vector<float> v(32, 1.0f);
  v[3] = 1e6f;
  std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  auto enc = FindCodec("kivi4")->Encode(layout, src);
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(enc.status().message()), ::testing::StartsWith("src:"));
  v[3] = std::nanf("");
  src.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  EXPECT_EQ(FindCodec("kivi2")->Encode(layout, src).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LossyCodecTest, RatiosMatchTheFormat) {
  const BlockLayout layout = KvLayout(DType::kF16, 4, 8, 128, 256);
  const uint64_t bytes = layout.Bytes();
  auto ratio = [&](const char* name) {
    return static_cast<double>(bytes) /
           static_cast<double>(FindCodec(name)->MaxEncodedSize(layout, bytes));
  };
  EXPECT_NEAR(ratio("int8"), 2.0 * 128 / 132, 0.01);
  EXPECT_NEAR(ratio("fp8-e4m3"), 2.0 * 128 / 132, 0.01);
  // 4 (2) bits per code plus an fp16 scale and minimum per 32 elements: 16 / 5 and 16 / 3.
  EXPECT_NEAR(ratio("kivi4"), 3.2, 0.01);
  EXPECT_NEAR(ratio("kivi2"), 5.33, 0.01);
  EXPECT_NEAR(ratio("kivi4-g128"), 16.0 / 4.25, 0.01);
}

}  // namespace
}  // namespace strata
