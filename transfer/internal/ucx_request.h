// The UCX request loop, written once (STYLE.md practice 9). Every non-blocking UCX call returns
// a ucs_status_ptr_t that means one of three things:
//   NULL                 the operation completed in place; no callback will run;
//   UCS_PTR_IS_ERR(ptr)  the operation failed to start; UCS_PTR_STATUS(ptr) says why;
//   anything else        a request in flight: it completes later, and must then be released
//                        with ucp_request_free (by its callback, or by WaitForRequest).
#ifndef STRATA_TRANSFER_INTERNAL_UCX_REQUEST_H_
#define STRATA_TRANSFER_INTERNAL_UCX_REQUEST_H_

#include <ucp/api/ucp.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace strata::transfer::internal {

struct RequestStart {
  bool in_flight = false;        // a request is outstanding; its callback will run
  ucs_status_t status = UCS_OK;  // when !in_flight: how the operation ended
  void* request = nullptr;       // when in_flight
};

inline RequestStart ClassifyRequest(ucs_status_ptr_t ptr) {
  if (ptr == nullptr) return {false, UCS_OK, nullptr};
  if (UCS_PTR_IS_ERR(ptr)) return {false, UCS_PTR_STATUS(ptr), nullptr};
  return {true, UCS_INPROGRESS, ptr};
}

// Blocking form, for the few calls made outside the progress loop (endpoint close at teardown):
// progresses `worker` until the request is no longer UCS_INPROGRESS or `deadline` passes, then
// frees it. Returns the request's status, or UCS_ERR_TIMED_OUT (the request is then freed
// anyway: UCX releases it when it eventually completes). REQUIRES: the calling thread owns
// `worker`.
ucs_status_t WaitForRequest(ucp_worker_h worker, ucs_status_ptr_t ptr, absl::Time deadline);

}  // namespace strata::transfer::internal

#endif  // STRATA_TRANSFER_INTERNAL_UCX_REQUEST_H_
