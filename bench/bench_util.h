// Helpers shared by strata-bench subcommands: timing, medians, the memcpy baseline.
#ifndef STRATA_BENCH_BENCH_UTIL_H_
#define STRATA_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::bench {

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median (upper median for even sizes); 0 for empty input. Sorts a copy.
double Median(std::vector<double> values);
// q in [0, 1], nearest rank.
double Percentile(std::vector<double> values, double q);

// Single-thread memcpy rate in GB/s (1e9 bytes/s) for copying `block_bytes` blocks, `batch` at a
// time, from pre-faulted buffers: the median of `runs` runs, each copying at least
// `min_bytes_per_run` bytes.
double MeasureMemcpyGbps(size_t block_bytes, size_t batch, int runs = 5,
                         size_t min_bytes_per_run = 256ull << 20);

}  // namespace strata::bench

#endif  // STRATA_BENCH_BENCH_UTIL_H_
