// The AVX2 and portable CPU paths give identical bytes, encode and decode, for every codec and
// dtype, including remainders that are not a multiple of the vector width.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/codec.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/quant_math.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;
using ::strata::testing::TiesBlock;

#define STRATA_SKIP_WITHOUT_AVX2()                                                \
  if (!CpuHasAvx2Path()) {                                                        \
    GTEST_SKIP() << "this CPU has no AVX2+F16C+FMA: only the portable path runs"; \
  }

TEST(CpuPathTest, PortableAlwaysAvailableAndAutoPicksAvx2WhenPresent) {
  EXPECT_STREQ(cpu::PortableKernels().name, "portable");
  EXPECT_STREQ(cpu::SelectKernels(CpuPath::kPortable).name, "portable");
  EXPECT_STREQ(cpu::SelectKernels(CpuPath::kAuto).name, CpuHasAvx2Path() ? "avx2" : "portable");
}

TEST(CpuPathTest, CodecsEncodeAndDecodeIdentically) {
  STRATA_SKIP_WITHOUT_AVX2();
  const BlockLayout layouts[] = {
      BlockLayout::Kv(DType::kF16, 2, 3, 20, 37), BlockLayout::Kv(DType::kBF16, 1, 2, 64, 70),
      BlockLayout::Kv(DType::kF32, 1, 4, 9, 33), BlockLayout::MlaLatent(DType::kF16, 2, 72, 19),
      BlockLayout::MlaLatent(DType::kBF16, 1, 13, 5)};
  for (const Codec* registered : AllCodecs()) {
    auto portable = MakeCodec(registered->name(), CpuPath::kPortable);
    auto avx2 = MakeCodec(registered->name(), CpuPath::kAvx2);
    for (const BlockLayout& layout : layouts) {
      if (!portable->CheckLayout(layout, layout.Bytes()).ok()) continue;
      SCOPED_TRACE(::testing::Message() << registered->name() << " " << DTypeName(layout.dtype)
                                        << " head_dim=" << layout.head_dim);
      const std::string src = MakeBlock(layout, 99);
      auto a = portable->Encode(layout, src);
      auto b = avx2->Encode(layout, src);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_TRUE(*a == *b) << "encodings differ";
      auto da = portable->Decode(layout, *a);
      auto db = avx2->Decode(layout, *a);
      ASSERT_TRUE(da.ok() && db.ok());
      EXPECT_TRUE(*da == *db) << "decodings differ";
    }
  }
}

// Ties of +0 and -0 at a channel's or group's extreme: the AVX2 path folds eight lanes at a time
// and must still store the zero sign the portable path's element-order fold stores (the GPU
// kernels are held to the same bits by gpu_codec_test).
TEST(CpuPathTest, ZeroSignTiesEncodeIdentically) {
  STRATA_SKIP_WITHOUT_AVX2();
  const BlockLayout layouts[] = {BlockLayout::Kv(DType::kF16, 2, 2, 64, 300),
                                 BlockLayout::Kv(DType::kBF16, 1, 2, 128, 40),
                                 BlockLayout::Kv(DType::kF32, 1, 3, 32, 77)};
  for (const Codec* registered : AllCodecs()) {
    auto portable = MakeCodec(registered->name(), CpuPath::kPortable);
    auto avx2 = MakeCodec(registered->name(), CpuPath::kAvx2);
    for (const BlockLayout& layout : layouts) {
      if (!portable->CheckLayout(layout, layout.Bytes()).ok()) continue;
      SCOPED_TRACE(::testing::Message() << registered->name() << " " << DTypeName(layout.dtype));
      const std::string src = TiesBlock(layout);
      auto a = portable->Encode(layout, src);
      auto b = avx2->Encode(layout, src);
      ASSERT_TRUE(a.ok() && b.ok());
      size_t differing = 0;
      for (size_t i = 0; i < a->size(); ++i) differing += (*a)[i] != (*b)[i];
      EXPECT_EQ(differing, 0u) << "of " << a->size() << " bytes";
    }
  }
}

TEST(CpuPathTest, ConversionsAgreeOnEveryHalfAndEdgeFloats) {
  STRATA_SKIP_WITHOUT_AVX2();
  const cpu::Kernels& p = cpu::PortableKernels();
  const cpu::Kernels& v = *cpu::Avx2Kernels();
  // Every 16-bit pattern as f16 and bf16 -> float (exact, must match bit for bit incl. NaNs).
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  for (DType d : {DType::kF16, DType::kBF16}) {
    std::vector<float> a(65536), b(65536);
    p.load_f32(d, all.data(), all.size(), a.data());
    v.load_f32(d, all.data(), all.size(), b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << DTypeName(d);
  }
  // Floats around every rounding edge: random bit patterns (finite) plus halfway cases.
  std::mt19937 rng(7);
  std::vector<float> f;
  for (int i = 0; i < 200000; ++i) {
    float x;
    uint32_t u = rng();
    std::memcpy(&x, &u, 4);
    if (std::isfinite(x)) f.push_back(x);
  }
  for (uint32_t h = 0; h < 0x7c00; h += 7) {  // midpoints between neighbouring halves
    f.push_back((quant::HalfToFloat(static_cast<uint16_t>(h)) +
                 quant::HalfToFloat(static_cast<uint16_t>(h + 1))) /
                2);
  }
  f.push_back(65504.0f);
  f.push_back(65519.0f);
  f.push_back(65520.0f);
  f.push_back(1e-8f);
  f.push_back(std::numeric_limits<float>::infinity());
  for (DType d : {DType::kF16, DType::kBF16}) {
    std::vector<uint16_t> a(f.size()), b(f.size());
    p.store_f32(d, f.data(), f.size(), a.data());
    v.store_f32(d, f.data(), f.size(), b.data());
    size_t diff = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      if (a[i] != b[i] && ++diff <= 5) {
        ADD_FAILURE() << DTypeName(d) << " " << f[i] << ": portable " << a[i] << " avx2 " << b[i];
      }
    }
    EXPECT_EQ(diff, 0u);
  }
}

