#include "bench/bench_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace strata::bench {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  if (rank > 0) --rank;
  return values[std::min(rank, values.size() - 1)];
}

double MeasureMemcpyGbps(size_t block_bytes, size_t batch, int runs, size_t min_bytes_per_run) {
  const size_t bytes = block_bytes * batch;
  std::vector<char> src(bytes, 1);
  std::vector<char> dst(bytes, 0);  // value-initialised: pages are touched before timing
  std::memcpy(dst.data(), src.data(), bytes);
  const size_t reps = std::max<size_t>(1, min_bytes_per_run / std::max<size_t>(bytes, 1));
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const double t0 = NowSeconds();
    for (size_t i = 0; i < reps; ++i) {
      for (size_t b = 0; b < batch; ++b) {
        std::memcpy(dst.data() + b * block_bytes, src.data() + b * block_bytes, block_bytes);
      }
      // Keep the copies observable so they are not elided.
      asm volatile("" : : "r"(dst.data()) : "memory");
    }
    const double dt = NowSeconds() - t0;
    rates.push_back(static_cast<double>(bytes * reps) / dt / 1e9);
  }
  return Median(rates);
}

}  // namespace strata::bench
