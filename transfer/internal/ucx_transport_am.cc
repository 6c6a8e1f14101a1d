// UcxTransport's engine, active-message protocol: the ops peers ask of us (write into / read from
// our registered regions, checked against them) and the replies to the ops we asked of peers.
// See ucx_transport_state.h.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "transfer/internal/ucx_lanes.h"
#include "transfer/internal/ucx_request.h"
#include "transfer/internal/ucx_status.h"
#include "transfer/internal/ucx_transport_state.h"

namespace strata::transfer {

using internal::ClassifyRequest;
using internal::kAmReadRequest;
using internal::kAmReadResponse;
using internal::kAmWrite;
using internal::kAmWriteAck;
using internal::RequestStart;
using internal::UcsToStatus;

namespace {

absl::Status CodeToStatus(int32_t code, std::string_view what) {
  if (code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::StrCat("peer rejected the op: ", AsAbsl(what)));
}

}  // namespace

void UcxTransport::State::OnOwnedSendDone(void* request, ucs_status_t status, void* user_data) {
  ucp_request_free(request);
  auto* send = static_cast<OwnedSend*>(user_data);
  send->state->owner->live_requests_.fetch_sub(1);
  send->state->FinishOwnedSend(send);
}

void UcxTransport::State::FinishOwnedSend(OwnedSend* send) {
  if (send->region != 0) ReleaseRegion(send->region);
  delete send;
}

void UcxTransport::State::SendReply(ucp_ep_h reply_ep, unsigned id, uint64_t op_id,
                                    const absl::Status& status, const void* data, uint64_t length,
                                    RegionId region, std::string owned) {
  auto* send = new OwnedSend{this, AmHeader{}, region, std::move(owned)};
  if (!send->message.empty()) {
    data = send->message.data();
    length = send->message.size();
  }
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

bool UcxTransport::State::ReadHeader(const void* header, size_t header_length, AmHeader* out) {
  if (header_length != sizeof(AmHeader)) return false;
  std::memcpy(out, header, sizeof(AmHeader));
  return true;
}

ucp_ep_h UcxTransport::State::ReplyEp(const ucp_am_recv_param_t* param) {
  return (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : nullptr;
}

void UcxTransport::State::OnIncomingWriteDone(void* request, ucs_status_t status, size_t length,
                                              void* user_data) {
  ucp_request_free(request);
  auto* write = static_cast<IncomingWrite*>(user_data);
  write->state->owner->live_requests_.fetch_sub(1);
  write->state->FinishIncomingWrite(write, status);
}

void UcxTransport::State::FinishIncomingWrite(IncomingWrite* write, ucs_status_t status) {
  ReleaseRegion(write->region);
  SendReply(write->reply_ep, kAmWriteAck, write->op_id, UcsToStatus(status, "am receive"), nullptr,
            0, 0);
  delete write;
}

ucs_status_t UcxTransport::State::OnWrite(void* arg, const void* header, size_t header_length,
                                          void* data, size_t length,
                                          const ucp_am_recv_param_t* param) {
  auto* on = static_cast<WorkerArg*>(arg);
  State* self = on->state;
  AmHeader h;
  if (!ReadHeader(header, header_length, &h)) return UCS_OK;  // not ours: dropped
  self->owner->incoming_ops_.fetch_add(1);
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  RegionId region_id = 0;
  LocalRegionState* region = self->FindLocal(h.address, h.length, &region_id);
  if (region == nullptr || length != h.length || self->shutting_down) {
    self->SendReply(ReplyEp(param), kAmWriteAck, h.op_id,
                    absl::InvalidArgumentError("write outside every registered region"), nullptr, 0,
                    0);
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
  RequestStart start = ClassifyRequest(ucp_am_recv_data_nbx(on->worker, data, dst, length, &p));
  if (start.in_flight) {
    self->owner->live_requests_.fetch_add(1);
  } else {
    self->FinishIncomingWrite(write, start.status);
  }
  return UCS_INPROGRESS;  // the descriptor now belongs to the receive
}

ucs_status_t UcxTransport::State::OnReadRequest(void* arg, const void* header, size_t header_length,
                                                void* data, size_t length,
                                                const ucp_am_recv_param_t* param) {
  auto* on = static_cast<WorkerArg*>(arg);
  State* self = on->state;
  AmHeader h;
  if (!ReadHeader(header, header_length, &h)) return UCS_OK;
  self->owner->incoming_ops_.fetch_add(1);
  RegionId region_id = 0;
  LocalRegionState* region = self->FindLocal(h.address, h.length, &region_id);
  if (region == nullptr || self->shutting_down) {
    self->SendReply(ReplyEp(param), kAmReadResponse, h.op_id,
                    absl::InvalidArgumentError("read outside every registered region"), nullptr, 0,
                    0);
    return UCS_OK;
  }
  ++region->users;
  self->SendReply(ReplyEp(param), kAmReadResponse, h.op_id, absl::OkStatus(),
                  reinterpret_cast<const void*>(h.address), h.length, region_id);
  return UCS_OK;
}

ucs_status_t UcxTransport::State::OnWriteAck(void* arg, const void* header, size_t header_length,
                                             void* data, size_t length,
                                             const ucp_am_recv_param_t* param) {
  auto* on = static_cast<WorkerArg*>(arg);
  State* self = on->state;
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

ucs_status_t UcxTransport::State::OnReadResponse(void* arg, const void* header,
                                                 size_t header_length, void* data, size_t length,
                                                 const ucp_am_recv_param_t* param) {
  auto* on = static_cast<WorkerArg*>(arg);
  State* self = on->state;
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
  RequestStart start = ClassifyRequest(ucp_am_recv_data_nbx(on->worker, data, op.dst, length, &p));
  if (start.in_flight) {
    self->owner->live_requests_.fetch_add(1);
  } else {
    self->OneDone(batch, UcsToStatus(start.status, "ucp_am_recv_data_nbx"));
  }
  return UCS_INPROGRESS;
}

absl::Status UcxTransport::State::SetAmHandler(ucp_worker_h worker, WorkerArg* arg, unsigned id,
                                               ucp_am_recv_callback_t cb) {
  ucp_am_handler_param_t param;
  std::memset(&param, 0, sizeof(param));
  param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                     UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
  param.id = id;
  param.cb = cb;
  param.arg = arg;
  param.flags = UCP_AM_FLAG_WHOLE_MSG;
  return UcsToStatus(ucp_worker_set_am_recv_handler(worker, &param),
                     "ucp_worker_set_am_recv_handler");
}

}  // namespace strata::transfer
