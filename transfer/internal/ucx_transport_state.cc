// UcxTransport's engine: regions, batches (RMA and the initiator side of active messages), peers
// and generations, deadlines and shutdown. See ucx_transport_state.h.
#include "transfer/internal/ucx_transport_state.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "transfer/internal/ucx_lanes.h"
#include "transfer/internal/ucx_request.h"
#include "transfer/internal/ucx_status.h"

namespace strata::transfer {

using internal::ClassifyRequest;
using internal::kAmReadRequest;
using internal::kAmReadResponse;
using internal::kAmWrite;
using internal::kAmWriteAck;
using internal::RequestStart;
using internal::UcsToStatus;

namespace {

// How long an expired batch may wait for UCX to purge its requests before it is reported anyway.
constexpr absl::Duration kAbandonGrace = absl::Milliseconds(500);

}  // namespace

void UcxTransport::State::ReleaseRegion(RegionId id) {
  auto it = regions.find(id);
  if (it == regions.end()) return;
  if (--it->second.users == 0 && it->second.dying) {
    regions.erase(it);
    owner->live_regions_.fetch_sub(1);
  }
}

UcxTransport::State::LocalRegionState* UcxTransport::State::FindLocal(uint64_t address,
                                                                      uint64_t length,
                                                                      RegionId* id) {
  if (length == 0) return nullptr;
  for (auto it = regions.begin(); it != regions.end(); ++it) {
    LocalRegionState& r = it->second;
    if (r.dying || address < r.base) continue;
    if (CheckRange(address - r.base, length, r.length, "peer op").ok()) {
      *id = it->first;
      return &r;
    }
  }
  return nullptr;
}

void UcxTransport::State::OneDone(BatchState* batch, const absl::Status& status) {
  if (batch->finished) return;  // abandoned after its deadline (see CheckDeadlines)
  if (!status.ok() && batch->status.ok()) batch->status = status;
  if (--batch->pending == 0) Finish(batch->id);
}

void UcxTransport::State::Finish(uint64_t batch_id) {
  auto it = batches.find(batch_id);
  if (it == batches.end()) return;
  std::unique_ptr<BatchState> batch = std::move(it->second);
  batches.erase(it);
  batch->finished = true;
  auto peer = peers.find(batch->peer);
  if (peer != peers.end()) peer->second.batches.erase(batch_id);
  for (RegionId r : batch->regions) ReleaseRegion(r);
  owner->live_batches_.fetch_sub(1);
  (batch->status.ok() ? owner->batches_completed_ : owner->batches_failed_).fetch_add(1);
  // User callbacks run from the loop, never from inside a UCX callback.
  completions.emplace_back(std::move(batch->done), batch->status);
  if (batch->pending > 0) zombies.push_back(std::move(batch));
}

void UcxTransport::State::OnBatchRequestDone(void* request, ucs_status_t status, void* user_data) {
  auto* batch = static_cast<BatchState*>(user_data);
  ucp_request_free(request);
  batch->state->owner->live_requests_.fetch_sub(1);
  batch->state->OneDone(batch, UcsToStatus(status, "transfer request"));
}

void UcxTransport::State::OnBatchRecvDone(void* request, ucs_status_t status, size_t length,
                                          void* user_data) {
  OnBatchRequestDone(request, status, user_data);
}

void UcxTransport::State::Track(BatchState* batch, ucs_status_ptr_t ptr, std::string_view what) {
  RequestStart start = ClassifyRequest(ptr);
  if (start.in_flight) {
    ++batch->pending;
    owner->live_requests_.fetch_add(1);
  } else if (start.status != UCS_OK) {
    if (batch->status.ok()) batch->status = UcsToStatus(start.status, what);
  }
}

ucp_request_param_t UcxTransport::State::BatchParam(BatchState* batch) {
  ucp_request_param_t param;
  std::memset(&param, 0, sizeof(param));
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.send = &State::OnBatchRequestDone;
  param.user_data = batch;
  return param;
}

absl::Status UcxTransport::State::Validate(const std::vector<TransferOp>& ops,
                                           PeerState** peer_out) {
  const RemoteRegionHandle& first = ops.front().remote_region;
  STRATA_ASSIGN_OR_RETURN(PeerState * live,
                          LivePeer(first.peer, first.generation, "ops[0].remote_region"));
  PeerState& peer = *live;
  for (size_t i = 0; i < ops.size(); ++i) {
    const TransferOp& op = ops[i];
    const std::string field = absl::StrCat("ops[", i, "]");
    if (op.remote_region.peer != first.peer || op.remote_region.generation != first.generation) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".remote_region: a batch must target one peer"));
    }
    auto local = regions.find(op.local_region);
    if (local == regions.end() || local->second.dying) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".local_region: unknown region ", op.local_region));
    }
    auto remote = peer.regions.find(op.remote_region.id);
    if (remote == peer.regions.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".remote_region: unknown region ", op.remote_region.id));
    }
    STRATA_RETURN_IF_ERROR(CheckRange(op.local_offset, op.length, local->second.length,
                                      AsStd(absl::StrCat(field, ".local_offset"))));
    STRATA_RETURN_IF_ERROR(CheckRange(op.remote_offset, op.length, remote->second.length,
                                      AsStd(absl::StrCat(field, ".remote_offset"))));
  }
  *peer_out = &peer;
  return absl::OkStatus();
}

