#include "common/validation.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {
namespace {

bool IsNamespaceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '-';
}

}  // namespace

absl::Status ValidateNamespace(std::string_view ns, std::string_view field) {
  if (ns.empty())
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": must not be empty"));
  if (ns.size() > kMaxNamespaceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": ", ns.size(), " bytes, at most ", kMaxNamespaceBytes));
  }
  for (size_t i = 0; i < ns.size(); ++i) {
    if (!IsNamespaceChar(ns[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(field), ": byte ", i, " is not one of [A-Za-z0-9._:/-] (value ",
                       static_cast<int>(static_cast<unsigned char>(ns[i])), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateKey(std::string_view key, const RequestLimits& limits,
                         std::string_view field) {
  if (key.empty())
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": must not be empty"));
  const size_t max = limits.max_key_bytes < kMaxKeyBytes ? limits.max_key_bytes : kMaxKeyBytes;
  if (key.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": ", key.size(), " bytes, at most ", max));
  }
  return absl::OkStatus();
}

absl::Status ValidateBatchSize(size_t n, const RequestLimits& limits, std::string_view field) {
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": batch is empty"));
  if (n > limits.max_batch) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": ", n, " entries, at most ", limits.max_batch, " per call"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePayloadSize(uint64_t n, const RequestLimits& limits, std::string_view field) {
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": must not be empty"));
  if (n > limits.max_payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": ", n, " bytes, at most ", limits.max_payload_bytes));
  }
  return absl::OkStatus();
}

}  // namespace strata
