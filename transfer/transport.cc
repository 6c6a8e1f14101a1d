#include "transfer/transport.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata::transfer {

const char* ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kRma:
      return "rma";
    case Protocol::kActiveMessage:
      return "am";
    case Protocol::kMemcpy:
      return "memcpy";
  }
  return "unknown";
}

std::future<absl::Status> Transport::PostAsync(std::vector<TransferOp> ops, absl::Time deadline) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> future = promise->get_future();
  Post(std::move(ops), deadline,
       [promise](absl::Status status) { promise->set_value(std::move(status)); });
  return future;
}

absl::Status Transport::Run(std::vector<TransferOp> ops, absl::Duration timeout) {
  // Post guarantees the callback runs shortly after the deadline; the extra wait only guards
  // against a broken transport turning into a hung caller.
  std::future<absl::Status> future = PostAsync(std::move(ops), absl::Now() + timeout);
  const auto bound = absl::ToChronoMilliseconds(timeout + absl::Seconds(10));
  if (future.wait_for(bound) != std::future_status::ready) {
    return absl::DeadlineExceededError("transfer: transport did not complete the batch");
  }
  return future.get();
}

absl::Status CheckRange(uint64_t offset, uint64_t length, uint64_t region_length,
                        std::string_view what) {
  if (length == 0) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": length must be > 0"));
  }
  if (offset > region_length || length > region_length - offset) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": [", offset, ", +", length,
                                                   ") is outside the region of ", region_length,
                                                   " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace strata::transfer
