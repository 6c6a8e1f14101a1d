// Block checksums: XXH3-64 of the uncompressed payload (DESIGN.md section 3). Thread-safe.
#ifndef STRATA_COMMON_CHECKSUM_H_
#define STRATA_COMMON_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace strata {

uint64_t BlockChecksum(const void* data, size_t size);
inline uint64_t BlockChecksum(std::string_view bytes) {
  return BlockChecksum(bytes.data(), bytes.size());
}

}  // namespace strata

#endif  // STRATA_COMMON_CHECKSUM_H_
