#include "transfer/ucx_transport.h"

#include <sys/epoll.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "transfer/internal/ucx_handles.h"
#include "transfer/internal/ucx_lanes.h"
#include "transfer/internal/ucx_request.h"
#include "transfer/internal/ucx_status.h"

namespace strata::transfer {

using internal::ClassifyRequest;
using internal::RequestStart;
using internal::UcsToStatus;

namespace {

// Active-message ids of the kActiveMessage protocol.
enum AmId : unsigned {
  kAmWrite = 0x5301,         // initiator -> owner: header + the bytes to place at `address`
  kAmWriteAck = 0x5302,      // owner -> initiator: the bytes of op `op_id` are in place (`code`)
  kAmReadRequest = 0x5303,   // initiator -> owner: send me [address, address+length)
  kAmReadResponse = 0x5304,  // owner -> initiator: header + the bytes of op `op_id`
};

// Fixed-size header of every AM; `code` is an absl::StatusCode.
struct AmHeader {
  uint64_t op_id = 0;
  uint64_t address = 0;
  uint64_t length = 0;
  int32_t code = 0;
  uint32_t reserved = 0;
};

// How long an expired batch may wait for UCX to purge its requests before it is reported anyway.
constexpr absl::Duration kAbandonGrace = absl::Milliseconds(500);

absl::Status CodeToStatus(int32_t code, std::string_view what) {
  if (code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::StrCat("peer rejected the op: ", AsAbsl(what)));
}

}  // namespace

// Everything the progress thread owns. Members are declared parent-first so that the implicit
// destruction order (reverse) would also be correct; Shutdown() makes the order explicit.
struct UcxTransport::State {
  struct LocalRegionState {
    uint64_t base = 0;
    uint64_t length = 0;
    internal::UcpMemPtr memh;
    std::string packed_rkey;
    int users = 0;  // ops in flight on the region
    bool dying = false;
  };
  struct RemoteRegionState {
    uint64_t base = 0;
    uint64_t length = 0;
    std::string packed_rkey;
    internal::UcpRkeyPtr rkey;
  };
  // user_data of an endpoint's error callback. Kept until shutdown: UCX may report an error on an
  // endpoint we already retired.
  struct EpContext {
    State* state = nullptr;
    uint64_t peer = 0;
    uint64_t generation = 0;
  };
  struct PeerState {
    std::string name;
    std::string address;
    uint64_t generation = 0;
    ucp_ep_h ep = nullptr;
    Protocol protocol = Protocol::kRma;
    std::string transports;
    bool peer_error_handling = false;  // UCP_ERR_HANDLING_MODE_PEER (else NONE; see Connect)
    bool failed = false;
    absl::Status failure;
    uint64_t next_region = 1;
    std::map<uint64_t, RemoteRegionState> regions;
    std::set<uint64_t> batches;
  };
  struct BatchState {
    State* state = nullptr;
    uint64_t id = 0;
    uint64_t peer = 0;
    absl::Time deadline;
    DoneCallback done;
    size_t pending = 0;  // requests in flight + AM replies awaited + the posting guard
    absl::Status status;
    std::vector<RegionId> regions;  // one `users` reference each
    std::vector<AmHeader> headers;  // AM headers must live until their send completes
    bool expired = false;
    absl::Time expired_at;
    bool finished = false;  // reported; kept as a zombie while UCX may still call back
  };
  // An op of ours awaiting its AM reply.
  struct AmOp {
    uint64_t batch = 0;
    char* dst = nullptr;  // kGet: where the bytes go
    uint64_t length = 0;
    ucp_mem_h memh = nullptr;
  };
  // An AM we send on behalf of a peer (ack, read response), alive until its request completes.
  struct OwnedSend {
    State* state = nullptr;
    AmHeader header;
    RegionId region = 0;  // a `users` reference while the send reads the region
  };
  // A peer's write being received into one of our regions.
  struct IncomingWrite {
    State* state = nullptr;
    ucp_ep_h reply_ep = nullptr;
    uint64_t op_id = 0;
    RegionId region = 0;
  };

  State(UcxTransport* owner, const UcxTransportOptions& options) : owner(owner), options(options) {}

  UcxTransport* const owner;
  const UcxTransportOptions& options;

  internal::UcpContextPtr context;
  internal::UcpWorkerPtr worker;
  int epoll_fd = -1;
  bool shutting_down = false;

