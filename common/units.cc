#include "common/units.h"

#include <cctype>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"

namespace strata {

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  std::string_view s = AsStd(absl::StripAsciiWhitespace(AsAbsl(text)));
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "size '", AsAbsl(text), "': expected a number of bytes such as 64MiB or 4096"));
  }
  uint64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return absl::InvalidArgumentError(absl::StrCat("size '", AsAbsl(text), "': too large"));
    }
    value = value * 10 + d;
  }
  std::string suffix = absl::AsciiStrToLower(absl::StripAsciiWhitespace(AsAbsl(s.substr(digits))));
  uint64_t unit = 1;
  if (suffix.empty() || suffix == "b") {
    unit = 1;
  } else if (suffix == "k" || suffix == "kb" || suffix == "kib") {
    unit = kKiB;
  } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
    unit = kMiB;
  } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
    unit = kGiB;
  } else if (suffix == "t" || suffix == "tb" || suffix == "tib") {
    unit = 1024 * kGiB;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("size '", AsAbsl(text), "': unknown unit '",
                                                   suffix, "' (use B, KiB, MiB, GiB or TiB)"));
  }
  if (value > std::numeric_limits<uint64_t>::max() / unit) {
    return absl::InvalidArgumentError(absl::StrCat("size '", AsAbsl(text), "': too large"));
  }
  return value * unit;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.4g %s", v, kUnits[u]);
}

}  // namespace strata
