// The scalar number formats every codec path shares.
#include "kernels/internal/quant_math.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace strata::quant {
namespace {

TEST(HalfTest, EveryFiniteHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto hh = static_cast<uint16_t>(h);
    if (!HalfIsFinite(hh)) continue;
    EXPECT_EQ(FloatToHalf(HalfToFloat(hh)), hh) << h;
  }
}

TEST(HalfTest, RoundsToNearestEven) {
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 1.0f / 2048)), 1.0f);  // tie -> even
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(-std::ldexp(3.0f, -25)), 0x8002);  // 1.5 ulps: tie -> 2
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
}

TEST(HalfTest, DirectedRoundingBracketsTheValue) {
  for (float f : {0.1f, -0.1f, 3.14159f, -2.71828f, 1e-6f, -1e-6f, 1e-9f, -1e-9f, 0.0f, 1000.3f}) {
    EXPECT_LE(HalfToFloat(FloatToHalfDown(f)), f) << f;
    EXPECT_GE(HalfToFloat(FloatToHalfUp(f)), f) << f;
    EXPECT_LE(HalfToFloat(FloatToHalfUp(f)) - HalfToFloat(FloatToHalfDown(f)),
              std::max(std::fabs(f) / 512, 6e-8f))
        << f;
  }
  EXPECT_FALSE(HalfIsFinite(FloatToHalfUp(65505.0f)));
}

TEST(Bf16Test, RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 1.0f / 256)), 1.0f);              // tie -> even
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);  // tie -> even (up)
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
}

TEST(E4M3Test, KnownValuesAndEveryCodeRoundTrips) {
  EXPECT_EQ(E4M3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(E4M3ToFloat(0xfe), -448.0f);
  EXPECT_EQ(E4M3ToFloat(0x08), 1.0f / 64);
  EXPECT_EQ(E4M3ToFloat(0x01), 1.0f / 512);
  EXPECT_EQ(E4M3ToFloat(0x38), 1.0f);
  EXPECT_TRUE(std::isnan(E4M3ToFloat(0x7f)));
  EXPECT_TRUE(std::isnan(E4M3ToFloat(0xff)));
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(FloatToE4M3(E4M3ToFloat(static_cast<uint8_t>(c))), c) << c;
  }
  EXPECT_EQ(FloatToE4M3(1.0f + 1.0f / 16), 0x38);  // halfway between 1 and 1.125 -> even
  EXPECT_EQ(FloatToE4M3(1.0f / 1024), 0x00);       // halfway between 0 and 2^-9 -> even (0)
  EXPECT_EQ(FloatToE4M3(3.0f / 1024), 0x02);       // 1.5 steps -> even (2)
  // Saturation happens in the clamp before conversion; NaN maps to the lower bound.
  EXPECT_EQ(QuantizeFp8(1e9f, 1.0f), 0x7e);
  EXPECT_EQ(QuantizeFp8(-1e9f, 1.0f), 0xfe);
  EXPECT_EQ(QuantizeFp8(std::nanf(""), 1.0f), 0xfe);
}

TEST(QuantizerTest, Int8ClampsAndRoundsEven) {
  EXPECT_EQ(QuantizeInt8(2.5f, 1.0f), 2);
  EXPECT_EQ(QuantizeInt8(-2.5f, 1.0f), -2);
  EXPECT_EQ(QuantizeInt8(300.0f, 1.0f), 127);
  EXPECT_EQ(QuantizeInt8(-300.0f, 1.0f), -127);
  EXPECT_EQ(AbsMaxScale(0.0f, kInt8Max), 0.0f);
  EXPECT_EQ(InverseScale(0.0f), 0.0f);
}

