// InflightBudget: the bytes of request and response payloads that calls in flight hold, counted
// against one fixed budget for the whole node (limits.inflight_bytes). Reserving never waits and
// never overdraws: a call that would go over the budget is answered RESOURCE_EXHAUSTED naming
// it, so memory stays bounded and the caller backs off. Thread-safe.
#ifndef STRATA_CACHENODE_INFLIGHT_BUDGET_H_
#define STRATA_CACHENODE_INFLIGHT_BUDGET_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"

namespace strata {

class InflightBudget {
 public:
  explicit InflightBudget(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  InflightBudget(const InflightBudget&) = delete;
  InflightBudget& operator=(const InflightBudget&) = delete;

  // Bytes one call holds; released when it is destroyed (or Reset). Movable, not copyable. A
  // default-constructed one holds nothing and may be attached to a budget later by Grow.
  class Reservation {
   public:
    Reservation() = default;
    explicit Reservation(InflightBudget* budget) : budget_(budget) {}
    Reservation(Reservation&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) {
      other.bytes_ = 0;
    }
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Reset(); }

    // Adds `bytes` to what this call holds. RESOURCE_EXHAUSTED (nothing added) when the budget
    // cannot take them; the message names the budget and what is in flight.
    absl::Status Grow(uint64_t bytes);
    void Reset();
    uint64_t bytes() const { return bytes_; }

   private:
    InflightBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  Reservation NewReservation() { return Reservation(this); }

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // Reservations refused so far.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  bool TryAcquire(uint64_t bytes);
  void Release(uint64_t bytes) { in_use_.fetch_sub(bytes, std::memory_order_relaxed); }

  const uint64_t capacity_;
  std::atomic<uint64_t> in_use_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace strata

#endif  // STRATA_CACHENODE_INFLIGHT_BUDGET_H_
