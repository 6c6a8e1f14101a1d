// NodeClient's zero-copy calls: RegisterBuffer, GetInto, PutFrom (node_client.h), over the UCX data plane
// (internal/data_session.h) or as gRPC bytes.
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/node_client.h"
#include "client/internal/data_session.h"
#include "client/internal/stubs.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "transfer/transport.h"

namespace strata {
namespace {

// Node answers that mean "the session or its transfers failed": open a new session and retry.
bool Retryable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsFailedPrecondition(st) || absl::IsDeadlineExceeded(st);
}

// Codes a call carries when every key failed the same way (node_core.h): answered per key.
bool PerKey(const absl::Status& st) {
  return absl::IsResourceExhausted(st) || absl::IsOutOfRange(st) || absl::IsDataLoss(st) ||
         absl::IsNotFound(st);
}

}  // namespace

RegisteredBuffer::~RegisteredBuffer() {
  if (session_ != nullptr) session_->RemoveBuffer(id_);
}

absl::Status NodeClient::StartDataPlane(const v1::NodeInfoResponse& info) {
  using Path = ClientOptions::DataPath;
  if (options_.data_path == Path::kGrpc) return absl::OkStatus();
  if (!info.data_plane()) {
    if (options_.data_path == Path::kUcx) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data path ucx: the node has no data plane (", info.data_plane_detail(), ")"));
    }
    return absl::OkStatus();
  }
  const bool shm = info.data_plane_detail().find("shm") != std::string::npos;
  auto session = DataSession::Create(stubs_.get(), options_, shm);
  if (!session.ok()) {
    if (options_.data_path == Path::kUcx) {
      return absl::Status(session.status().code(),
                          absl::StrCat("data path ucx: ", session.status().message()));
    }
    return absl::OkStatus();  // kAuto: gRPC bytes
  }
  data_ = *std::move(session);
  return absl::OkStatus();
}

