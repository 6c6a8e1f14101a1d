// TimedLoop: the measuring loop shared by strata-bench subcommands that time calls returning
// absl::Status: warm-up calls, then timed calls until both a duration and a count are reached.
#ifndef STRATA_BENCH_TIMED_LOOP_H_
#define STRATA_BENCH_TIMED_LOOP_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "bench/bench_util.h"

namespace strata::bench {

struct TimedLoop {
  absl::Status status;  // the first failing call's, if any (the loop stops there)
  size_t iterations = 0;
  double elapsed_s = 0;
  std::vector<double> latencies_us;
};

// `warmup` untimed calls, then timed calls while fewer than `seconds` have passed or fewer than
// `min_iterations` ran, never more than `max_iterations`.
template <typename Fn>
TimedLoop RunTimedLoop(Fn once, int warmup, double seconds, size_t min_iterations,
                       size_t max_iterations = 20000) {
  TimedLoop loop;
  for (int i = 0; i < warmup; ++i) {
    loop.status = once();
    if (!loop.status.ok()) return loop;
  }
  const double start = NowSeconds();
  while ((loop.elapsed_s < seconds || loop.iterations < min_iterations) &&
         loop.iterations < max_iterations) {
    const double t0 = NowSeconds();
    loop.status = once();
    const double t1 = NowSeconds();
    if (!loop.status.ok()) return loop;
    loop.latencies_us.push_back((t1 - t0) * 1e6);
    ++loop.iterations;
    loop.elapsed_s = t1 - start;
  }
  return loop;
}

}  // namespace strata::bench

#endif  // STRATA_BENCH_TIMED_LOOP_H_
