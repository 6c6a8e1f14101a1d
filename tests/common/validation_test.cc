#include "common/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

TEST(ValidateNamespace, AcceptsTheDocumentedAlphabet) {
  EXPECT_TRUE(ValidateNamespace("acme/llama3-8b/tp0").ok());
  EXPECT_TRUE(ValidateNamespace("a.b_c:d/e-F9").ok());
  EXPECT_TRUE(ValidateNamespace(std::string(128, 'x')).ok());
}

TEST(ValidateNamespace, RejectsEmptyLongAndBadBytesNamingTheField) {
  auto empty = ValidateNamespace("", "namespace");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("namespace"), absl::string_view::npos);
  EXPECT_EQ(ValidateNamespace(std::string(129, 'x')).code(), absl::StatusCode::kInvalidArgument);
  auto space = ValidateNamespace("a b");
  EXPECT_EQ(space.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(space.message().find("byte 1"), absl::string_view::npos);
  EXPECT_EQ(ValidateNamespace(std::string("a\0b", 3)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateKey, BoundsLength) {
  RequestLimits limits;
  EXPECT_TRUE(ValidateKey(std::string(1, '\0'), limits).ok());
  EXPECT_TRUE(ValidateKey(std::string(64, 'k'), limits).ok());
  auto longer = ValidateKey(std::string(65, 'k'), limits, "keys[2]");
  EXPECT_EQ(longer.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(longer.message().find("keys[2]"), absl::string_view::npos);
  EXPECT_EQ(ValidateKey("", limits).code(), absl::StatusCode::kInvalidArgument);
  limits.max_key_bytes = 16;
  EXPECT_EQ(ValidateKey(std::string(17, 'k'), limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateBatchAndPayload, BoundsBoth) {
  RequestLimits limits;
  limits.max_batch = 4;
  limits.max_payload_bytes = 100;
  EXPECT_TRUE(ValidateBatchSize(4, limits).ok());
  EXPECT_EQ(ValidateBatchSize(5, limits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateBatchSize(0, limits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidatePayloadSize(100, limits).ok());
  EXPECT_EQ(ValidatePayloadSize(101, limits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePayloadSize(0, limits).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