absl::StatusOr<UcxTransport::State::PeerState*> UcxTransport::State::LivePeer(
    uint64_t peer_id, uint64_t generation, std::string_view what) {
  auto it = peers.find(peer_id);
  if (it == peers.end()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": unknown peer"));
  }
  PeerState& peer = it->second;
  if (peer.generation != generation) {
    return absl::UnavailableError(absl::StrCat("ucx transport: stale peer generation ", generation,
                                               " (peer is at ", peer.generation,
                                               "); reconnect and re-register"));
  }
  if (peer.failed) {
    return absl::UnavailableError(
        absl::StrCat("ucx transport: peer failed: ", peer.failure.message()));
  }
  return &peer;
}

void UcxTransport::State::PostBatch(std::vector<TransferOp> ops, absl::Time deadline,
                                    DoneCallback done) {
  if (ops.empty()) {
    completions.emplace_back(std::move(done), absl::OkStatus());
    return;
  }
  PeerState* peer = nullptr;
  absl::Status valid = Validate(ops, &peer);
  if (!valid.ok()) {
    owner->batches_failed_.fetch_add(1);
    completions.emplace_back(std::move(done), std::move(valid));
    return;
  }
  // Validated op by op above; a merged op stays inside its regions.
  if (options.merge_max_bytes > 0) ops = MergeAdjacentOps(std::move(ops), options.merge_max_bytes);
  auto owned = std::make_unique<BatchState>();
  BatchState* batch = owned.get();
  batch->state = this;
  batch->id = next_batch++;
  batch->peer = ops.front().remote_region.peer;
  batch->deadline = deadline;
  batch->done = std::move(done);
  batch->pending = 1;  // the posting guard, released below
  batch->regions.reserve(ops.size());
  batches.emplace(batch->id, std::move(owned));
  peer->batches.insert(batch->id);
  owner->live_batches_.fetch_add(1);
  if (peer->protocol == Protocol::kRma) {
    PostRma(batch, *peer, ops);
  } else {
    PostActiveMessages(batch, *peer, ops);
  }
  OneDone(batch, absl::OkStatus());
}

void UcxTransport::State::PostRma(BatchState* batch, PeerState& peer,
                                  const std::vector<TransferOp>& ops) {
  for (const TransferOp& op : ops) {
    LocalRegionState& local = regions[op.local_region];
    RemoteRegionState& remote = peer.regions[op.remote_region.id];
    ++local.users;
    batch->regions.push_back(op.local_region);
    char* local_ptr = reinterpret_cast<char*>(local.base) + op.local_offset;
    const uint64_t remote_addr = remote.base + op.remote_offset;
    ucp_request_param_t param;
    std::memset(&param, 0, sizeof(param));
    param.op_attr_mask = UCP_OP_ATTR_FIELD_MEMH;
    param.memh = local.memh.get();
    ucs_status_ptr_t ptr =
        op.kind == OpKind::kPut
            ? ucp_put_nbx(peer.ep, local_ptr, op.length, remote_addr, remote.rkey.get(), &param)
            : ucp_get_nbx(peer.ep, local_ptr, op.length, remote_addr, remote.rkey.get(), &param);
    RequestStart start = ClassifyRequest(ptr);
    if (start.in_flight) {
      // Intermediate requests are released at once (UCX frees them on completion); the flush
      // below completes only after every one of them has.
      ucp_request_free(start.request);
    } else if (start.status != UCS_OK) {
      if (batch->status.ok()) batch->status = UcsToStatus(start.status, "ucp_put/get_nbx");
      break;
    }
  }
  // Flush even after a failed post: ops already posted must finish before the batch does.
  ucp_request_param_t param = BatchParam(batch);
  Track(batch, ucp_ep_flush_nbx(peer.ep, &param), "ucp_ep_flush_nbx");
}

