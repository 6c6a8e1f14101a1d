// The one place where UCX status codes become absl::Status (STYLE.md practice 1).
#ifndef STRATA_TRANSFER_INTERNAL_UCX_STATUS_H_
#define STRATA_TRANSFER_INTERNAL_UCX_STATUS_H_

#include <ucs/type/status.h>

#include <string_view>

#include "absl/status/status.h"

namespace strata::transfer::internal {

// Maps a ucs_status_t to the code the caller acts on: peer and transport failures (connection
// reset, unreachable, timed out, canceled by a forced close, endpoint timeout) are UNAVAILABLE;
// resource shortages RESOURCE_EXHAUSTED; bad parameters INVALID_ARGUMENT; unsupported features
// FAILED_PRECONDITION; the rest INTERNAL. `what` names the UCX call.
absl::Status UcsToStatus(ucs_status_t status, std::string_view what);

}  // namespace strata::transfer::internal

#endif  // STRATA_TRANSFER_INTERNAL_UCX_STATUS_H_
