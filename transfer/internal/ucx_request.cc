#include "transfer/internal/ucx_request.h"

namespace strata::transfer::internal {

ucs_status_t WaitForRequest(ucp_worker_h worker, ucs_status_ptr_t ptr, absl::Time deadline) {
  RequestStart start = ClassifyRequest(ptr);
  if (!start.in_flight) return start.status;
  ucs_status_t status = UCS_INPROGRESS;
  for (;;) {
    status = ucp_request_check_status(start.request);
    if (status != UCS_INPROGRESS) break;
    if (absl::Now() > deadline) {
      status = UCS_ERR_TIMED_OUT;
      break;
    }
    ucp_worker_progress(worker);
  }
  ucp_request_free(start.request);
  return status;
}

}  // namespace strata::transfer::internal
