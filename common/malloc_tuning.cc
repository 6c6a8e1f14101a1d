#include "common/malloc_tuning.h"

#include <cstdlib>  // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace strata {

bool KeepLargeBuffersInHeap() {
#if defined(__GLIBC__)
  // mallopt returns 1 on success. A fixed mmap threshold also stops glibc's dynamic adjustment,
  // which otherwise moves the threshold (and the trim threshold with it) as buffers come and go.
  constexpr int kMmapThreshold = 32 << 20;  // glibc's upper bound on 64-bit: HEAP_MAX_SIZE / 2
  constexpr int kTrimThreshold = 512 << 20;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  // Thread arenas live in heaps of at most 64 MiB that glibc unmaps whenever one empties; the
  // main arena has none (see the header).
  const bool arena_ok = mallopt(M_ARENA_MAX, 1) == 1;
  return mmap_ok && trim_ok && arena_ok;
#else
  return false;
#endif
}

}  // namespace strata