NodeClient::DataPathCounters NodeClient::data_path_counters() const {
  return DataPathCounters{ucx_calls_.load(), grpc_calls_.load(), fallbacks_.load(),
                          data_ ? data_->sessions_opened() : 0, data_ ? data_->message_calls() : 0};
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> NodeClient::RegisterBuffer(void* ptr, size_t len) {
  if (ptr == nullptr || len == 0) {
    return absl::InvalidArgumentError("RegisterBuffer: null pointer or zero length");
  }
  char* data = static_cast<char*>(ptr);
  if (!data_) {
    return std::unique_ptr<RegisteredBuffer>(new RegisteredBuffer(nullptr, data, len, 0));
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t id, data_->AddBuffer(data, len));
  return std::unique_ptr<RegisteredBuffer>(new RegisteredBuffer(data_.get(), data, len, id));
}

bool NodeClient::data_plane_cuda_memory() const {
  return data_ != nullptr && data_->capabilities().cuda_memory;
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> NodeClient::RegisterDeviceBuffer(void* ptr,
                                                                                   size_t len,
                                                                                   bool force) {
  if (ptr == nullptr || len == 0) {
    return absl::InvalidArgumentError("RegisterDeviceBuffer: null pointer or zero length");
  }
  if (!data_) {
    return absl::FailedPreconditionError(
        "RegisterDeviceBuffer: no UCX data plane (device memory cannot move as gRPC bytes)");
  }
  if (!force && !data_plane_cuda_memory()) {
    return absl::FailedPreconditionError(
        "RegisterDeviceBuffer: this UCX has no CUDA memory support (stage through host memory)");
  }
  char* data = static_cast<char*>(ptr);
  STRATA_ASSIGN_OR_RETURN(uint64_t id, data_->AddBuffer(data, len));
  return std::unique_ptr<RegisteredBuffer>(
      new RegisteredBuffer(data_.get(), data, len, id, /*device=*/true));
}

absl::Status CheckGetIntoBatch(std::string_view ns, const RequestLimits& limits,
                               absl::Span<const std::string> keys, uint64_t buffer_size,
                               absl::Span<const uint64_t> offsets,
                               absl::Span<const uint64_t> capacities) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (keys.empty()) return absl::InvalidArgumentError("keys: batch is empty");
  for (size_t i = 0; i < keys.size(); ++i) {
    STRATA_RETURN_IF_ERROR(ValidateKey(keys[i], limits, absl::StrCat("keys[", i, "]")));
  }
  if (offsets.size() != keys.size() || capacities.size() != keys.size()) {
    return absl::InvalidArgumentError(absl::StrCat("offsets/capacities: ", offsets.size(), "/",
                                                   capacities.size(), " entries for ", keys.size(),
                                                   " keys"));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    STRATA_RETURN_IF_ERROR(transfer::CheckRange(offsets[i], capacities[i], buffer_size,
                                                absl::StrCat("offsets[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status CheckPutFromBatch(std::string_view ns, const RequestLimits& limits,
                               uint64_t buffer_size, absl::Span<const PutFromBlock> blocks) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (blocks.empty()) return absl::InvalidArgumentError("items: batch is empty");
  for (size_t i = 0; i < blocks.size(); ++i) {
    const PutFromBlock& b = blocks[i];
    const std::string field = absl::StrCat("items[", i, "]");
    STRATA_RETURN_IF_ERROR(ValidateKey(b.key, limits, field + ".key"));
    if (!b.parent.empty())
      STRATA_RETURN_IF_ERROR(ValidateKey(b.parent, limits, field + ".parent"));
    STRATA_RETURN_IF_ERROR(ValidatePayloadSize(b.size, limits, field + ".size"));
    STRATA_RETURN_IF_ERROR(transfer::CheckRange(b.offset, b.size, buffer_size, field + ".offset"));
    STRATA_RETURN_IF_ERROR(b.layout.Validate(b.size, field + ".layout"));
  }
  return absl::OkStatus();
}

absl::Status NodeClient::CheckGetInto(std::string_view ns, absl::Span<const std::string> keys,
                                      const RegisteredBuffer& buffer,
                                      absl::Span<const uint64_t> offsets,
                                      absl::Span<const uint64_t> capacities) const {
  return CheckGetIntoBatch(ns, limits_, keys, buffer.size(), offsets, capacities);
}

absl::Status NodeClient::CheckPutFrom(std::string_view ns, const RegisteredBuffer& buffer,
                                      absl::Span<const PutFromBlock> blocks,
                                      absl::Span<const uint64_t> checksums) const {
  STRATA_RETURN_IF_ERROR(CheckPutFromBatch(ns, limits_, buffer.size(), blocks));
  if (buffer.device() && checksums.size() != blocks.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checksums: ", checksums.size(), " for ", blocks.size(),
        " blocks; a device buffer needs one per block (the host cannot read it)"));
  }
  return absl::OkStatus();
}

// Splits a call into batches of at most max_batch items and moves each over UCX (retried on new
// sessions, then falling back to gRPC bytes under kAuto) or as gRPC bytes. `ucx` and `grpc` take
// (first item, item count).
template <typename Result, typename Ucx, typename Grpc>
absl::StatusOr<std::vector<Result>> NodeClient::Batched(size_t items, const RegisteredBuffer& buffer,
                                                    Ucx ucx, Grpc grpc) {
  std::vector<Result> results;
  results.reserve(items);
  for (size_t start = 0; start < items; start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, items - start);
    absl::StatusOr<std::vector<Result>> part = absl::UnavailableError("no data plane session");
    // A buffer registered with another node's session (a cluster's routed call) moves as gRPC bytes.
    if (data_ && buffer.session_ != nullptr && buffer.session_ == data_.get()) {
      part = ucx(start, n);
      // kAuto falls back when UCX keeps failing, or when the node (restarted) has no data plane;
      // device memory cannot move as gRPC bytes, so its calls fail instead.
      if (!part.ok() && (Retryable(part.status()) || absl::IsUnimplemented(part.status())) &&
          options_.data_path == ClientOptions::DataPath::kAuto && !buffer.device()) {
        fallbacks_.fetch_add(1);
        part = grpc(start, n);
      }
    } else if (buffer.device()) {
      part = absl::FailedPreconditionError(
          "device buffer: registered with another session; it cannot move as gRPC bytes");
    } else {
      part = grpc(start, n);
    }
    if (!part.ok()) return part.status();
    for (Result& r : *part) results.push_back(std::move(r));
  }
  return results;
}

// Runs `attempt` on the client's session, opening one first when needed. An attempt answering a
// retryable status (the node forgot the session, a transfer failed) drops the session and runs
// again on a new one, up to ucx_attempts times with a growing pause.
template <typename Result, typename Attempt>
absl::StatusOr<std::vector<Result>> NodeClient::OnSession(const RegisteredBuffer& buffer,
                                                      Attempt attempt) {
  absl::Status last = absl::UnavailableError("no attempt made");
  for (int i = 0; i < std::max(1, options_.ucx_attempts); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10 << i));
    absl::StatusOr<DataSession::Ticket> ticket = data_->Ensure(buffer.id_);
    if (!ticket.ok()) {
      last = ticket.status();
      if (!Retryable(last)) return last;
      continue;
    }
    absl::StatusOr<std::vector<Result>> r = attempt(*ticket);
    if (r.ok()) {
      ucx_calls_.fetch_add(1);
      return r;
    }
    last = r.status();
    if (!Retryable(last)) return last;
    data_->Invalidate(ticket->session);
  }
  return last;
}