TEST(QuantizerTest, KiviParamsKeepCodesInRange) {
  uint16_t m16, s16;
  ASSERT_TRUE(KiviGroupParams(-1.0001f, 2.3f, 15.0f, &m16, &s16));
  const float mn = HalfToFloat(m16), s = HalfToFloat(s16);
  EXPECT_LE(mn, -1.0001f);
  EXPECT_GE(mn + 15 * s, 2.3f);
  EXPECT_EQ(QuantizeKivi(2.3f, mn, InverseScale(s), 15.0f), 15u);
  EXPECT_EQ(QuantizeKivi(-1.0001f, mn, InverseScale(s), 15.0f), 0u);
  ASSERT_TRUE(KiviGroupParams(0.5f, 0.5f, 3.0f, &m16, &s16));  // constant group
  EXPECT_EQ(DequantizeKivi(QuantizeKivi(0.5f, HalfToFloat(m16), InverseScale(HalfToFloat(s16)), 3),
                           HalfToFloat(m16), HalfToFloat(s16)),
            0.5f);
  EXPECT_FALSE(KiviGroupParams(0.0f, std::numeric_limits<float>::infinity(), 15.0f, &m16, &s16));
  EXPECT_FALSE(KiviGroupParams(std::nanf(""), 1.0f, 15.0f, &m16, &s16));
  EXPECT_FALSE(KiviGroupParams(-70000.0f, 1.0f, 15.0f, &m16, &s16));
}

// kivi2's mid-rise rule: four buckets over the range, codes at their centres, so the step is a
// quarter of the range and every value is within half a step of its code, ends included.
TEST(QuantizerTest, KiviMidRiseHalvesTheRangeIntoQuarters) {
  uint16_t m16, s16;
  ASSERT_TRUE(KiviMidRiseParams(-1.0f, 3.0f, 4.0f, &m16, &s16));
  EXPECT_EQ(HalfToFloat(s16), 1.0f);   // (3 - -1) / 4
  EXPECT_EQ(HalfToFloat(m16), -0.5f);  // the first bucket's centre
  const float mn = HalfToFloat(m16), s = HalfToFloat(s16);
  for (float x = -1.0f; x <= 3.0f; x += 1.0f / 64) {
    const uint32_t q = QuantizeKivi(x, mn, InverseScale(s), 3.0f);
    EXPECT_LE(std::fabs(DequantizeKivi(q, mn, s) - x), s / 2) << x;
  }
  // A minimum that fp16 cannot place near the data widens the step rather than the error.
  ASSERT_TRUE(KiviMidRiseParams(1000.01f, 1000.02f, 4.0f, &m16, &s16));
  const float m2 = HalfToFloat(m16), s2 = HalfToFloat(s16);
  for (float x : {1000.01f, 1000.015f, 1000.02f}) {
    const uint32_t q = QuantizeKivi(x, m2, InverseScale(s2), 3.0f);
    EXPECT_LE(std::fabs(DequantizeKivi(q, m2, s2) - x), s2 / 2 * 1.0001f) << x;
  }
  ASSERT_TRUE(KiviMidRiseParams(0.5f, 0.5f, 4.0f, &m16, &s16));  // constant group: exact
  EXPECT_EQ(DequantizeKivi(QuantizeKivi(0.5f, HalfToFloat(m16), InverseScale(HalfToFloat(s16)), 3),
                           HalfToFloat(m16), HalfToFloat(s16)),
            0.5f);
  EXPECT_FALSE(KiviMidRiseParams(0.0f, std::numeric_limits<float>::infinity(), 4.0f, &m16, &s16));
  EXPECT_FALSE(KiviMidRiseParams(std::nanf(""), 1.0f, 4.0f, &m16, &s16));
  EXPECT_FALSE(KiviMidRiseParams(-70000.0f, 1.0f, 4.0f, &m16, &s16));
  // kivi4 keeps the mid-tread rule, kivi2 takes this one.
  uint16_t a, b;
  ASSERT_TRUE(KiviParamsForBits(-1.0f, 3.0f, 2, &m16, &s16));
  ASSERT_TRUE(KiviMidRiseParams(-1.0f, 3.0f, 4.0f, &a, &b));
  EXPECT_EQ(m16, a);
  EXPECT_EQ(s16, b);
  ASSERT_TRUE(KiviParamsForBits(-1.0f, 3.0f, 4, &m16, &s16));
  ASSERT_TRUE(KiviGroupParams(-1.0f, 3.0f, 15.0f, &a, &b));
  EXPECT_EQ(m16, a);
  EXPECT_EQ(s16, b);
}

}  // namespace
}  // namespace strata::quant
