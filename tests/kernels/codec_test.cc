// Round trips of every codec over every dtype it accepts, with the error bound each promises.
#include "kernels/codec.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
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
using ::strata::testing::MakeBlock;
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
BlockLayout OddKv(DType d) { return BlockLayout::Kv(d, 2, 3, 20, 37); }
BlockLayout WideKv(DType d) { return BlockLayout::Kv(d, 1, 2, 128, 64); }
BlockLayout Mla(DType d) { return BlockLayout::MlaLatent(d, 2, 72, 19); }

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
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 2, 8, 128, 64);
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

// The steps of int8 / fp8-e4m3 derived from the data the way the format defines them
// (quant_math.h, "centered key rows"): per element, the step that applies, the value whose
// fp8 rounding gives the error (x, or x - offset in a centered row), the offset, and the plain
// absmax step of its row; per row, whether it is stored centered.
struct AbsMaxSteps {
  std::vector<float> step, basis, offset, plain_step;
  std::vector<bool> centered_row;
};

AbsMaxSteps DeriveAbsMaxSteps(const BlockLayout& layout, const std::vector<float>& x, bool int8) {
  const float qmax = int8 ? quant::kInt8Max : quant::kFp8Max;
  const size_t dim = layout.head_dim;
  const size_t rows = x.size() / dim;
  AbsMaxSteps s;
  s.step.resize(x.size());
  s.basis = x;
  s.offset.assign(x.size(), 0.0f);
  s.plain_step.resize(x.size());
  s.centered_row.assign(rows, false);
  for (size_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (size_t i = 0; i < dim; ++i) amax = std::max(amax, std::fabs(x[r * dim + i]));
    for (size_t i = 0; i < dim; ++i) {
      s.step[r * dim + i] = s.plain_step[r * dim + i] = quant::AbsMaxScale(amax, qmax);
    }
  }
  if (layout.kind != LayoutKind::kKv) return s;
  const size_t heads = layout.kv_heads, c = heads * dim, tokens = layout.tokens;
  for (size_t l = 0; l < layout.layers; ++l) {
    const size_t k0 = l * 2 * tokens * c;
    std::vector<float> off(c), cs(c), csmax(heads, 0.0f);
    for (size_t ch = 0; ch < c; ++ch) {
      float lo = x[k0 + ch], hi = lo;
      for (size_t t = 0; t < tokens; ++t) {
        lo = std::min(lo, x[k0 + t * c + ch]);
        hi = std::max(hi, x[k0 + t * c + ch]);
      }
      uint16_t o16, s16;
      quant::CenterChannelParams(lo, hi, int8, &o16, &s16);
      off[ch] = quant::HalfToFloat(o16);
      cs[ch] = quant::HalfToFloat(s16);
      csmax[ch / dim] = std::max(csmax[ch / dim], cs[ch]);
    }
    for (size_t t = 0; t < tokens; ++t) {
      for (size_t h = 0; h < heads; ++h) {
        const size_t base = k0 + t * c + h * dim;
        float cmax = 0;
        for (size_t i = 0; i < dim; ++i) {
          cmax = std::max(cmax, std::fabs(quant::CenterElement(x[base + i], off[h * dim + i],
                                                                1.0f / cs[h * dim + i])));
        }
        const float centered = quant::AbsMaxScale(cmax, qmax);
        if (!quant::UseCenteredRow(centered, csmax[h], s.plain_step[base])) continue;
        s.centered_row[base / dim] = true;
        for (size_t i = 0; i < dim; ++i) {
          s.step[base + i] = centered * cs[h * dim + i];
          s.basis[base + i] = x[base + i] - off[h * dim + i];
          s.offset[base + i] = off[h * dim + i];
        }
      }
    }
  }
  return s;
}