absl::StatusOr<std::vector<GetIntoResult>> NodeClient::GetInto(std::string_view ns,
                                                           absl::Span<const std::string> keys,
                                                           const RegisteredBuffer& buffer,
                                                           absl::Span<const uint64_t> offsets,
                                                           absl::Span<const uint64_t> capacities) {
  STRATA_RETURN_IF_ERROR(CheckGetInto(ns, keys, buffer, offsets, capacities));
  auto part = [&](auto method) {
    return [&, method](size_t start, size_t n) {
      return (this->*method)(ns, keys.subspan(start, n), buffer, offsets.subspan(start, n),
                             capacities.subspan(start, n));
    };
  };
  return Batched<GetIntoResult>(keys.size(), buffer, part(&NodeClient::GetIntoUcx),
                                part(&NodeClient::GetIntoGrpc));
}

absl::StatusOr<std::vector<GetIntoResult>> NodeClient::GetIntoUcx(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  return OnSession<GetIntoResult>(
      buffer, [&](const DataSession::Ticket& ticket) -> absl::StatusOr<std::vector<GetIntoResult>> {
        v1::GetIntoRequest request;
        request.set_namespace_(ns.data(), ns.size());
        request.set_session_id(ticket.session);
        request.set_region_id(ticket.region);
        for (size_t i = 0; i < keys.size(); ++i) {
          v1::GetIntoItem* item = request.add_items();
          item->set_key(keys[i]);
          item->set_offset(offsets[i]);
          item->set_capacity(capacities[i]);
        }
        v1::GetIntoResponse response;
        absl::Status st = data_->GetInto(ticket, request, &response);
        if (!st.ok()) {
          if (Retryable(st) || !PerKey(st)) return st;
          // Every key failed the same way; the node sends no body with an error status.
          return std::vector<GetIntoResult>(keys.size(), GetIntoResult{st, 0, {}, ""});
        }
        if (static_cast<size_t>(response.items_size()) != keys.size()) {
          return absl::InternalError("GetInto: the node answered a different number of keys");
        }
        std::vector<GetIntoResult> results;
        for (const v1::GetIntoResult& item : response.items()) {
          GetIntoResult r;
          r.status = KeyResultToStatus(item.result());
          if (absl::IsUnavailable(r.status)) return r.status;  // a transfer failed: retry the batch
          r.size = item.size();
          if (auto layout = LayoutFromProto(item.layout(), "layout"); layout.ok())
            r.layout = *layout;
          r.tier = item.tier();
          results.push_back(std::move(r));
        }
        return results;
      });
}