  std::map<RegionId, LocalRegionState> regions;
  RegionId next_region = 1;
  std::map<uint64_t, PeerState> peers;
  uint64_t next_peer = 1;
  uint64_t next_generation = 1;
  std::vector<std::unique_ptr<EpContext>> ep_contexts;
  std::vector<std::pair<EpContext*, ucs_status_t>> peer_errors;
  std::map<uint64_t, std::unique_ptr<BatchState>> batches;
  uint64_t next_batch = 1;
  std::unordered_map<uint64_t, AmOp> am_ops;
  uint64_t next_op = 1;
  std::vector<std::pair<DoneCallback, absl::Status>> completions;
  // Batches reported failed while UCX still held requests for them (endpoints without peer error
  // handling cannot purge those): kept so a late callback finds valid memory; freed at shutdown.
  std::vector<std::unique_ptr<BatchState>> zombies;
  // Set once UCX refused an endpoint with UCP_ERR_HANDLING_MODE_PEER on this context's transports.
  bool peer_mode_unreachable = false;
  size_t closing_endpoints = 0;

  // --- regions -------------------------------------------------------------------------------

  void ReleaseRegion(RegionId id) {
    auto it = regions.find(id);
    if (it == regions.end()) return;
    if (--it->second.users == 0 && it->second.dying) {
      regions.erase(it);
      owner->live_regions_.fetch_sub(1);
    }
  }

