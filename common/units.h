// Byte sizes as operators write them: "64MiB", "1GiB", "4096", "512KiB". Thread-safe (pure).
#ifndef STRATA_COMMON_UNITS_H_
#define STRATA_COMMON_UNITS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// Parses bytes with an optional suffix: B, KiB, MiB, GiB, TiB (binary), also K/M/G/T and
// KB/MB/GB/TB, which Strata reads as binary units too. INVALID_ARGUMENT names the bad text.
absl::StatusOr<uint64_t> ParseSize(std::string_view text);

// "1.5 GiB", "64 MiB", "512 B".
std::string FormatSize(uint64_t bytes);

}  // namespace strata

#endif  // STRATA_COMMON_UNITS_H_
