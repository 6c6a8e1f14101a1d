// Helpers shared by strata-bench subcommands: timing, medians, the memcpy baseline.
#ifndef STRATA_BENCH_BENCH_UTIL_H_
#define STRATA_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tests/testing/prefaulted_buffer.h"

namespace strata::bench {

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median (upper median for even sizes); 0 for empty input. Sorts a copy.
double Median(std::vector<double> values);
// q in [0, 1], nearest rank.
double Percentile(std::vector<double> values, double q);

// Single-thread memcpy rate in GB/s (1e9 bytes/s) for copying `block_bytes` blocks, `batch` at a
// time, between pre-faulted BenchBuffers (the memory the transfers use): the median of `runs`
// runs, each copying at least `min_bytes_per_run` bytes.
double MeasureMemcpyGbps(size_t block_bytes, size_t batch, int runs = 5,
                         size_t min_bytes_per_run = 256ull << 20);

// Waits, at most `max_wait_s`, until the host's CPUs have been at least `idle_fraction` idle
// over a 100 ms window (/proc/stat), so that a measurement does not start while the aftermath
// of the one before (a node's background work, processes exiting) still runs. Returns the
// seconds waited (max_wait_s when the host never went quiet, or /proc/stat is unreadable).
double WaitForQuietCpus(double max_wait_s = 3.0, double idle_fraction = 0.9);

// Anonymous memory for a benchmark's buffers, as a serving engine registers its KV pool: asked
// for transparent huge pages (fewer pages for the kernel to walk in a cma copy) and pre-faulted,
// so first-touch faults stay out of the timings; the same mapping as a node's DRAM pool
// (tests/testing/prefaulted_buffer.h). Zero-filled; aborts when the mapping fails.
using BenchBuffer = testing::PrefaultedBuffer;

}  // namespace strata::bench

#endif  // STRATA_BENCH_BENCH_UTIL_H_