void UcxTransport::State::PostActiveMessages(BatchState* batch, PeerState& peer,
                                             const std::vector<TransferOp>& ops) {
  batch->headers.resize(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const TransferOp& op = ops[i];
    LocalRegionState& local = regions[op.local_region];
    RemoteRegionState& remote = peer.regions[op.remote_region.id];
    ++local.users;
    batch->regions.push_back(op.local_region);
    char* local_ptr = reinterpret_cast<char*>(local.base) + op.local_offset;
    AmHeader& header = batch->headers[i];
    header.op_id = next_op++;
    header.address = remote.base + op.remote_offset;
    header.length = op.length;
    am_ops[header.op_id] =
        AmOp{batch->id, op.kind == OpKind::kGet ? local_ptr : nullptr, op.length, local.memh.get()};
    ++batch->pending;  // the reply
    ucp_request_param_t param = BatchParam(batch);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_MEMH;
    param.flags = UCP_AM_SEND_FLAG_REPLY;
    param.memh = local.memh.get();
    ucs_status_ptr_t ptr;
    if (op.kind == OpKind::kPut) {
      if (op.length >= options.am_rendezvous_threshold) param.flags |= UCP_AM_SEND_FLAG_RNDV;
      ptr =
          ucp_am_send_nbx(peer.ep, kAmWrite, &header, sizeof(header), local_ptr, op.length, &param);
    } else {
      ptr = ucp_am_send_nbx(peer.ep, kAmReadRequest, &header, sizeof(header), nullptr, 0, &param);
    }
    RequestStart start = ClassifyRequest(ptr);
    if (start.in_flight) {
      ++batch->pending;
      owner->live_requests_.fetch_add(1);
    } else if (start.status != UCS_OK) {
      am_ops.erase(header.op_id);
      OneDone(batch, UcsToStatus(start.status, "ucp_am_send_nbx"));
      break;
    }
  }
}

void UcxTransport::State::OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status) {
  auto* context = static_cast<EpContext*>(arg);
  // Handled from the loop: closing an endpoint inside its own error callback is not allowed.
  context->state->peer_errors.emplace_back(context, status);
}

void UcxTransport::State::OnCloseDone(void* request, ucs_status_t status, void* user_data) {
  ucp_request_free(request);
  --static_cast<State*>(user_data)->closing_endpoints;
}

void UcxTransport::State::CloseEndpoint(ucp_ep_h ep) {
  if (ep == nullptr) return;
  ucp_request_param_t param;
  std::memset(&param, 0, sizeof(param));
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;  // purges outstanding requests: nothing moves after
  param.cb.send = &State::OnCloseDone;
  param.user_data = this;
  RequestStart start = ClassifyRequest(ucp_ep_close_nbx(ep, &param));
  if (start.in_flight) ++closing_endpoints;
}

void UcxTransport::State::FailPeer(uint64_t peer_id, const absl::Status& status) {
  auto it = peers.find(peer_id);
  if (it == peers.end() || it->second.failed) return;
  PeerState& peer = it->second;
  peer.failed = true;
  peer.failure = status;
  owner->peers_failed_.fetch_add(1);
  std::vector<uint64_t> batch_ids(peer.batches.begin(), peer.batches.end());
  for (uint64_t id : batch_ids) {
    auto b = batches.find(id);
    if (b != batches.end() && b->second->status.ok()) b->second->status = status;
  }
  std::vector<std::pair<uint64_t, uint64_t>> awaited;  // (op, batch)
  for (const auto& [op_id, op] : am_ops) {
    auto b = batches.find(op.batch);
    if (b != batches.end() && b->second->peer == peer_id) awaited.emplace_back(op_id, op.batch);
  }
  for (const auto& [op_id, batch_id] : awaited) {
    am_ops.erase(op_id);
    auto b = batches.find(batch_id);
    if (b != batches.end()) OneDone(b->second.get(), status);
  }
  // Close first (a forced close purges the requests that may still use the rkeys), then
  // destroy the rkeys (see UcpRkeyPtr): no op of this generation can use them again.
  std::map<uint64_t, RemoteRegionState> rkeys = std::move(peer.regions);
  peer.regions.clear();
  ucp_ep_h ep = peer.ep;
  peer.ep = nullptr;
  OrphanArrivals(ep);
  if (progress_depth > 0) {
    // Called from inside UCX progress (a handler or callback, e.g. FaultTransport's disconnect
    // from Post): the peer is failed already, so nothing new uses the endpoint; it is closed once
    // progress returns, not from within a UCX callback.
    deferred_closes.push_back(DeferredClose{ep, std::move(rkeys)});
    return;
  }
  CloseEndpoint(ep);
  rkeys.clear();
}

