#include "stratactl/replay/progress.h"

#include <utility>

namespace strata::replay {

ProgressBar::ProgressBar(std::ostream& out, std::string label, std::chrono::milliseconds delay)
    : out_(out), label_(std::move(label)), delay_(delay), start_(Clock::now()) {}

void ProgressBar::Update(size_t done, size_t total) {
  const Clock::time_point now = Clock::now();
  if (now - start_ < delay_) return;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done != total) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const double frac = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  out_ << '\r' << label_ << " [" << bar << "] " << static_cast<int>(frac * 100) << "% " << done
       << '/' << total << std::flush;
}

void ProgressBar::Finish() {
  if (drawn_) out_ << '\n' << std::flush;
  drawn_ = false;
}

}  // namespace strata::replay
