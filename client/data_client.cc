// Client's zero-copy calls: RegisterBuffer, GetInto, PutFrom (client.h), over the UCX data plane
// (internal/data_session.h) or as gRPC bytes.
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/internal/data_session.h"
#include "client/internal/stubs.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "proto/convert.h"

namespace strata {
namespace {

// Node answers that mean "the session or its transfers failed": open a new session and retry.
bool Retryable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsFailedPrecondition(st) ||
         absl::IsDeadlineExceeded(st);
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

absl::Status Client::StartDataPlane(const v1::NodeInfoResponse& info) {
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

Client::DataPathCounters Client::data_path_counters() const {
  return DataPathCounters{ucx_calls_.load(), grpc_calls_.load(), fallbacks_.load(),
                          data_ ? data_->sessions_opened() : 0};
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> Client::RegisterBuffer(void* ptr, size_t len) {
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

absl::Status Client::CheckGetInto(std::string_view ns, absl::Span<const std::string> keys,
                                  const RegisteredBuffer& buffer,
                                  absl::Span<const uint64_t> offsets,
                                  absl::Span<const uint64_t> capacities) const {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  if (offsets.size() != keys.size() || capacities.size() != keys.size()) {
    return absl::InvalidArgumentError(absl::StrCat("offsets/capacities: ", offsets.size(), "/",
                                                   capacities.size(), " entries for ",
                                                   keys.size(), " keys"));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (capacities[i] == 0 || offsets[i] > buffer.size() ||
        capacities[i] > buffer.size() - offsets[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("offsets[", i, "]: [", offsets[i], ", +", capacities[i],
                       ") is outside the registered buffer of ", buffer.size(), " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status Client::CheckPutFrom(std::string_view ns, const RegisteredBuffer& buffer,
                                  absl::Span<const PutFromBlock> blocks) const {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (blocks.empty()) return absl::InvalidArgumentError("items: batch is empty");
  for (size_t i = 0; i < blocks.size(); ++i) {
    const PutFromBlock& b = blocks[i];
    const std::string field = absl::StrCat("items[", i, "]");
    STRATA_RETURN_IF_ERROR(ValidateKey(b.key, limits_, field + ".key"));
    if (!b.parent.empty()) STRATA_RETURN_IF_ERROR(ValidateKey(b.parent, limits_, field + ".parent"));
    STRATA_RETURN_IF_ERROR(ValidatePayloadSize(b.size, limits_, field + ".size"));
    if (b.offset > buffer.size() || b.size > buffer.size() - b.offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".offset: [", b.offset, ", +", b.size,
                       ") is outside the registered buffer of ", buffer.size(), " bytes"));
    }
    STRATA_RETURN_IF_ERROR(b.layout.Validate(b.size, field + ".layout"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GetIntoResult>> Client::GetInto(std::string_view ns,
                                                           absl::Span<const std::string> keys,
                                                           const RegisteredBuffer& buffer,
                                                           absl::Span<const uint64_t> offsets,
                                                           absl::Span<const uint64_t> capacities) {
  STRATA_RETURN_IF_ERROR(CheckGetInto(ns, keys, buffer, offsets, capacities));
  std::vector<GetIntoResult> results;
  results.reserve(keys.size());
  for (size_t start = 0; start < keys.size(); start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, keys.size() - start);
    auto k = keys.subspan(start, n);
    auto o = offsets.subspan(start, n);
    auto c = capacities.subspan(start, n);
    absl::StatusOr<std::vector<GetIntoResult>> part =
        absl::UnavailableError("no data plane session");
    if (data_ && buffer.session_ != nullptr) {
      part = GetIntoUcx(ns, k, buffer, o, c);
      if (!part.ok() && Retryable(part.status()) &&
          options_.data_path == ClientOptions::DataPath::kAuto) {
        fallbacks_.fetch_add(1);
        part = GetIntoGrpc(ns, k, buffer, o, c);
      }
    } else {
      part = GetIntoGrpc(ns, k, buffer, o, c);
    }
    if (!part.ok()) return part.status();
    for (GetIntoResult& r : *part) results.push_back(std::move(r));
  }
  return results;
}

absl::StatusOr<std::vector<GetIntoResult>> Client::GetIntoUcx(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  absl::Status last = absl::UnavailableError("no attempt made");
  for (int attempt = 0; attempt < std::max(1, options_.ucx_attempts); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10 << attempt));
    absl::StatusOr<DataSession::Ticket> ticket = data_->Ensure(buffer.id_);
    if (!ticket.ok()) {
      last = ticket.status();
      if (!Retryable(last)) return last;
      continue;
    }
    v1::GetIntoRequest request;
    request.set_namespace_(ns.data(), ns.size());
    request.set_session_id(ticket->session);
    request.set_region_id(ticket->region);
    for (size_t i = 0; i < keys.size(); ++i) {
      v1::GetIntoItem* item = request.add_items();
      item->set_key(keys[i]);
      item->set_offset(offsets[i]);
      item->set_capacity(capacities[i]);
    }
    v1::GetIntoResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    last = FromGrpc(stubs_->cache->GetInto(&ctx, request, &response));
    if (!last.ok()) {
      if (Retryable(last)) {
        data_->Invalidate(ticket->session);
        continue;
      }
      if (!PerKey(last)) return last;
      // Every key failed the same way; the node sends no body with an error status.
      return std::vector<GetIntoResult>(keys.size(), GetIntoResult{last, 0, {}, ""});
    }
    std::vector<GetIntoResult> results;
    bool failed_transfer = false;
    for (const v1::GetIntoResult& item : response.items()) {
      GetIntoResult r;
      r.status = KeyResultToStatus(item.result());
      r.size = item.size();
      if (auto layout = LayoutFromProto(item.layout(), "layout"); layout.ok()) r.layout = *layout;
      r.tier = item.tier();
      failed_transfer |= absl::IsUnavailable(r.status);
      results.push_back(std::move(r));
    }
    if (results.size() != keys.size()) {
      return absl::InternalError("GetInto: the node answered a different number of keys");
    }
    if (failed_transfer) {
      last = absl::UnavailableError("a transfer of this batch failed");
      data_->Invalidate(ticket->session);
      continue;
    }
    ucx_calls_.fetch_add(1);
    return results;
  }
  return last;
}

absl::StatusOr<std::vector<GetIntoResult>> Client::GetIntoGrpc(
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

absl::StatusOr<std::vector<absl::Status>> Client::PutFrom(std::string_view ns,
                                                          const RegisteredBuffer& buffer,
                                                          absl::Span<const PutFromBlock> blocks) {
  STRATA_RETURN_IF_ERROR(CheckPutFrom(ns, buffer, blocks));
  std::vector<absl::Status> results;
  results.reserve(blocks.size());
  for (size_t start = 0; start < blocks.size(); start += limits_.max_batch) {
    auto part_blocks = blocks.subspan(start, std::min(limits_.max_batch, blocks.size() - start));
    absl::StatusOr<std::vector<absl::Status>> part =
        absl::UnavailableError("no data plane session");
    if (data_ && buffer.session_ != nullptr) {
      part = PutFromUcx(ns, buffer, part_blocks);
      if (!part.ok() && Retryable(part.status()) &&
          options_.data_path == ClientOptions::DataPath::kAuto) {
        fallbacks_.fetch_add(1);
        part = PutFromGrpc(ns, buffer, part_blocks);
      }
    } else {
      part = PutFromGrpc(ns, buffer, part_blocks);
    }
    if (!part.ok()) return part.status();
    results.insert(results.end(), part->begin(), part->end());
  }
  return results;
}

absl::StatusOr<std::vector<absl::Status>> Client::PutFromUcx(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  absl::Status last = absl::UnavailableError("no attempt made");
  for (int attempt = 0; attempt < std::max(1, options_.ucx_attempts); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10 << attempt));
    absl::StatusOr<DataSession::Ticket> ticket = data_->Ensure(buffer.id_);
    if (!ticket.ok()) {
      last = ticket.status();
      if (!Retryable(last)) return last;
      continue;
    }
    v1::PutFromRequest request;
    request.set_namespace_(ns.data(), ns.size());
    request.set_session_id(ticket->session);
    request.set_region_id(ticket->region);
    for (const PutFromBlock& b : blocks) {
      v1::PutFromItem* item = request.add_items();
      item->set_key(b.key.data(), b.key.size());
      item->set_parent(b.parent.data(), b.parent.size());
      LayoutToProto(b.layout, item->mutable_layout());
      item->set_offset(b.offset);
      item->set_size(b.size);
      item->set_checksum(BlockChecksum(buffer.data() + b.offset, b.size));
    }
    v1::PutFromResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    last = FromGrpc(stubs_->cache->PutFrom(&ctx, request, &response));
    if (!last.ok()) {
      if (Retryable(last)) {
        data_->Invalidate(ticket->session);
        continue;
      }
      if (!PerKey(last)) return last;
      return std::vector<absl::Status>(blocks.size(), last);
    }
    std::vector<absl::Status> results;
    bool failed_transfer = false;
    for (const v1::KeyResult& r : response.results()) {
      results.push_back(KeyResultToStatus(r));
      failed_transfer |= absl::IsUnavailable(results.back());
    }
    if (results.size() != blocks.size()) {
      return absl::InternalError("PutFrom: the node answered a different number of keys");
    }
    if (failed_transfer) {
      last = absl::UnavailableError("a transfer of this batch failed");
      data_->Invalidate(ticket->session);
      continue;
    }
    ucx_calls_.fetch_add(1);
    return results;
  }
  return last;
}

absl::StatusOr<std::vector<absl::Status>> Client::PutFromGrpc(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  std::vector<PutBlock> puts;
  puts.reserve(blocks.size());
  for (const PutFromBlock& b : blocks) {
    puts.push_back(PutBlock{b.key, b.parent, b.layout,
                            std::string_view(buffer.data() + b.offset, b.size)});
  }
  grpc_calls_.fetch_add(1);
  return Put(ns, puts);
}

std::future<absl::StatusOr<std::vector<GetIntoResult>>> Client::GetIntoAsync(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  return std::async(std::launch::async, [=, this, &buffer] {
    return GetInto(ns, keys, buffer, offsets, capacities);
  });
}

std::future<absl::StatusOr<std::vector<absl::Status>>> Client::PutFromAsync(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  return std::async(std::launch::async,
                    [=, this, &buffer] { return PutFrom(ns, buffer, blocks); });
}

}  // namespace strata