  // The registered, live region that holds [address, address+length), or nullptr.
  LocalRegionState* FindLocal(uint64_t address, uint64_t length, RegionId* id) {
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

  // --- batches -------------------------------------------------------------------------------

  void OneDone(BatchState* batch, const absl::Status& status) {
    if (batch->finished) return;  // abandoned after its deadline (see CheckDeadlines)
    if (!status.ok() && batch->status.ok()) batch->status = status;
    if (--batch->pending == 0) Finish(batch->id);
  }

  void Finish(uint64_t batch_id) {
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

  static void OnBatchRequestDone(void* request, ucs_status_t status, void* user_data) {
    auto* batch = static_cast<BatchState*>(user_data);
    ucp_request_free(request);
    batch->state->owner->live_requests_.fetch_sub(1);
    batch->state->OneDone(batch, UcsToStatus(status, "transfer request"));
  }

  static void OnBatchRecvDone(void* request, ucs_status_t status, size_t length, void* user_data) {
    OnBatchRequestDone(request, status, user_data);
  }

  // Accounts for one UCX call made for `batch` (the request loop, async form).
  void Track(BatchState* batch, ucs_status_ptr_t ptr, std::string_view what) {
    RequestStart start = ClassifyRequest(ptr);
    if (start.in_flight) {
      ++batch->pending;
      owner->live_requests_.fetch_add(1);
    } else if (start.status != UCS_OK) {
      if (batch->status.ok()) batch->status = UcsToStatus(start.status, what);
    }
  }

  ucp_request_param_t BatchParam(BatchState* batch) {
    ucp_request_param_t param;
    std::memset(&param, 0, sizeof(param));
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &State::OnBatchRequestDone;
    param.user_data = batch;
    return param;
  }

  absl::Status Validate(const std::vector<TransferOp>& ops, PeerState** peer_out) {
    const RemoteRegionHandle& first = ops.front().remote_region;
    auto peer_it = peers.find(first.peer);
    if (peer_it == peers.end()) {
      return absl::InvalidArgumentError("ops[0].remote_region: unknown peer");
    }
    PeerState& peer = peer_it->second;
    if (peer.generation != first.generation) {
      return absl::UnavailableError(absl::StrCat("ucx transport: stale peer generation ",
                                                 first.generation, " (peer is at ", peer.generation,
                                                 "); reconnect and re-register"));
    }
    if (peer.failed) {
      return absl::UnavailableError(
          absl::StrCat("ucx transport: peer failed: ", peer.failure.message()));
    }
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

  void PostBatch(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) {
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

  void PostRma(BatchState* batch, PeerState& peer, const std::vector<TransferOp>& ops) {
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

  void PostActiveMessages(BatchState* batch, PeerState& peer, const std::vector<TransferOp>& ops) {
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
      am_ops[header.op_id] = AmOp{batch->id, op.kind == OpKind::kGet ? local_ptr : nullptr,
                                  op.length, local.memh.get()};
      ++batch->pending;  // the reply
      ucp_request_param_t param = BatchParam(batch);
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_MEMH;
      param.flags = UCP_AM_SEND_FLAG_REPLY;
      param.memh = local.memh.get();
      ucs_status_ptr_t ptr;
      if (op.kind == OpKind::kPut) {
        if (op.length >= options.am_rendezvous_threshold) param.flags |= UCP_AM_SEND_FLAG_RNDV;
        ptr = ucp_am_send_nbx(peer.ep, kAmWrite, &header, sizeof(header), local_ptr, op.length,
                              &param);
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

  // --- peers ---------------------------------------------------------------------------------

  static void OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status) {
    auto* context = static_cast<EpContext*>(arg);
    // Handled from the loop: closing an endpoint inside its own error callback is not allowed.
    context->state->peer_errors.emplace_back(context, status);
  }

  static void OnCloseDone(void* request, ucs_status_t status, void* user_data) {
    ucp_request_free(request);
    --static_cast<State*>(user_data)->closing_endpoints;
  }

  void CloseEndpoint(ucp_ep_h ep) {
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

  // Declares the peer failed: its AM ops awaiting replies fail now, its requests are purged by
  // the forced close (their callbacks fail the batches), its rkeys are destroyed.
  void FailPeer(uint64_t peer_id, const absl::Status& status) {
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
    CloseEndpoint(ep);
    rkeys.clear();
  }

  void ProcessPeerErrors() {
    if (peer_errors.empty()) return;
    auto errors = std::move(peer_errors);
    peer_errors.clear();
    for (const auto& [context, status] : errors) {
      auto it = peers.find(context->peer);
      if (it == peers.end() || it->second.generation != context->generation) continue;
      FailPeer(context->peer, UcsToStatus(status, "ucx endpoint error"));
    }
  }

  absl::StatusOr<PeerHandle> Connect(std::string_view name, std::string_view address) {
    uint64_t peer_id = 0;
    for (auto& [id, peer] : peers) {
      if (peer.name != name) continue;
      if (!peer.failed && peer.address == address) return PeerHandle{id, peer.generation};
      // A restarted (new address) or failed peer: retire the old generation.
      FailPeer(id, absl::UnavailableError(absl::StrCat("ucx transport: peer '", AsAbsl(name),
                                                       "' reconnected; generation ",
                                                       peer.generation, " is superseded")));
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
      status = ucp_ep_create(worker.get(), &params, &ep);
    }
    peer.peer_error_handling = status == UCS_OK;
    if (status == UCS_ERR_UNREACHABLE && options.allow_endpoints_without_peer_error_handling) {
      peer_mode_unreachable = true;
      // UCX 1.13's shared-memory transports (sysv, posix) cannot report peer failure, so no
      // endpoint with UCP_ERR_HANDLING_MODE_PEER reaches a peer over them. Without this fallback
      // shm peers would be reachable over tcp only. Such endpoints detect a dead peer by the
      // batch deadline (and cma errors), and are force-closed like the others.
      params.field_mask &= ~(UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER);
      status = ucp_ep_create(worker.get(), &params, &ep);
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

  // --- active messages served for peers --------------------------------------------------------

  static void OnOwnedSendDone(void* request, ucs_status_t status, void* user_data) {
    ucp_request_free(request);
    auto* send = static_cast<OwnedSend*>(user_data);
    send->state->owner->live_requests_.fetch_sub(1);
    send->state->FinishOwnedSend(send);
  }

  void FinishOwnedSend(OwnedSend* send) {
    if (send->region != 0) ReleaseRegion(send->region);
    delete send;
  }

  // Sends an AM we owe a peer. `region` (0: none) is released once the send no longer reads it.
  void SendReply(ucp_ep_h reply_ep, unsigned id, uint64_t op_id, const absl::Status& status,
                 const void* data, uint64_t length, RegionId region) {
    auto* send = new OwnedSend{this, AmHeader{}, region};
    send->header.op_id = op_id;
    send->header.length = length;
    send->header.code = static_cast<int32_t>(status.code());
    if (reply_ep == nullptr || shutting_down) {
      FinishOwnedSend(send);
      return;
    }
    ucp_request_param_t param;
    std::memset(&param, 0, sizeof(param));
    param.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
    param.cb.send = &State::OnOwnedSendDone;
    param.user_data = send;
    param.flags = length >= options.am_rendezvous_threshold ? UCP_AM_SEND_FLAG_RNDV : 0;
    if (region != 0) {
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
      param.memh = regions[region].memh.get();
    }
    RequestStart start = ClassifyRequest(
        ucp_am_send_nbx(reply_ep, id, &send->header, sizeof(send->header), data, length, &param));
    if (start.in_flight) {
      owner->live_requests_.fetch_add(1);
    } else {
      FinishOwnedSend(send);
    }
  }

  static bool ReadHeader(const void* header, size_t header_length, AmHeader* out) {
    if (header_length != sizeof(AmHeader)) return false;
    std::memcpy(out, header, sizeof(AmHeader));
    return true;
  }

  static ucp_ep_h ReplyEp(const ucp_am_recv_param_t* param) {
    return (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : nullptr;
  }

  static void OnIncomingWriteDone(void* request, ucs_status_t status, size_t length,
                                  void* user_data) {
    ucp_request_free(request);
    auto* write = static_cast<IncomingWrite*>(user_data);
    write->state->owner->live_requests_.fetch_sub(1);
    write->state->FinishIncomingWrite(write, status);
  }

  void FinishIncomingWrite(IncomingWrite* write, ucs_status_t status) {
    ReleaseRegion(write->region);
    SendReply(write->reply_ep, kAmWriteAck, write->op_id, UcsToStatus(status, "am receive"),
              nullptr, 0, 0);
    delete write;
  }

  static ucs_status_t OnWrite(void* arg, const void* header, size_t header_length, void* data,
                              size_t length, const ucp_am_recv_param_t* param) {
    State* self = static_cast<State*>(arg);
    AmHeader h;
    if (!ReadHeader(header, header_length, &h)) return UCS_OK;  // not ours: dropped
    self->owner->incoming_ops_.fetch_add(1);
    const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
    RegionId region_id = 0;
    LocalRegionState* region = self->FindLocal(h.address, h.length, &region_id);
    if (region == nullptr || length != h.length || self->shutting_down) {
      self->SendReply(ReplyEp(param), kAmWriteAck, h.op_id,
                      absl::InvalidArgumentError("write outside every registered region"), nullptr,
                      0, 0);
      return UCS_OK;  // drops the data (a rendezvous is cancelled)
    }
    void* dst = reinterpret_cast<void*>(h.address);
    if (!rndv) {
      std::memcpy(dst, data, length);
      self->SendReply(ReplyEp(param), kAmWriteAck, h.op_id, absl::OkStatus(), nullptr, 0, 0);
      return UCS_OK;
    }
    ++region->users;
    auto* write = new IncomingWrite{self, ReplyEp(param), h.op_id, region_id};
    ucp_request_param_t p;
    std::memset(&p, 0, sizeof(p));
    p.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMH;
    p.cb.recv_am = &State::OnIncomingWriteDone;
    p.user_data = write;
    p.memh = region->memh.get();
    RequestStart start =
        ClassifyRequest(ucp_am_recv_data_nbx(self->worker.get(), data, dst, length, &p));
    if (start.in_flight) {
      self->owner->live_requests_.fetch_add(1);
    } else {
      self->FinishIncomingWrite(write, start.status);
    }
    return UCS_INPROGRESS;  // the descriptor now belongs to the receive
  }

  static ucs_status_t OnReadRequest(void* arg, const void* header, size_t header_length, void* data,
                                    size_t length, const ucp_am_recv_param_t* param) {
    State* self = static_cast<State*>(arg);
    AmHeader h;
    if (!ReadHeader(header, header_length, &h)) return UCS_OK;
    self->owner->incoming_ops_.fetch_add(1);
    RegionId region_id = 0;
    LocalRegionState* region = self->FindLocal(h.address, h.length, &region_id);
    if (region == nullptr || self->shutting_down) {
      self->SendReply(ReplyEp(param), kAmReadResponse, h.op_id,
                      absl::InvalidArgumentError("read outside every registered region"), nullptr,
                      0, 0);
      return UCS_OK;
    }
    ++region->users;
    self->SendReply(ReplyEp(param), kAmReadResponse, h.op_id, absl::OkStatus(),
                    reinterpret_cast<const void*>(h.address), h.length, region_id);
    return UCS_OK;
  }

  // --- active-message replies to our own ops ---------------------------------------------------

  static ucs_status_t OnWriteAck(void* arg, const void* header, size_t header_length, void* data,
                                 size_t length, const ucp_am_recv_param_t* param) {
    State* self = static_cast<State*>(arg);
    AmHeader h;
    if (!ReadHeader(header, header_length, &h)) return UCS_OK;
    auto op = self->am_ops.find(h.op_id);
    if (op == self->am_ops.end()) return UCS_OK;  // the op already failed (deadline, peer)
    auto batch = self->batches.find(op->second.batch);
    self->am_ops.erase(op);
    if (batch != self->batches.end()) {
      self->OneDone(batch->second.get(), CodeToStatus(h.code, "write"));
    }
    return UCS_OK;
  }

  static ucs_status_t OnReadResponse(void* arg, const void* header, size_t header_length,
                                     void* data, size_t length, const ucp_am_recv_param_t* param) {
    State* self = static_cast<State*>(arg);
    AmHeader h;
    if (!ReadHeader(header, header_length, &h)) return UCS_OK;
    auto op_it = self->am_ops.find(h.op_id);
    if (op_it == self->am_ops.end()) return UCS_OK;  // failed already: drop the bytes
    AmOp op = op_it->second;
    self->am_ops.erase(op_it);
    auto batch_it = self->batches.find(op.batch);
    if (batch_it == self->batches.end()) return UCS_OK;
    BatchState* batch = batch_it->second.get();
    if (h.code != 0) {
      self->OneDone(batch, CodeToStatus(h.code, "read"));
      return UCS_OK;
    }
    if (length != op.length) {
      self->OneDone(batch, absl::InternalError(absl::StrCat("read response of ", length,
                                                            " bytes for an op of ", op.length)));
      return UCS_OK;
    }
    if ((param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) == 0) {
      std::memcpy(op.dst, data, length);
      self->OneDone(batch, absl::OkStatus());
      return UCS_OK;
    }
    // The reply unit of `pending` passes to the receive request.
    ucp_request_param_t p = self->BatchParam(batch);
    p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    p.cb.recv_am = &State::OnBatchRecvDone;
    p.memh = op.memh;
    RequestStart start =
        ClassifyRequest(ucp_am_recv_data_nbx(self->worker.get(), data, op.dst, length, &p));
    if (start.in_flight) {
      self->owner->live_requests_.fetch_add(1);
    } else {
      self->OneDone(batch, UcsToStatus(start.status, "ucp_am_recv_data_nbx"));
    }
    return UCS_INPROGRESS;
  }

  absl::Status SetAmHandler(unsigned id, ucp_am_recv_callback_t cb) {
    ucp_am_handler_param_t param;
    std::memset(&param, 0, sizeof(param));
    param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                       UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
    param.id = id;
    param.cb = cb;
    param.arg = this;
    param.flags = UCP_AM_FLAG_WHOLE_MSG;
    return UcsToStatus(ucp_worker_set_am_recv_handler(worker.get(), &param),
                       "ucp_worker_set_am_recv_handler");
  }

  // --- the loop's housekeeping -----------------------------------------------------------------

  void CheckDeadlines(absl::Time now) {
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

  absl::Time NextDeadline() const {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [id, batch] : batches) {
      next = std::min(next, batch->expired ? batch->expired_at + kAbandonGrace : batch->deadline);
    }
    return next;
  }

  void RunCompletions() {
    while (!completions.empty()) {
      auto ready = std::move(completions);
      completions.clear();
      for (auto& [done, status] : ready) {
        if (done) done(std::move(status));
      }
    }
  }

  // Called once the progress thread has stopped, on the destroying thread.
  void Shutdown() {
    for (auto& [id, peer] : peers) {
      FailPeer(id, absl::FailedPreconditionError("ucx transport: shutting down"));
    }
    const absl::Time bound = absl::Now() + absl::Seconds(2);
    while ((!batches.empty() || closing_endpoints > 0) && absl::Now() < bound) {
      ucp_worker_progress(worker.get());
      ProcessPeerErrors();
    }
    RunCompletions();
    // Endpoints UCX created for peers that connected to us may still hold a queued wireup reply;
    // UCX 1.13 asserts if a worker is destroyed with one pending. Let them go out (bounded).
    ucp_request_param_t flush;
    std::memset(&flush, 0, sizeof(flush));
    internal::WaitForRequest(worker.get(), ucp_worker_flush_nbx(worker.get(), &flush),
                             absl::Now() + absl::Milliseconds(300));
    RunCompletions();
    shutting_down = true;
    if (epoll_fd >= 0) close(epoll_fd);
    epoll_fd = -1;
    // Destroying the worker purges what is left; callbacks see shutting_down and only account.
    worker.reset();
    RunCompletions();
    zombies.clear();
    regions.clear();
    context.reset();
  }
};

// ----------------------------------------------------------------------------------------------

UcxTransport::UcxTransport(UcxTransportOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<UcxTransport>> UcxTransport::Create(UcxTransportOptions options) {
  std::unique_ptr<UcxTransport> transport(new UcxTransport(std::move(options)));
  STRATA_RETURN_IF_ERROR(transport->Init());
  return transport;
}

absl::Status UcxTransport::Init() {
  state_ = std::make_unique<State>(this, options_);
  State& s = *state_;

  ucp_config_t* raw_config = nullptr;
  STRATA_RETURN_IF_ERROR(
      UcsToStatus(ucp_config_read(nullptr, nullptr, &raw_config), "ucp_config_read"));
  internal::UcpConfigPtr config(raw_config);
  for (const auto& [key, value] : options_.ucx_config) {
    STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_config_modify(config.get(), key.c_str(), value.c_str()),
                                       absl::StrCat("ucp_config_modify ", key)));
  }
  // A batch of 64 ops puts 128+ messages (rendezvous requests, acks) on a shared-memory FIFO at
  // once; with UCX's default of 64 entries senders wait for the peer to be scheduled (20x slower
  // at 64 x 64 KiB here). Applied only where shared memory may be used (UCX warns otherwise),
  // and only if the caller did not set it.
  bool fifo_set = false;
  for (const auto& [key, value] : options_.ucx_config) fifo_set |= key == "MM_FIFO_SIZE";
  if (!fifo_set && internal::ConfigMayUseSharedMemory(config.get())) {
    // Swallowed on purpose: a UCX without this knob keeps its default.
    ucp_config_modify(config.get(), "MM_FIFO_SIZE", "256");
  }
  ucp_params_t params;
  std::memset(&params, 0, sizeof(params));
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.name = options_.name.c_str();
  ucp_context_h context = nullptr;
  STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_init(&params, config.get(), &context), "ucp_init"));
  s.context.reset(context);

  ucp_worker_params_t worker_params;
  std::memset(&worker_params, 0, sizeof(worker_params));
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;  // only the progress thread touches it
  ucp_worker_h worker = nullptr;
  STRATA_RETURN_IF_ERROR(
      UcsToStatus(ucp_worker_create(context, &worker_params, &worker), "ucp_worker_create"));
  s.worker.reset(worker);

  ucp_worker_attr_t worker_attr;
  std::memset(&worker_attr, 0, sizeof(worker_attr));
  worker_attr.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
  STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_worker_query(worker, &worker_attr), "ucp_worker_query"));
  internal::UcpWorkerAddressPtr address(worker_attr.address,
                                        internal::UcpWorkerAddressDeleter{worker});
  local_address_.assign(reinterpret_cast<const char*>(address.get()), worker_attr.address_length);

  STRATA_RETURN_IF_ERROR(s.SetAmHandler(kAmWrite, &State::OnWrite));
  STRATA_RETURN_IF_ERROR(s.SetAmHandler(kAmWriteAck, &State::OnWriteAck));
  STRATA_RETURN_IF_ERROR(s.SetAmHandler(kAmReadRequest, &State::OnReadRequest));
  STRATA_RETURN_IF_ERROR(s.SetAmHandler(kAmReadResponse, &State::OnReadResponse));

  if (options_.progress_mode == UcxTransportOptions::ProgressMode::kEvent) {
    int worker_fd = -1;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_worker_get_efd(worker, &worker_fd), "ucp_worker_get_efd"));
    s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s.epoll_fd < 0) return absl::InternalError("epoll_create1 failed");
    epoll_event event;
    std::memset(&event, 0, sizeof(event));
    event.events = EPOLLIN;
    if (epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, worker_fd, &event) != 0) {
      return absl::InternalError("epoll_ctl failed");
    }
  }

  ucp_context_attr_t context_attr;
  std::memset(&context_attr, 0, sizeof(context_attr));
  context_attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  STRATA_RETURN_IF_ERROR(
      UcsToStatus(ucp_context_query(context, &context_attr), "ucp_context_query"));
  capabilities_.name = "ucx";
  capabilities_.native_rma = internal::ContextHasNativeRma(context);
  s.peer_mode_unreachable = !internal::ContextHasPeerFailureTransport(context);
  capabilities_.host_memory = true;
  capabilities_.cuda_memory = (context_attr.memory_types & UCS_BIT(UCS_MEMORY_TYPE_CUDA)) != 0;
  capabilities_.max_message_bytes = std::numeric_limits<size_t>::max();

  thread_ = std::thread([this] { ProgressLoop(); });
  thread_id_ = thread_.get_id();
  return absl::OkStatus();
}

UcxTransport::~UcxTransport() {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
  }
  if (thread_.joinable()) {
    stop_.store(true);
    ucp_worker_signal(state_->worker.get());
    thread_.join();
  }
  if (state_ != nullptr) state_->Shutdown();
}

bool UcxTransport::OnProgressThread() const { return std::this_thread::get_id() == thread_id_; }

void UcxTransport::ProgressLoop() {
  State& s = *state_;
  ucp_worker_h worker = s.worker.get();
  const bool busy = options_.progress_mode == UcxTransportOptions::ProgressMode::kBusyPoll;
  absl::Time last_activity = absl::Now();
  for (;;) {
    if (has_commands_.load()) {
      std::deque<Command> commands;
      {
        absl::MutexLock lock(&mu_);
        commands.swap(commands_);
        has_commands_.store(false);
      }
      for (Command& command : commands) command();
    }
    // Bounded: progress returns the number of events it handled; stop after a burst so commands
    // and deadlines are not starved.
    unsigned events = 0;
    for (int i = 0; i < 256; ++i) {
      const unsigned n = ucp_worker_progress(worker);
      if (n == 0) break;
      events += n;
    }
    s.ProcessPeerErrors();
    const absl::Time now = absl::Now();
    if (events > 0) last_activity = now;
    if (!s.batches.empty()) s.CheckDeadlines(now);
    s.RunCompletions();
    if (stop_.load()) {
      absl::MutexLock lock(&mu_);
      if (commands_.empty()) break;
      continue;
    }
    if (busy || has_commands_.load()) continue;
    // Work in flight: optionally keep polling a while after the last event before sleeping (see
    // Options::poll_after_activity), and never sleep more than 1 ms: some progress raises no
    // event (a send queued on a full shared-memory FIFO is retried only by progress).
    const bool active = !s.batches.empty() || live_requests_.load() > 0;
    if (active && now - last_activity < options_.poll_after_activity) continue;
    ucs_status_t armed = ucp_worker_arm(worker);
    if (armed == UCS_ERR_BUSY) continue;  // events arrived meanwhile: progress again
    if (has_commands_.load() || stop_.load()) continue;
    // Sleep until UCX has an event, a command is signalled, or the next deadline (at most 100 ms,
    // so stop and deadlines are always noticed).
    int timeout_ms = 100;
    const absl::Time next = s.NextDeadline();
    if (next != absl::InfiniteFuture()) {
      timeout_ms =
          static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(next - now) + 1, 0, 100));
    }
    if (armed != UCS_OK || active) timeout_ms = std::min(timeout_ms, 1);
    epoll_event event;
    epoll_wait(s.epoll_fd, &event, 1, timeout_ms);
  }
}

