#include "bench/bench_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace strata::bench {
namespace {

// The aggregate "cpu" line of /proc/stat: (idle + iowait, total) jiffies.
bool ReadCpuTimes(uint64_t* idle, uint64_t* total) {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!std::getline(in, line) || line.rfind("cpu ", 0) != 0) return false;
  std::istringstream fields(line.substr(4));
  uint64_t v = 0;
  *idle = 0;
  *total = 0;
  for (int i = 0; fields >> v; ++i) {
    if (i == 3 || i == 4) *idle += v;  // idle, iowait
    if (i < 8) *total += v;            // guest time is already counted in user
  }
  return *total > 0;
}

}  // namespace

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

double WaitForQuietCpus(double max_wait_s, double idle_fraction) {
  const double start = NowSeconds();
  uint64_t idle0 = 0, total0 = 0;
  if (!ReadCpuTimes(&idle0, &total0)) return max_wait_s;
  while (NowSeconds() - start < max_wait_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    uint64_t idle1 = 0, total1 = 0;
    if (!ReadCpuTimes(&idle1, &total1)) return max_wait_s;
    if (total1 > total0 &&
        static_cast<double>(idle1 - idle0) >= idle_fraction * static_cast<double>(total1 - total0)) {
      return NowSeconds() - start;
    }
    idle0 = idle1;
    total0 = total1;
  }
  return max_wait_s;
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

}  // namespace strata::bench
