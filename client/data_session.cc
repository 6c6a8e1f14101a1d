#include "client/internal/data_session.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "client/internal/stubs.h"
#include "common/status_macros.h"
#include "transfer/ucx_transport.h"

namespace strata {

absl::StatusOr<std::unique_ptr<DataSession>> DataSession::Create(Client::Stubs* stubs,
                                                                 const ClientOptions& options,
                                                                 bool shm) {
  std::unique_ptr<DataSession> s(new DataSession(stubs, options));
  transfer::UcxTransportOptions uo;
  uo.name = "strata-client";
  uo.ucx_config.push_back({"TLS", shm ? "sm" : "tcp"});  // as the node (data_plane.cc)
  if (const char* dev = std::getenv("UCX_NET_DEVICES"); dev != nullptr) {
    uo.ucx_config.push_back({"NET_DEVICES", dev});
  }
  uo.allow_endpoints_without_peer_error_handling = shm;
  STRATA_ASSIGN_OR_RETURN(s->transport_, transfer::UcxTransport::Create(uo));
  return s;
}

DataSession::~DataSession() {
  uint64_t session = 0;
  {
    absl::MutexLock lock(&mu_);
    session = session_;
  }
  if (session != 0) {
    v1::GoodbyeRequest request;
    request.set_session_id(session);
    v1::GoodbyeResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    (void)stubs_->cache->Goodbye(&ctx, request, &response);  // the node also drops idle sessions
  }
  transport_.reset();
}

absl::StatusOr<uint64_t> DataSession::AddBuffer(char* data, size_t len) {
  STRATA_ASSIGN_OR_RETURN(transfer::LocalRegion local, transport_->RegisterMemory(data, len));
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_buffer_++;
  buffers_[id] = Buffer{local, 0};
  return id;
}

void DataSession::RemoveBuffer(uint64_t id) {
  Buffer buffer;
  uint64_t session = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = buffers_.find(id);
    if (it == buffers_.end()) return;
    buffer = it->second;
    session = session_;
    buffers_.erase(it);
  }
  if (session != 0 && buffer.node_region != 0) {
    v1::DeregisterRegionRequest request;
    request.set_session_id(session);
    request.set_region_id(buffer.node_region);
    v1::DeregisterRegionResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    (void)stubs_->cache->DeregisterRegion(&ctx, request, &response);
  }
  // Waits for transfers still using the memory (the node's in-flight ops end by deadline).
  (void)transport_->DeregisterMemory(buffer.local.id);
}

absl::StatusOr<DataSession::Ticket> DataSession::Ensure(uint64_t buffer) {
  absl::MutexLock lock(&mu_);
  auto it = buffers_.find(buffer);
  if (it == buffers_.end()) {
    return absl::InvalidArgumentError("buffer: not registered with this client");
  }
  if (session_ == 0) {
    v1::HelloRequest request;
    request.set_worker_address(transport_->LocalAddress());
    request.set_client_name(absl::StrCat("pid-", getpid()));
    v1::HelloResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->cache->Hello(&ctx, request, &response)));
    session_ = response.session_id();
    ++opened_;
    for (auto& [id, b] : buffers_) b.node_region = 0;
  }
  Buffer& b = it->second;
  if (b.node_region == 0) {
    v1::RegisterRegionRequest request;
    request.set_session_id(session_);
    request.set_base(b.local.descriptor.base);
    request.set_length(b.local.descriptor.length);
    request.set_packed_rkey(b.local.descriptor.packed_rkey);
    v1::RegisterRegionResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    absl::Status st = FromGrpc(stubs_->cache->RegisterRegion(&ctx, request, &response));
    if (absl::IsFailedPrecondition(st)) session_ = 0;  // the node forgot it meanwhile
    STRATA_RETURN_IF_ERROR(st);
    b.node_region = response.region_id();
  }
  return Ticket{session_, b.node_region};
}

void DataSession::Invalidate(uint64_t session) {
  absl::MutexLock lock(&mu_);
  if (session_ != session) return;
  session_ = 0;
  for (auto& [id, b] : buffers_) b.node_region = 0;
}

uint64_t DataSession::sessions_opened() const {
  absl::MutexLock lock(&mu_);
  return opened_;
}

}  // namespace strata