absl::Status UcxTransport::RunSync(std::function<absl::Status()> fn) {
  if (OnProgressThread()) return fn();
  struct Shared {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
  };
  auto shared = std::make_shared<Shared>();
  {
    absl::MutexLock lock(&mu_);
    if (!accepting_) return absl::FailedPreconditionError("ucx transport: shutting down");
    commands_.push_back([shared, fn = std::move(fn)] {
      absl::Status status = fn();
      absl::MutexLock lock(&shared->mu);
      shared->status = std::move(status);
      shared->done = true;
    });
    has_commands_.store(true);
  }
  ucp_worker_signal(state_->worker.get());
  absl::MutexLock lock(&shared->mu);
  if (!shared->mu.AwaitWithTimeout(absl::Condition(&shared->done), options_.sync_call_timeout)) {
    return absl::DeadlineExceededError("ucx transport: progress thread did not run the call");
  }
  return shared->status;
}

Capabilities UcxTransport::GetCapabilities() const { return capabilities_; }

std::string UcxTransport::LocalAddress() const { return local_address_; }

absl::StatusOr<LocalRegion> UcxTransport::RegisterMemory(void* base, size_t length) {
  if (base == nullptr || length == 0) {
    return absl::InvalidArgumentError("RegisterMemory: base must be non-null and length > 0");
  }
  auto out = std::make_shared<LocalRegion>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, base, length]() -> absl::Status {
    State& s = *state_;
    ucp_mem_map_params_t params;
    std::memset(&params, 0, sizeof(params));
    params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    params.address = base;
    params.length = length;
    ucp_mem_h memh = nullptr;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_mem_map(s.context.get(), &params, &memh), "ucp_mem_map"));
    internal::UcpMemPtr owned(memh, internal::UcpMemDeleter{s.context.get()});
    void* packed = nullptr;
    size_t packed_size = 0;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_rkey_pack(s.context.get(), memh, &packed, &packed_size), "ucp_rkey_pack"));
    internal::UcpRkeyBufferPtr packed_owned(packed);
    const RegionId id = s.next_region++;
    State::LocalRegionState& region = s.regions[id];
    region.base = reinterpret_cast<uint64_t>(base);
    region.length = length;
    region.memh = std::move(owned);
    region.packed_rkey.assign(static_cast<const char*>(packed), packed_size);
    live_regions_.fetch_add(1);
    out->id = id;
    out->descriptor = RegionDescriptor{region.base, region.length, region.packed_rkey};
    return absl::OkStatus();
  }));
  return *out;
}

