// The pruned view wire/stored format (kernels/pruned_view_format.h): a view round-trips byte for
// byte with its selector, budget and positions; the header sits where the format says; damaged,
// truncated or foreign bytes are DATA_LOSS, never a view.
#include "kernels/pruned_view_format.h"

#include <cstring>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

PrunedBlock SinkWindowView(const BlockLayout& l, const std::string& block) {
  PruneOptions o;
  o.selector = PruneSelector::kSinkWindow;
  o.budget_tokens = 5;
  o.sink_tokens = 2;
  return *PruneBlock(l, block, {}, o);
}

TEST(PrunedViewFormatTest, RoundTripsEveryField) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 2, 3, 4, 10);
  const std::string block = MakeBlock(l, 7);
  const PrunedBlock view = SinkWindowView(l, block);
  const std::string bytes = EncodePrunedView(view, BlockChecksum(block));
  // Header + kept per layer + positions + payload + checksum.
  EXPECT_EQ(bytes.size(),
            kPrunedViewHeaderBytes + 4 * 2 + 4 * view.positions.size() + view.payload.size() + 8);
  EXPECT_EQ(bytes.substr(0, 4), "SPV1");
  EXPECT_EQ(static_cast<uint8_t>(bytes[6]), 1);  // sink-window
  uint64_t budget = 0;
  std::memcpy(&budget, bytes.data() + 28, 8);
  EXPECT_EQ(budget, 5u);

  auto d = DecodePrunedView(bytes);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->source_checksum, BlockChecksum(block));
  EXPECT_EQ(d->view.options.selector, PruneSelector::kSinkWindow);
  EXPECT_EQ(d->view.options.budget_tokens, 5);
  EXPECT_EQ(d->view.options.sink_tokens, 2);
  EXPECT_TRUE(d->view.source == l);
  EXPECT_THAT(d->view.kept, ElementsAre(5u, 5u));
  EXPECT_EQ(d->view.positions, view.positions);
  EXPECT_THAT(std::vector<uint32_t>(d->view.positions.begin(), d->view.positions.begin() + 5),
              ElementsAre(0u, 1u, 7u, 8u, 9u));
  EXPECT_EQ(d->view.payload, view.payload);
  // Encoding what was decoded gives the same bytes.
  EXPECT_EQ(EncodePrunedView(d->view, d->source_checksum), bytes);
}

TEST(PrunedViewFormatTest, DamagedOrForeignBytesAreDataLoss) {
  const BlockLayout l = BlockLayout::Kv(DType::kF32, 1, 2, 2, 10);
  const std::string block = MakeBlock(l, 3);
  const std::string bytes = EncodePrunedView(SinkWindowView(l, block), BlockChecksum(block));

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  EXPECT_EQ(DecodePrunedView(flipped).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(DecodePrunedView(flipped).status().message()), HasSubstr("checksum"));

  EXPECT_EQ(DecodePrunedView(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePrunedView(bytes.substr(0, 20)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePrunedView(block).status().code(), absl::StatusCode::kDataLoss);  // a full block
  EXPECT_FALSE(LooksLikePrunedView(block));

  std::string future = bytes;
  future[4] = 2;  // version 2, checksum made to match: still refused, by version
  const uint64_t sum = BlockChecksum(std::string_view(future).substr(0, future.size() - 8));
  std::memcpy(future.data() + future.size() - 8, &sum, 8);
  EXPECT_THAT(std::string(DecodePrunedView(future).status().message()), HasSubstr("version 2"));
}

}  // namespace
}  // namespace strata
