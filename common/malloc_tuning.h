// Allocator settings for processes that move large blocks through heap buffers.
//
// A gRPC Get or Put of a 1 MiB block allocates and frees a few buffers of about that size per
// call (the protobuf bytes field, gRPC's slices); a batch of 64 such blocks has about 128 MiB of
// them alive at once. glibc gives such memory back to the kernel between calls in three ways:
// allocations above its mmap threshold (128 KiB at first, raised dynamically) are mapped afresh
// and unmapped when freed; a thread arena's free top is trimmed once it passes the trim
// threshold; and a thread arena lives in heaps of at most 64 MiB, each unmapped whenever it
// empties, whatever the thresholds say. Either way the next call's buffers are fresh memory, and
// every first touch of a page is a page fault: on virtual machines whose page faults are dear,
// this made the gRPC path 4-25x slower (measured: one 1 MiB Get over loopback tcp took 13 ms
// instead of 0.5 ms, a batch of 64 ran at 0.36 GB/s instead of 1.44; docs/benchmarks.md).
//
// KeepLargeBuffersInHeap() makes glibc keep such buffers for reuse: allocations up to 32 MiB (the
// most glibc allows for this setting) come from the heap, freed memory goes back to the kernel
// only when the heap's free top passes 512 MiB, and every thread allocates from the one main
// arena (grown with brk, so it has no 64 MiB heaps to unmap). The costs: a process keeps the peak
// of its transient buffers mapped, and threads share one arena lock for allocations larger than
// glibc's per-thread cache (about 1 KiB), which on hosts with many cores and many concurrent
// gRPC calls is a point of contention. strata-node, stratactl and strata-bench call it first
// thing in main(); an application embedding strata::Client may do the same, or set
// GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912:
// glibc.malloc.arena_max=1 before it starts. It changes process-wide state, so the client
// library never calls it by itself.
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