absl::Status UcxTransport::DeregisterMemory(RegionId id) {
  STRATA_RETURN_IF_ERROR(RunSync([this, id]() -> absl::Status {
    State& s = *state_;
    auto it = s.regions.find(id);
    if (it == s.regions.end() || it->second.dying) {
      return absl::InvalidArgumentError(absl::StrCat("DeregisterMemory: unknown region ", id));
    }
    if (it->second.users > 0) {
      it->second.dying = true;  // unmapped when the last op on it completes
    } else {
      s.regions.erase(it);
      live_regions_.fetch_sub(1);
    }
    return absl::OkStatus();
  }));
  if (OnProgressThread()) return absl::OkStatus();  // cannot wait for ourselves
  // Ops already using the region (ours, or a peer's read being answered from it) finish first:
  // once this returns OK the memory may be freed.
  const absl::Time deadline = absl::Now() + options_.sync_call_timeout;
  for (;;) {
    auto gone = std::make_shared<bool>(false);
    STRATA_RETURN_IF_ERROR(RunSync([this, id, gone]() -> absl::Status {
      *gone = state_->regions.count(id) == 0;
      return absl::OkStatus();
    }));
    if (*gone) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::FailedPreconditionError(absl::StrCat(
          "DeregisterMemory: region ", id,
          " is still in use by transfers in flight; keep the memory valid until they end"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

absl::StatusOr<PeerHandle> UcxTransport::Connect(std::string_view name, std::string_view address) {
  if (address.empty()) return absl::InvalidArgumentError("Connect: empty address");
  auto out = std::make_shared<absl::StatusOr<PeerHandle>>();
  STRATA_RETURN_IF_ERROR(RunSync(
      [this, out, name = std::string(name), address = std::string(address)]() -> absl::Status {
        *out = state_->Connect(name, address);
        return absl::OkStatus();
      }));
  return *out;
}

absl::Status UcxTransport::Disconnect(const PeerHandle& handle) {
  return RunSync([this, handle]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::OkStatus();  // already superseded: idempotent
    }
    state_->FailPeer(handle.id, absl::UnavailableError("ucx transport: peer disconnected"));
    return absl::OkStatus();
  });
}

absl::StatusOr<PeerInfo> UcxTransport::DescribePeer(const PeerHandle& handle) {
  auto out = std::make_shared<PeerInfo>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, handle]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::UnavailableError("DescribePeer: stale or unknown peer handle");
    }
    out->handle = handle;
    out->protocol = it->second.protocol;
    out->failed = it->second.failed;
    out->detail = it->second.transports;
    return absl::OkStatus();
  }));
  return *out;
}