unsigned UcxTransport::State::ProgressWorkers() {
  ++progress_depth;
  unsigned n = ucp_worker_progress(worker.get());
  if (connect_worker) n += ucp_worker_progress(connect_worker.get());
  --progress_depth;
  RunDeferredCloses();
  return n;
}

void UcxTransport::State::RunDeferredCloses() {
  while (!deferred_closes.empty()) {
    std::vector<DeferredClose> closes = std::move(deferred_closes);
    deferred_closes.clear();
    for (DeferredClose& c : closes) {
      CloseEndpoint(c.ep);
      c.rkeys.clear();  // after the close, as in FailPeer
    }
  }
}

void UcxTransport::State::ProcessPeerErrors() {
  if (peer_errors.empty()) return;
  auto errors = std::move(peer_errors);
  peer_errors.clear();
  for (const auto& [context, status] : errors) {
    auto it = peers.find(context->peer);
    if (it == peers.end() || it->second.generation != context->generation) continue;
    FailPeer(context->peer, UcsToStatus(status, "ucx endpoint error"));
  }
}

absl::StatusOr<PeerHandle> UcxTransport::State::Connect(std::string_view name,
                                                        std::string_view address) {
  uint64_t peer_id = 0;
  for (auto& [id, peer] : peers) {
    if (peer.name != name) continue;
    if (!peer.failed && peer.address == address) return PeerHandle{id, peer.generation};
    // A restarted (new address) or failed peer: retire the old generation.
    FailPeer(id, absl::UnavailableError(absl::StrCat("ucx transport: peer '", AsAbsl(name),
                                                     "' reconnected; generation ", peer.generation,
                                                     " is superseded")));
    peer_id = id;
    break;
  }
  if (peer_id == 0) {
    peer_id = next_peer++;
    peers[peer_id].name = std::string(name);
  }
  PeerState& peer = peers[peer_id];
  peer.address = std::string(address);
  peer.generation = next_generation++;
  peer.failed = false;
  peer.failure = absl::OkStatus();
  peer.regions.clear();
  peer.next_region = 1;

  auto context = std::make_unique<EpContext>();
  context->state = this;
  context->peer = peer_id;
  context->generation = peer.generation;
  ucp_ep_params_t params;
  std::memset(&params, 0, sizeof(params));
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.address = reinterpret_cast<const ucp_address_t*>(peer.address.data());
  params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  params.err_handler.cb = &State::OnEndpointError;
  params.err_handler.arg = context.get();
  ucp_ep_h ep = nullptr;
  ucs_status_t status = UCS_ERR_UNREACHABLE;
  if (!peer_mode_unreachable || !options.allow_endpoints_without_peer_error_handling) {
    status = ucp_ep_create(EndpointWorker(), &params, &ep);
  }
  peer.peer_error_handling = status == UCS_OK;
  if (status == UCS_ERR_UNREACHABLE && options.allow_endpoints_without_peer_error_handling) {
    peer_mode_unreachable = true;
    // UCX 1.13's shared-memory transports (sysv, posix) cannot report peer failure, so no
    // endpoint with UCP_ERR_HANDLING_MODE_PEER reaches a peer over them. Without this fallback
    // shm peers would be reachable over tcp only. Such endpoints detect a dead peer by the
    // batch deadline (and cma errors), and are force-closed like the others.
    params.field_mask &= ~(UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER);
    status = ucp_ep_create(EndpointWorker(), &params, &ep);
  }
  ep_contexts.push_back(std::move(context));
  if (status != UCS_OK) {
    peer.failed = true;
    peer.failure = UcsToStatus(status, "ucp_ep_create");
    if (status == UCS_ERR_UNREACHABLE && !options.allow_endpoints_without_peer_error_handling) {
      peer.failure = absl::UnavailableError(absl::StrCat(
          peer.failure.message(),
          ": no transport with peer error handling reaches the peer (UCX 1.13 shared memory "
          "has none): add tcp to UCX_TLS or set allow_endpoints_without_peer_error_handling"));
    }
    return peer.failure;
  }
  peer.ep = ep;
  internal::EndpointLanes lanes = internal::InspectEndpoint(ep);
  peer.transports =
      absl::StrCat(lanes.transports, peer.peer_error_handling ? " (err=peer)" : " (err=none)");
  switch (options.protocol) {
    case UcxTransportOptions::ProtocolPolicy::kAuto:
      peer.protocol = lanes.native_rma ? Protocol::kRma : Protocol::kActiveMessage;
      break;
    case UcxTransportOptions::ProtocolPolicy::kRma:
      peer.protocol = Protocol::kRma;
      break;
    case UcxTransportOptions::ProtocolPolicy::kActiveMessage:
      peer.protocol = Protocol::kActiveMessage;
      break;
  }
  return PeerHandle{peer_id, peer.generation};
}

