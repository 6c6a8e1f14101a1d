#include "common/units.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(ParseSize, AcceptsPlainAndSuffixedSizes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseSize("512KiB"), 512ull << 10);
  EXPECT_EQ(*ParseSize("2 gb"), 2ull << 30);
  EXPECT_EQ(*ParseSize("0"), 0u);
}

TEST(ParseSize, RejectsGarbageNamingIt) {
  auto bad = ParseSize("64XB");
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("64XB"), absl::string_view::npos);
  EXPECT_EQ(ParseSize("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("MiB").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("99999999999999999999").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("99999999999TiB").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FormatSize, ReadsBack) {
  EXPECT_EQ(FormatSize(512), "512 B");
  EXPECT_EQ(FormatSize(64ull << 20), "64 MiB");
}

}  // namespace
}  // namespace strata
