// ProgressBar: a one-line progress bar on a terminal stream, shown only for long runs.
//
// Nothing is drawn during the first `delay` of a run, so quick runs (and tests) print nothing;
// after that the line is redrawn at most every 100 ms with '\r', and Finish() ends it with a
// newline if anything was drawn. Thread-compatible.
#ifndef STRATA_CLUSTER_REPLAY_PROGRESS_H_
#define STRATA_CLUSTER_REPLAY_PROGRESS_H_

#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>

namespace strata::replay {

class ProgressBar {
 public:
  ProgressBar(std::ostream& out, std::string label,
              std::chrono::milliseconds delay = std::chrono::milliseconds(2000));
  ~ProgressBar() { Finish(); }

  void Update(size_t done, size_t total);
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  std::string label_;
  std::chrono::milliseconds delay_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_PROGRESS_H_