absl::StatusOr<RemoteRegionHandle> UcxTransport::AddRemoteRegion(const PeerHandle& handle,
                                                                 const RegionDescriptor& region) {
  if (region.length == 0 || region.packed_rkey.empty()) {
    return absl::InvalidArgumentError("AddRemoteRegion: length and packed_rkey are required");
  }
  auto out = std::make_shared<RemoteRegionHandle>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, handle, region]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::UnavailableError(
          "AddRemoteRegion: stale peer generation; reconnect and re-register");
    }
    State::PeerState& peer = it->second;
    if (peer.failed) {
      return absl::UnavailableError(
          absl::StrCat("AddRemoteRegion: peer failed: ", peer.failure.message()));
    }
    // The rkey cache: one unpacked key per (endpoint, packed key).
    for (const auto& [id, r] : peer.regions) {
      if (r.packed_rkey == region.packed_rkey && r.base == region.base &&
          r.length == region.length) {
        *out = RemoteRegionHandle{handle.id, handle.generation, id};
        return absl::OkStatus();
      }
    }
    ucp_rkey_h rkey = nullptr;
    STRATA_RETURN_IF_ERROR(UcsToStatus(
        ucp_ep_rkey_unpack(peer.ep, region.packed_rkey.data(), &rkey), "ucp_ep_rkey_unpack"));
    const uint64_t id = peer.next_region++;
    State::RemoteRegionState& remote = peer.regions[id];
    remote.base = region.base;
    remote.length = region.length;
    remote.packed_rkey = region.packed_rkey;
    remote.rkey.reset(rkey);
    *out = RemoteRegionHandle{handle.id, handle.generation, id};
    return absl::OkStatus();
  }));
  return *out;
}