void UcxTransport::State::CheckDeadlines(absl::Time now) {
  std::vector<uint64_t> late_peers;
  std::vector<uint64_t> abandoned;
  for (auto& [id, batch] : batches) {
    if (batch->expired) {
      // The forced close purges the requests of endpoints with peer error handling at once.
      // Endpoints without it (shm in UCX 1.13) may keep a request forever: after a grace period
      // the batch is reported anyway; its endpoint is closed, so nothing moves for it any more.
      if (now - batch->expired_at > kAbandonGrace) abandoned.push_back(id);
      continue;
    }
    if (now < batch->deadline) continue;
    batch->expired = true;
    batch->expired_at = now;
    batch->status = absl::UnavailableError(
        "ucx transport: batch missed its deadline; the peer is declared failed");
    late_peers.push_back(batch->peer);
  }
  for (uint64_t peer : late_peers) {
    FailPeer(peer, absl::UnavailableError("ucx transport: peer missed a deadline"));
  }
  for (uint64_t id : abandoned) Finish(id);
}

absl::Time UcxTransport::State::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [id, batch] : batches) {
    next = std::min(next, batch->expired ? batch->expired_at + kAbandonGrace : batch->deadline);
  }
  return next;
}

void UcxTransport::State::RunCompletions() {
  while (!completions.empty()) {
    auto ready = std::move(completions);
    completions.clear();
    for (auto& [done, status] : ready) {
      if (done) done(std::move(status));
    }
  }
}

void UcxTransport::State::Shutdown() {
  for (auto& [id, peer] : peers) {
    FailPeer(id, absl::FailedPreconditionError("ucx transport: shutting down"));
  }
  const absl::Time bound = absl::Now() + absl::Seconds(2);
  RunDeferredCloses();
  while ((!batches.empty() || closing_endpoints > 0) && absl::Now() < bound) {
    ProgressWorkers();
    ProcessPeerErrors();
  }
  RunCompletions();
  // Endpoints UCX created for peers that connected to us may still hold a queued wireup reply;
  // UCX 1.13 asserts if a worker is destroyed with one pending. Let them go out (bounded).
  for (ucp_worker_h w : {connect_worker.get(), worker.get()}) {
    if (w == nullptr) continue;
    ucp_request_param_t flush;
    std::memset(&flush, 0, sizeof(flush));
    internal::WaitForRequest(w, ucp_worker_flush_nbx(w, &flush),
                             absl::Now() + absl::Milliseconds(300));
  }
  RunCompletions();
  shutting_down = true;
  if (epoll_fd >= 0) close(epoll_fd);
  epoll_fd = -1;
  // Destroying the workers purges what is left; callbacks see shutting_down and only account.
  connect_worker.reset();
  worker.reset();
  RunCompletions();
  zombies.clear();
  regions.clear();
  context.reset();
}

}  // namespace strata::transfer