// Checks |x - x'| against each quantizer's documented bound (and, for int8 / fp8, that the
// encoded row scales mark exactly the rows the definition stores centered).
void ExpectWithinBound(const Codec& codec, const BlockLayout& layout, const std::string& src,
                       const std::string& encoded, const std::string& decoded) {
  const std::vector<float> x = ToFloats(layout, src);
  const std::vector<float> y = ToFloats(layout, decoded);
  ASSERT_EQ(x.size(), y.size());
  const size_t dim = layout.head_dim;
  const bool kv = layout.kind == LayoutKind::kKv;
  const size_t c = (kv ? layout.kv_heads : 1) * dim;
  const size_t t_count = layout.tokens;
  // step[i]: the quantization step that applies to element i, derived from the data the way the
  // codec definition says; mins[i]: the offset or minimum added back (float slack).
  std::vector<float> step(x.size(), 0.0f);
  std::vector<float> mins(x.size(), 0.0f);
  std::vector<float> basis = x, plain_step;
  const std::string_view name = codec.name();
  const bool absmax = name == "int8" || name == "fp8-e4m3";
  if (absmax) {
    AbsMaxSteps s = DeriveAbsMaxSteps(layout, x, name == "int8");
    step = s.step;
    mins = s.offset;
    basis = s.basis;
    plain_step = s.plain_step;
    // The body's row scales: sign bit set exactly on K rows stored plain.
    const std::string_view body = std::string_view(encoded).substr(EncodedHeader::kSize);
    const uint8_t p0 = static_cast<uint8_t>(encoded[4]);
    EXPECT_EQ(p0, kv ? (name == "int8" ? 2 : 1) : 0);
    const size_t params = kv ? size_t{layout.layers} * c * 2 * p0 : 0;
    size_t centered = 0;
    for (size_t r = 0; r < s.centered_row.size(); ++r) {
      uint32_t bits;
      std::memcpy(&bits, body.data() + params + 4 * r, 4);
      const bool k_row = kv && (r / (t_count * layout.kv_heads)) % 2 == 0;
      const bool marked_plain = k_row && (bits & quant::kPlainRowBit) != 0;
      EXPECT_EQ(k_row && !marked_plain, s.centered_row[r]) << "row " << r;
      centered += s.centered_row[r];
    }
    if (kv) {
      EXPECT_GT(centered, 0u) << "no K row was stored centered";
    }
  } else {
    const uint32_t group = name.find("g128") != name.npos  ? 128
                           : name.find("g64") != name.npos ? 64
                                                           : 32;
    const uint32_t bits = name.starts_with("kivi4") ? 4 : 2;
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
          ASSERT_TRUE(quant::KiviParamsForBits(lo, hi, bits, &m16, &s16));
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
          ASSERT_TRUE(quant::KiviParamsForBits(lo, hi, bits, &m16, &s16));
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
      // E4M3 keeps 3 mantissa bits: half an ulp is at most |v| / 16 of the value it rounds (x,
      // or x - offset in a centered row), and 2^-10 of the step in the subnormal range.
      bound = std::max(std::fabs(basis[i]) / 16.0f, s / 1024.0f) * 1.0001f;
    } else {
      bound = s / 2.0f * 1.0001f;
    }
    // Float arithmetic slack (the products and sum of the dequantization) and the rounding of
    // the result to the block's dtype.
    const float slack = 1e-6f * (std::fabs(x[i]) + std::fabs(mins[i])) +
                        HalfUlp(layout.dtype, std::max(std::fabs(x[i]), std::fabs(y[i])));
    bool ok = err <= bound + slack;
    // int8 never does worse than plain absmax int8: half the row's plain step.
    if (name == "int8") ok &= err <= plain_step[i] / 2.0f * 1.0001f + slack;
    if (!ok) {
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
          ExpectWithinBound(*codec, layout, src, *enc, *dec);
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
  const BlockLayout layout = BlockLayout::Kv(DType::kF32, 1, 1, 8, 1);
  std::vector<float> v = {0.0f, 127.0f, -127.0f, 63.5f, 1.0f, -1.0f, 2.0f, 100.0f};
  std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  std::string k_and_v = src + src;
  auto enc = FindCodec("int8")->Encode(layout, k_and_v);
  ASSERT_TRUE(enc.ok());
  auto dec = FindCodec("int8")->Decode(layout, *enc);
  ASSERT_TRUE(dec.ok());
  const std::vector<float> y = ToFloats(layout, *dec);
  // V (stored plain), scale 1: integers come back exactly, 63.5 ties to even.
  EXPECT_EQ(y[8 + 1], 127.0f);
  EXPECT_EQ(y[8 + 2], -127.0f);
  EXPECT_EQ(y[8 + 3], 64.0f);
  EXPECT_EQ(y[8 + 7], 100.0f);
  // K of a single token: every channel's offset is its value (to fp16), so the centered
  // residual is tiny and its step with it.
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], v[i], 1e-4f) << i;
}

