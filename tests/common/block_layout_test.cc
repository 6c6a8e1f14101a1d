#include "common/block_layout.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

BlockLayout Kv(uint32_t layers, uint32_t heads, uint32_t dim, uint32_t tokens, DType dt) {
  BlockLayout l;
  l.kind = LayoutKind::kKv;
  l.dtype = dt;
  l.layers = layers;
  l.kv_heads = heads;
  l.head_dim = dim;
  l.tokens = tokens;
  return l;
}

TEST(BlockLayout, KvSizeIsTwoPlanesOfEveryLayer) {
  const BlockLayout l = Kv(5, 4, 8, 16, DType::kF16);
  EXPECT_EQ(l.Bytes(), 5u * 2 * 16 * 4 * 8 * 2);
  EXPECT_TRUE(l.Validate(l.Bytes()).ok());
  auto st = l.Validate(l.Bytes() + 1, "items[0].layout");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("items[0].layout"), absl::string_view::npos);
}

TEST(BlockLayout, RejectsMissingFieldsByName) {
  BlockLayout l = Kv(1, 1, 8, 4, DType::kUnspecified);
  EXPECT_NE(l.Validate(64).message().find("dtype"), absl::string_view::npos);
  l = Kv(0, 1, 8, 4, DType::kF32);
  EXPECT_NE(l.Validate(0).message().find("layers"), absl::string_view::npos);
  l = Kv(1, 0, 8, 4, DType::kF32);
  EXPECT_NE(l.Validate(0).message().find("kv_heads"), absl::string_view::npos);
  BlockLayout opaque;
  opaque.tokens = 3;
  EXPECT_EQ(opaque.Validate(10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(BlockLayout().Validate(10).ok());
}

TEST(BlockLayout, MlaHasOneLatentPerToken) {
  BlockLayout l;
  l.kind = LayoutKind::kMlaLatent;
  l.dtype = DType::kBF16;
  l.layers = 2;
  l.head_dim = 576;
  l.tokens = 4;
  EXPECT_TRUE(l.Validate(2 * 4 * 576 * 2).ok());
  l.kv_heads = 2;
  EXPECT_EQ(l.Validate(2 * 4 * 576 * 2).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BlockLayout, EncodingRoundTripsAndRejectsGarbage) {
  const BlockLayout l = Kv(32, 8, 128, 256, DType::kBF16);
  std::string enc;
  l.EncodeTo(&enc);
  ASSERT_EQ(enc.size(), BlockLayout::kEncodedSize);
  EXPECT_EQ(*BlockLayout::Decode(enc), l);
  EXPECT_EQ(BlockLayout::Decode(enc.substr(1)).status().code(), absl::StatusCode::kDataLoss);
  enc[0] = 9;
  EXPECT_EQ(BlockLayout::Decode(enc).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace strata