absl::Status UcxTransport::RemoveRemoteRegion(const RemoteRegionHandle& region) {
  return RunSync([this, region]() -> absl::Status {
    auto it = state_->peers.find(region.peer);
    if (it == state_->peers.end() || it->second.generation != region.generation) {
      return absl::OkStatus();
    }
    // An rkey must not be destroyed under an RMA op that uses it: refuse while batches towards
    // the peer are in flight.
    if (!it->second.batches.empty()) {
      return absl::FailedPreconditionError(
          "RemoveRemoteRegion: batches towards this peer are in flight");
    }
    it->second.regions.erase(region.id);
    return absl::OkStatus();
  });
}

void UcxTransport::Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) {
  bool queued = false;
  {
    absl::MutexLock lock(&mu_);
    if (accepting_) {
      commands_.push_back([this, ops = std::move(ops), deadline, done = std::move(done)]() mutable {
        state_->PostBatch(std::move(ops), deadline, std::move(done));
      });
      has_commands_.store(true);
      queued = true;
    }
  }
  if (!queued) {
    done(absl::FailedPreconditionError("ucx transport: shutting down"));
    return;
  }
  ucp_worker_signal(state_->worker.get());
}

UcxTransport::Stats UcxTransport::GetStats() const {
  Stats stats;
  stats.batches_completed = batches_completed_.load();
  stats.batches_failed = batches_failed_.load();
  stats.peers_failed = peers_failed_.load();
  stats.incoming_ops = incoming_ops_.load();
  stats.live_requests = live_requests_.load();
  return stats;
}

}  // namespace strata::transfer