absl::StatusOr<std::vector<GetIntoResult>> NodeClient::GetIntoGrpc(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  STRATA_ASSIGN_OR_RETURN(std::vector<GetResult> got, Get(ns, keys));
  grpc_calls_.fetch_add(1);
  std::vector<GetIntoResult> results(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    GetIntoResult& r = results[i];
    r.status = got[i].status;
    if (!r.status.ok()) continue;
    r.size = got[i].payload.size();
    r.layout = got[i].layout;
    r.tier = got[i].tier;
    if (r.size > capacities[i]) {
      r.status = absl::OutOfRangeError(absl::StrCat("block is ", r.size, " bytes, capacity ",
                                                    capacities[i], " at offset ", offsets[i]));
      continue;
    }
    std::memcpy(buffer.data() + offsets[i], got[i].payload.data(), r.size);
  }
  return results;
}

absl::StatusOr<std::vector<absl::Status>> NodeClient::PutFrom(std::string_view ns,
                                                          const RegisteredBuffer& buffer,
                                                          absl::Span<const PutFromBlock> blocks,
                                                          absl::Span<const uint64_t> checksums) {
  STRATA_RETURN_IF_ERROR(CheckPutFrom(ns, buffer, blocks, checksums));
  if (!buffer.device()) checksums = {};
  auto ucx = [&](size_t start, size_t n) {
    return PutFromUcx(ns, buffer, blocks.subspan(start, n),
                      checksums.empty() ? checksums : checksums.subspan(start, n));
  };
  auto grpc = [&](size_t start, size_t n) {
    return PutFromGrpc(ns, buffer, blocks.subspan(start, n));
  };
  return Batched<absl::Status>(blocks.size(), buffer, ucx, grpc);
}

absl::StatusOr<std::vector<absl::Status>> NodeClient::PutFromUcx(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks,
    absl::Span<const uint64_t> given) {
  std::vector<uint64_t> checksums(given.begin(), given.end());
  if (checksums.empty()) {
    checksums.reserve(blocks.size());
    for (const PutFromBlock& b : blocks) {
      checksums.push_back(BlockChecksum(buffer.data() + b.offset, b.size));
    }
  }
  return OnSession<absl::Status>(
      buffer, [&](const DataSession::Ticket& ticket) -> absl::StatusOr<std::vector<absl::Status>> {
        v1::PutFromRequest request;
        request.set_namespace_(ns.data(), ns.size());
        request.set_session_id(ticket.session);
        request.set_region_id(ticket.region);
        for (size_t i = 0; i < blocks.size(); ++i) {
          const PutFromBlock& b = blocks[i];
          v1::PutFromItem* item = request.add_items();
          item->set_key(b.key.data(), b.key.size());
          item->set_parent(b.parent.data(), b.parent.size());
          LayoutToProto(b.layout, item->mutable_layout());
          item->set_offset(b.offset);
          item->set_size(b.size);
          item->set_checksum(checksums[i]);
        }
        v1::PutFromResponse response;
        absl::Status st = data_->PutFrom(ticket, request, &response);
        if (!st.ok()) {
          if (Retryable(st) || !PerKey(st)) return st;
          return std::vector<absl::Status>(blocks.size(), st);
        }
        if (static_cast<size_t>(response.results_size()) != blocks.size()) {
          return absl::InternalError("PutFrom: the node answered a different number of keys");
        }
        std::vector<absl::Status> results;
        for (const v1::KeyResult& r : response.results()) {
          results.push_back(KeyResultToStatus(r));
          if (absl::IsUnavailable(results.back())) return results.back();  // retry the batch
        }
        return results;
      });
}

absl::StatusOr<std::vector<absl::Status>> NodeClient::PutFromGrpc(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  std::vector<PutBlock> puts;
  puts.reserve(blocks.size());
  for (const PutFromBlock& b : blocks) {
    puts.push_back(
        PutBlock{b.key, b.parent, b.layout, std::string_view(buffer.data() + b.offset, b.size)});
  }
  grpc_calls_.fetch_add(1);
  return Put(ns, puts);
}

std::future<absl::StatusOr<std::vector<GetIntoResult>>> NodeClient::GetIntoAsync(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  return std::async(std::launch::async,
                    [=, this, &buffer] { return GetInto(ns, keys, buffer, offsets, capacities); });
}

std::future<absl::StatusOr<std::vector<absl::Status>>> NodeClient::PutFromAsync(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  return std::async(std::launch::async, [=, this, &buffer] { return PutFrom(ns, buffer, blocks); });
}

}  // namespace strata
