#include "client/internal/data_session.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "client/internal/stubs.h"
#include "common/net.h"
#include "common/status_macros.h"
#include "transfer/ucx_transport.h"

namespace strata {

absl::StatusOr<std::unique_ptr<DataSession>> DataSession::Create(NodeClient::Stubs* stubs,
                                                                 const ClientOptions& options,
                                                                 bool shm) {
  std::unique_ptr<DataSession> s(new DataSession(stubs, options));
  transfer::UcxTransportOptions uo;
  uo.name = "strata-client";
  uo.ucx_config.push_back({"TLS", shm ? "sm" : "tcp"});  // as the node (data_plane.cc)
  // The operator's UCX_NET_DEVICES wins; else a client of a loopback node keeps UCX on the
  // loopback device (DESIGN.md section 7), set on this transport only, not in the environment.
  if (const char* dev = std::getenv("UCX_NET_DEVICES"); dev != nullptr) {
    uo.ucx_config.push_back({"NET_DEVICES", dev});
  } else if (IsLoopbackAddress(options.address)) {
    uo.ucx_config.push_back({"NET_DEVICES", "lo"});
  }
  uo.allow_endpoints_without_peer_error_handling = shm;
  if (options.ucx_busy_poll) {
    uo.progress_mode = transfer::UcxTransportOptions::ProgressMode::kBusyPoll;
  }
  // Calls go out from a worker of their own (ConnectAddress), apart from the one the node's
  // session endpoints reach, which the node closes on any failure (transport.h).
  uo.separate_connect_worker = options.ucx_messages;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<transfer::UcxTransport> ucx,
                          transfer::UcxTransport::Create(uo));
  s->ucx_ = ucx.get();
  s->transport_ = std::move(ucx);
  if (options.ucx_messages) {
    DataSession* self = s.get();
    s->transport_->SetMessageHandler([self](std::string bytes) -> std::optional<std::string> {
      self->OnReply(std::move(bytes));
      return std::nullopt;
    });
  }
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
    if (options_.ucx_messages) request.set_control_address(transport_->ConnectAddress());
    v1::HelloResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->cache->Hello(&ctx, request, &response)));
    session_ = response.session_id();
    ++opened_;
    for (auto& [id, b] : buffers_) b.node_region = 0;
    node_.reset();
    if (response.control_messages() && options_.ucx_messages) {
      // The same name and address while healthy: the same endpoint (as the node keeps its
      // control peer). A failed one is replaced, as the node replaces its own after the same
      // failure; a restarted node (new address) gets a new one.
      absl::StatusOr<transfer::PeerHandle> node =
          transport_->Connect("node", response.node_address());
      if (node.ok()) node_ = *node;  // else: calls go over gRPC on this session
    }
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
  return Ticket{session_, b.node_region, node_};
}

void DataSession::Invalidate(uint64_t session) {
  absl::MutexLock lock(&mu_);
  if (session_ != session) return;
  session_ = 0;
  for (auto& [id, b] : buffers_) b.node_region = 0;
}

