// Bridges std::string_view to abseil. Debian's abseil (20220623) has its own absl::string_view,
// distinct from std::string_view, so absl::StrCat and friends cannot take a std::string_view.
#ifndef STRATA_COMMON_STRINGS_H_
#define STRATA_COMMON_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace strata {

inline absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view AsStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace strata

#endif  // STRATA_COMMON_STRINGS_H_
