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

std::vector<TransferOp> MergeAdjacentOps(std::vector<TransferOp> ops, uint64_t max_length) {
  if (ops.size() < 2) return ops;
  std::vector<TransferOp> merged;
  merged.reserve(ops.size());
  for (const TransferOp& op : ops) {
    if (!merged.empty()) {
      TransferOp& last = merged.back();
      const RemoteRegionHandle& a = last.remote_region;
      const RemoteRegionHandle& b = op.remote_region;
      if (last.kind == op.kind && last.local_region == op.local_region && a.peer == b.peer &&
          a.generation == b.generation && a.id == b.id &&
          last.local_offset + last.length == op.local_offset &&
          last.remote_offset + last.length == op.remote_offset &&
          last.length + op.length <= max_length) {
        last.length += op.length;
        continue;
      }
    }
    merged.push_back(op);
  }
  return merged;
}

}  // namespace strata::transfer
