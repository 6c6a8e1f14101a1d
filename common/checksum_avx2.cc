// XXH3-64 built with AVX2 from the xxhash header (the packaged library is built for SSE2 only),
// used by checksum.cc when the CPU has AVX2. Compiled with -mavx2; nothing else in this file.
// XXH3's value does not depend on the vector path: same bytes, same checksum.
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include <cstddef>
#include <cstdint>

namespace strata::internal {

uint64_t Xxh3Avx2(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace strata::internal