TEST(LossyCodecTest, Fp8SaturatesAndKeepsZeros) {
  const BlockLayout layout = BlockLayout::MlaLatent(DType::kF32, 1, 4, 1);
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
  const BlockLayout layout = BlockLayout::Kv(DType::kF32, 1, 1, 8, 2);
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
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 4, 8, 128, 256);
  const uint64_t bytes = layout.Bytes();
  auto ratio = [&](const char* name) {
    return static_cast<double>(bytes) /
           static_cast<double>(FindCodec(name)->MaxEncodedSize(layout, bytes));
  };
  // 128 one-byte codes and an f32 scale per row, plus the K channel parameters per layer
  // (fp16 offset and, for int8, channel scale): per row of 128 over 2 x 256 rows, 1 or 0.5 bytes.
  EXPECT_NEAR(ratio("int8"), 2.0 * 128 / 133, 0.001);
  EXPECT_NEAR(ratio("fp8-e4m3"), 2.0 * 128 / 132.5, 0.001);
  // 4 (2) bits per code plus an fp16 scale and minimum per 32 elements: 16 / 5 and 16 / 3.
  EXPECT_NEAR(ratio("kivi4"), 3.2, 0.01);
  EXPECT_NEAR(ratio("kivi2"), 5.33, 0.01);
  EXPECT_NEAR(ratio("kivi4-g128"), 16.0 / 4.25, 0.01);
}

// K channels far from zero (as real keys have) cost a plain absmax row most of its range; the
// centered rows keep the K error of such data far below what plain rows give. The plain
// reference is the same K rows encoded as an mla_latent layout, which stays plain.
TEST(LossyCodecTest, CenteredKeysShrinkTheErrorOfOffsetChannels) {
  const uint32_t heads = 2, dim = 16, tokens = 64;
  const BlockLayout kv = BlockLayout::Kv(DType::kF32, 1, heads, dim, tokens);
  const BlockLayout mla = BlockLayout::MlaLatent(DType::kF32, 1, dim, tokens * heads);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(kv.Elements());
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = normal(rng);
    if (i < v.size() / 2 && i % dim == 3) v[i] = 100.0f + 2.0f * v[i];  // K channels 3 and 9
    if (i < v.size() / 2 && i % dim == 9) v[i] = -70.0f + 2.0f * v[i];  // of each head
  }
  const std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  const std::string k_only = src.substr(0, src.size() / 2);
  for (const char* name : {"int8", "fp8-e4m3"}) {
    const Codec* codec = FindCodec(name);
    auto centered = codec->Decode(kv, *codec->Encode(kv, src));
    auto plain = codec->Decode(mla, *codec->Encode(mla, k_only));
    ASSERT_TRUE(centered.ok() && plain.ok());
    const std::vector<float> a = ToFloats(kv, *centered), b = ToFloats(mla, *plain);
    double err_centered = 0, err_plain = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      err_centered += (a[i] - v[i]) * (a[i] - v[i]);
      err_plain += (b[i] - v[i]) * (b[i] - v[i]);
    }
    // int8: the offsets take 100 out of each row's range (a ~20x smaller step); fp8: its error
    // is relative to the value it rounds, and the offset channels' residuals are ~40x smaller
    // than their values (plain fp8 rounds only a row's largest element exactly).
    EXPECT_LT(err_centered * 50, err_plain) << name << " " << err_centered << " " << err_plain;
  }
}

