// Allocator settings for processes that move large blocks through heap buffers.
//
// A gRPC Get or Put of a 1 MiB block allocates and frees a few buffers of about that size per
// call (the protobuf bytes field, gRPC's slices). glibc serves allocations above its mmap
// threshold (128 KiB at first, raised dynamically) with a fresh mmap and returns them with
// munmap, and trims a thread arena's free top back to the kernel once it passes the trim
// threshold. Either way the next call's buffer is fresh memory, and every first touch of a page
// is a page fault: on virtual machines whose page faults are dear, this made the gRPC path 10-20x
// slower (measured: one 1 MiB Get over loopback tcp took 13 ms instead of 0.6 ms;
// docs/benchmarks.md).
//
// KeepLargeBuffersInHeap() makes glibc keep such buffers in its arenas for reuse: allocations up
// to 32 MiB (the most glibc allows for this setting) come from the heap, and freed memory is
// returned to the kernel only when an arena's free top passes 512 MiB. The cost is that a
// process keeps the peak of its transient buffers mapped. strata-node, stratactl and
// strata-bench call it first thing in main(); an application embedding strata::Client may do
// the same, or set GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
// glibc.malloc.trim_threshold=536870912 before it starts. It changes process-wide state, so
// the client library never calls it by itself.
//
// Thread-safety: call it before starting threads. Best effort: where the allocator ignores
// these settings (another libc, a sanitizer's allocator) it changes nothing and says so by
// returning false.
#ifndef STRATA_COMMON_MALLOC_TUNING_H_
#define STRATA_COMMON_MALLOC_TUNING_H_

namespace strata {

bool KeepLargeBuffersInHeap();

}  // namespace strata

#endif  // STRATA_COMMON_MALLOC_TUNING_H_
