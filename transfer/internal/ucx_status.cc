#include "transfer/internal/ucx_status.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata::transfer::internal {

absl::Status UcsToStatus(ucs_status_t status, std::string_view what) {
  if (status == UCS_OK) return absl::OkStatus();
  const std::string message =
      absl::StrCat(AsAbsl(what), ": ", ucs_status_string(status), " (ucs ", status, ")");
  switch (status) {
    case UCS_INPROGRESS:
      return absl::InternalError(absl::StrCat(message, ": request still in progress"));
    case UCS_ERR_CANCELED:
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_IO_ERROR:
    case UCS_ERR_NO_DEVICE:
    case UCS_ERR_BUSY:
    case UCS_ERR_SHMEM_SEGMENT:  // a shared-memory peer's segment is gone: the peer died
      return absl::UnavailableError(message);
    case UCS_ERR_NO_MEMORY:
    case UCS_ERR_NO_RESOURCE:
    case UCS_ERR_EXCEEDS_LIMIT:
    case UCS_ERR_OUT_OF_RANGE:
      return absl::ResourceExhaustedError(message);
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
    case UCS_ERR_MESSAGE_TRUNCATED:
      return absl::InvalidArgumentError(message);
    case UCS_ERR_UNSUPPORTED:
    case UCS_ERR_NO_ELEM:
    case UCS_ERR_NOT_IMPLEMENTED:
      return absl::FailedPreconditionError(message);
    default:
      if (UCS_IS_ENDPOINT_ERROR(status) || UCS_IS_LINK_ERROR(status))
        return absl::UnavailableError(message);
      return absl::InternalError(message);
  }
}

}  // namespace strata::transfer::internal
