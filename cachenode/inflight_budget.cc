#include "cachenode/inflight_budget.h"

#include "absl/strings/str_cat.h"
#include "common/units.h"

namespace strata {

bool InflightBudget::TryAcquire(uint64_t bytes) {
  uint64_t used = in_use_.load(std::memory_order_relaxed);
  do {
    if (bytes > capacity_ - used) {  // used <= capacity_ always holds
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!in_use_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

InflightBudget::Reservation& InflightBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.bytes_ = 0;
  }
  return *this;
}

absl::Status InflightBudget::Reservation::Grow(uint64_t bytes) {
  if (budget_ == nullptr || bytes == 0) return absl::OkStatus();
  if (!budget_->TryAcquire(bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "in-flight budget full (limits.inflight_bytes = ", FormatSize(budget_->capacity()), ", ",
        FormatSize(budget_->in_use()), " held by calls in flight; this call needs ",
        FormatSize(bytes_ + bytes), "): retry later or in smaller batches"));
  }
  bytes_ += bytes;
  return absl::OkStatus();
}

void InflightBudget::Reservation::Reset() {
  if (budget_ != nullptr && bytes_ > 0) budget_->Release(bytes_);
  bytes_ = 0;
}

}  // namespace strata