absl::StatusOr<v1::DataPlaneReply> DataSession::Call(const transfer::PeerHandle& node,
                                                     v1::DataPlaneCall call) {
  auto pending = std::make_shared<PendingReply>();
  std::future<absl::StatusOr<v1::DataPlaneReply>> reply = pending->get_future();
  uint64_t id = 0;
  {
    absl::MutexLock lock(&calls_mu_);
    id = next_call_++;
    pending_[id] = pending;
  }
  call.set_call_id(id);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.deadline_ms);
  const std::function<void()> send = [&] {
    transport_->SendMessage(node, call.SerializeAsString(), deadline,
                            [this, id](absl::Status sent) {
                              if (sent.ok()) return;
                              if (std::shared_ptr<PendingReply> p = TakePending(id)) {
                                p->set_value(absl::UnavailableError(absl::StrCat(
                                    "sending the call to the node: ", sent.message())));
                              }
                            });
  };
  const std::function<void()> nothing = [] {};
  const std::function<bool()> ready = [&reply] {
    return reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  };
  // This thread runs the transport's loop while it waits (when no other thread is running it):
  // the call goes out and its transfer and reply are taken in here, with no hand-off to the
  // progress thread and back. Else it waits for the thread that is running it.
  bool sent = false;
  absl::Time next_check = absl::Now() + absl::Milliseconds(50);
  for (;;) {
    const transfer::UcxTransport::DriveResult driven =
        ucx_->Drive(sent ? nothing : send, ready, absl::Milliseconds(50));
    sent = true;
    if (driven == transfer::UcxTransport::DriveResult::kReady) break;
    if (driven == transfer::UcxTransport::DriveResult::kBusy &&
        reply.wait_for(std::chrono::milliseconds(1)) == std::future_status::ready) {
      break;
    }
    if (absl::Now() < next_check) continue;
    next_check = absl::Now() + absl::Milliseconds(50);
    // A node that dies after taking the call never answers: watch the connection while waiting.
    absl::StatusOr<transfer::PeerInfo> info = transport_->DescribePeer(node);
    const bool failed = !info.ok() || info->failed;
    if (failed || absl::Now() >= deadline) {
      if (TakePending(id) != nullptr) {
        return absl::UnavailableError(failed ? "the connection to the node failed during the call"
                                             : "no reply from the node by the call's deadline");
      }
      break;  // the reply (or the send's failure) arrived meanwhile
    }
  }
  return reply.get();
}

std::shared_ptr<DataSession::PendingReply> DataSession::TakePending(uint64_t call_id) {
  absl::MutexLock lock(&calls_mu_);
  auto it = pending_.find(call_id);
  if (it == pending_.end()) return nullptr;
  std::shared_ptr<PendingReply> pending = std::move(it->second);
  pending_.erase(it);
  return pending;
}

void DataSession::OnReply(std::string bytes) {
  v1::DataPlaneReply reply;
  if (!reply.ParseFromString(bytes)) return;  // not a reply of ours: dropped
  // Absent: given up on (deadline) or unknown.
  if (std::shared_ptr<PendingReply> pending = TakePending(reply.call_id())) {
    pending->set_value(std::move(reply));
  }
}

namespace {

// The call's status as the node set it in the reply.
absl::Status ReplyStatus(const v1::DataPlaneReply& reply) {
  if (reply.code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(reply.code()), reply.message());
}

}  // namespace

absl::Status DataSession::RunCall(const Ticket& ticket,
                                  const std::function<grpc::Status(grpc::ClientContext*)>& rpc,
                                  const std::function<void(v1::DataPlaneCall*)>& fill,
                                  const std::function<void(v1::DataPlaneReply*)>& take) {
  if (!ticket.node.has_value()) {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    return FromGrpc(rpc(&ctx));
  }
  v1::DataPlaneCall call;
  fill(&call);
  STRATA_ASSIGN_OR_RETURN(v1::DataPlaneReply reply, Call(*ticket.node, std::move(call)));
  message_calls_.fetch_add(1);
  STRATA_RETURN_IF_ERROR(ReplyStatus(reply));
  take(&reply);
  return absl::OkStatus();
}

absl::Status DataSession::GetInto(const Ticket& ticket, const v1::GetIntoRequest& request,
                                  v1::GetIntoResponse* response) {
  return RunCall(
      ticket,
      [&](grpc::ClientContext* ctx) { return stubs_->cache->GetInto(ctx, request, response); },
      [&](v1::DataPlaneCall* call) { *call->mutable_get_into() = request; },
      [&](v1::DataPlaneReply* reply) { *response = std::move(*reply->mutable_get_into()); });
}

absl::Status DataSession::PutFrom(const Ticket& ticket, const v1::PutFromRequest& request,
                                  v1::PutFromResponse* response) {
  return RunCall(
      ticket,
      [&](grpc::ClientContext* ctx) { return stubs_->cache->PutFrom(ctx, request, response); },
      [&](v1::DataPlaneCall* call) { *call->mutable_put_from() = request; },
      [&](v1::DataPlaneReply* reply) { *response = std::move(*reply->mutable_put_from()); });
}

uint64_t DataSession::sessions_opened() const {
  absl::MutexLock lock(&mu_);
  return opened_;
}

}  // namespace strata