// A K row that the centered step would serve worse than its plain step (here: a token whose
// values are all tiny beside channels that sit far from zero) is stored plain, marked by the
// sign bit of its scale, and keeps the plain bound.
TEST(LossyCodecTest, KeyRowsFallBackToPlainWhenCenteringWouldHurt) {
  const uint32_t dim = 8, tokens = 4;
  const BlockLayout kv = BlockLayout::Kv(DType::kF32, 1, 1, dim, tokens);
  std::vector<float> v(kv.Elements(), 0.0f);
  for (uint32_t t = 0; t < tokens; ++t) {
    for (uint32_t d = 0; d < dim; ++d) {
      v[t * dim + d] = t == 0 ? 0.001f * static_cast<float>(d + 1)
                              : 50.0f + static_cast<float>(t * 3 + d % 3);
    }
  }
  for (size_t i = tokens * dim; i < v.size(); ++i) v[i] = static_cast<float>(i % 5);
  const std::string src(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  const Codec* int8 = FindCodec("int8");
  auto enc = int8->Encode(kv, src);
  ASSERT_TRUE(enc.ok());
  const std::string_view body = std::string_view(*enc).substr(EncodedHeader::kSize);
  const size_t params = size_t{dim} * 2 * 2;  // offsets and channel scales, one head
  for (uint32_t t = 0; t < tokens; ++t) {
    uint32_t bits;
    std::memcpy(&bits, body.data() + params + 4 * t, 4);
    EXPECT_EQ((bits & quant::kPlainRowBit) != 0, t == 0) << "token " << t;
  }
  auto dec = int8->Decode(kv, *enc);
  ASSERT_TRUE(dec.ok());
  const std::vector<float> y = ToFloats(kv, *dec);
  for (uint32_t d = 0; d < dim; ++d) {
    EXPECT_NEAR(y[d], v[d], 0.008f / 127 / 2 * 1.0001f) << d;  // plain step: absmax / 127
  }
  ExpectWithinBound(*int8, kv, src, *enc, *dec);
}

// Bodies written before centered keys (param0 = 0 on a kv layout: scales, then codes) still
// decode, to exactly what they always did.
TEST(LossyCodecTest, PlainKvBodiesStillDecode) {
  const BlockLayout layout = BlockLayout::Kv(DType::kF32, 1, 1, 4, 1);
  EncodedHeader h;
  h.codec_id = FindCodec("int8")->numeric_id();
  h.param0 = 0;
  h.layout = layout;
  h.payload_bytes = layout.Bytes();
  h.body_bytes = 2 * 4 + 2 * 4;
  std::string enc(EncodedHeader::kSize + h.body_bytes, '\0');
  h.WriteTo(enc.data());
  const float scales[2] = {1.0f, 0.5f};
  const int8_t codes[8] = {1, -2, 3, 127, 4, 5, -6, 0};
  std::memcpy(enc.data() + EncodedHeader::kSize, scales, 8);
  std::memcpy(enc.data() + EncodedHeader::kSize + 8, codes, 8);
  for (CpuPath path : {CpuPath::kAuto, CpuPath::kPortable}) {
    auto dec = MakeCodec("int8", path)->Decode(layout, enc);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(ToFloats(layout, *dec),
              (std::vector<float>{1, -2, 3, 127, 2, 2.5f, -3, 0}));
  }
}

}  // namespace
}  // namespace strata