TEST(CpuPathTest, Fp8CodesAgreeOverTheWholeRange) {
  STRATA_SKIP_WITHOUT_AVX2();
  // Rows of f32 whose scale is 1 (each row contains 448): the codes are the E4M3 conversion of
  // every value, including the subnormal range and halfway points.
  std::vector<float> x;
  for (int c = 0; c < 0x7e; ++c) {
    const float a = quant::E4M3ToFloat(static_cast<uint8_t>(c));
    const float b = quant::E4M3ToFloat(static_cast<uint8_t>(c + 1));
    for (float t : {a, (a + b) / 2, b * 0.999f}) {
      x.push_back(t);
      x.push_back(-t);
    }
  }
  const size_t dim = 31;
  while (x.size() % dim != 0) x.push_back(0);
  for (size_t r = 0; r < x.size() / dim; ++r) x[r * dim] = 448.0f;
  const size_t rows = x.size() / dim;
  std::vector<float> sa(rows), sb(rows);
  std::vector<uint8_t> ca(x.size()), cb(x.size());
  cpu::PortableKernels().absmax_encode(cpu::AbsMaxFormat::kFp8, DType::kF32, x.data(), rows, dim,
                                       sa.data(), ca.data());
  cpu::Avx2Kernels()->absmax_encode(cpu::AbsMaxFormat::kFp8, DType::kF32, x.data(), rows, dim,
                                    sb.data(), cb.data());
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(ca, cb);
  for (size_t i = 0; i < x.size(); ++i) {
    // Scale 1: the code must decode to the nearest E4M3 value (ties to even code).
    const float back = quant::E4M3ToFloat(ca[i]);
    EXPECT_LE(std::fabs(back - x[i]), std::max(std::fabs(x[i]) / 16.0f, 1.0f / 1024.0f)) << x[i];
  }
}

TEST(CpuPathTest, KiviParamsAgreeIncludingEdges) {
  STRATA_SKIP_WITHOUT_AVX2();
  // Group ranges across the fp16 range: tiny, subnormal-scale, huge (out of range), negative.
  std::mt19937 rng(11);
  std::vector<float> lo, hi;
  for (int i = 0; i < 4000; ++i) {
    const float e = std::ldexp(1.0f, static_cast<int>(rng() % 46) - 28);
    float a = (static_cast<float>(rng() % 2000) / 1000.0f - 1.0f) * e;
    float b = a + static_cast<float>(rng() % 1000) / 1000.0f * e;
    if (i % 97 == 0) b = a;
    lo.push_back(a);
    hi.push_back(b);
  }
  for (int bits : {2, 4}) {
    for (size_t n : {size_t{8}, size_t{13}, lo.size()}) {
      std::vector<uint8_t> sa(2 * n), ma(2 * n), sb(2 * n), mb(2 * n);
      std::vector<float> mna(n), inva(n), mnb(n), invb(n);
      // Only compare blocks of 8 that are valid as a whole; each path may stop caring about
      // outputs once a group is invalid, but must agree on validity.
      const bool ok_a = cpu::PortableKernels().kivi_params(
          lo.data(), hi.data(), n, bits, sa.data(), ma.data(), mna.data(), inva.data());
      const bool ok_b = cpu::Avx2Kernels()->kivi_params(lo.data(), hi.data(), n, bits, sb.data(),
                                                        mb.data(), mnb.data(), invb.data());
      EXPECT_EQ(ok_a, ok_b) << n;
      for (size_t i = 0; i < n; ++i) {
        uint16_t m = 0, s = 0;
        if (!quant::KiviParamsForBits(lo[i], hi[i], static_cast<uint32_t>(bits), &m, &s)) continue;
        EXPECT_EQ(std::memcmp(&sa[2 * i], &sb[2 * i], 2), 0) << lo[i] << " " << hi[i];
        EXPECT_EQ(std::memcmp(&ma[2 * i], &mb[2 * i], 2), 0) << lo[i] << " " << hi[i];
        EXPECT_EQ(mna[i], mnb[i]);
        EXPECT_EQ(inva[i], invb[i]);
      }
    }
  }
}

}  // namespace
}  // namespace strata
