#include "bench/bench_util.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
  // The same kind of memory the transfers use (BenchBuffer: huge pages, pre-faulted).
  BenchBuffer src(bytes);
  BenchBuffer dst(bytes);
  std::memset(src.data(), 1, bytes);
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

BenchBuffer::BenchBuffer(size_t bytes) : size_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("strata-bench: mmap");
    std::abort();  // a benchmark without its buffer has nothing to measure
  }
  (void)madvise(p, bytes, MADV_HUGEPAGE);  // refused: ordinary pages, only TLB reach is lost
  data_ = static_cast<char*>(p);
  std::memset(data_, 0, bytes);  // pre-fault
}

BenchBuffer::~BenchBuffer() { munmap(data_, size_); }

}  // namespace strata::bench
