// Status propagation macros. Debian's abseil (20220623) predates abseil's own
// ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN, so Strata carries this small pair.
//
//   STRATA_RETURN_IF_ERROR(DoThing());
//   STRATA_ASSIGN_OR_RETURN(auto value, ComputeValue());
#ifndef STRATA_COMMON_STATUS_MACROS_H_
#define STRATA_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define STRATA_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status strata_status_ = (expr);          \
    if (!strata_status_.ok()) return strata_status_; \
  } while (0)

#define STRATA_INTERNAL_CONCAT_(a, b) a##b
#define STRATA_INTERNAL_CONCAT(a, b) STRATA_INTERNAL_CONCAT_(a, b)

#define STRATA_ASSIGN_OR_RETURN(lhs, rexpr) \
  STRATA_INTERNAL_ASSIGN_OR_RETURN_(STRATA_INTERNAL_CONCAT(strata_statusor_, __LINE__), lhs, rexpr)

#define STRATA_INTERNAL_ASSIGN_OR_RETURN_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();      \
  lhs = std::move(statusor).value()

#endif  // STRATA_COMMON_STATUS_MACROS_H_
