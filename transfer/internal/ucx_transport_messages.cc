// UcxTransport's engine, control messages (Transport::SendMessage / SetMessageHandler): one AM
// (kAmMessage) per message, sent as a batch of one so that deadlines, peer failure and shutdown
// treat it exactly as they treat transfers. See ucx_transport_state.h.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "transfer/internal/ucx_request.h"
#include "transfer/internal/ucx_status.h"
#include "transfer/internal/ucx_transport_state.h"

namespace strata::transfer {

using internal::ClassifyRequest;
using internal::kAmMessage;
using internal::RequestStart;

void UcxTransport::State::PostMessage(const PeerHandle& to, std::string message,
                                      absl::Time deadline, DoneCallback done) {
  absl::StatusOr<PeerState*> peer = LivePeer(to.id, to.generation, "peer");
  if (!peer.ok()) {
    completions.emplace_back(std::move(done), peer.status());
    return;
  }
  auto owned = std::make_unique<BatchState>();
  BatchState* batch = owned.get();
  batch->state = this;
  batch->id = next_batch++;
  batch->peer = to.id;
  batch->deadline = deadline;
  batch->done = std::move(done);
  batch->pending = 1;  // the posting guard, released below
  batch->message = std::move(message);
  batch->headers.resize(1);
  batch->headers[0].length = batch->message.size();
  batches.emplace(batch->id, std::move(owned));
  (*peer)->batches.insert(batch->id);
  owner->live_batches_.fetch_add(1);
  owner->messages_sent_.fetch_add(1);
  ucp_request_param_t param = BatchParam(batch);
  param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
  // REPLY: the receiver's handler may answer at once on this connection (MessageHandler).
  param.flags = UCP_AM_SEND_FLAG_REPLY;
  Track(batch,
        ucp_am_send_nbx((*peer)->ep, kAmMessage, &batch->headers[0], sizeof(AmHeader),
                        batch->message.data(), batch->message.size(), &param),
        "ucp_am_send_nbx (message)");
  OneDone(batch, absl::OkStatus());
}

ucs_status_t UcxTransport::State::OnMessage(void* arg, const void* header, size_t header_length,
                                            void* data, size_t length,
                                            const ucp_am_recv_param_t* param) {
  auto* on = static_cast<WorkerArg*>(arg);
  State* self = on->state;
  AmHeader h;
  if (!ReadHeader(header, header_length, &h) || h.length != length || self->shutting_down) {
    return UCS_OK;  // not ours, or too late: dropped (a rendezvous is cancelled)
  }
  const ucp_ep_h from = ReplyEp(param);
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  auto queued = self->arriving.find(from);
  if (!rndv && queued == self->arriving.end()) {  // nothing ahead of it: straight to the handler
    self->DeliverMessage(std::string(static_cast<const char*>(data), length), from);
    return UCS_OK;
  }
  auto& queue = self->arriving[from];
  queue.push_back(std::make_unique<IncomingMessage>());
  IncomingMessage* incoming = queue.back().get();
  incoming->state = self;
  incoming->reply_ep = from;
  if (!rndv) {
    incoming->bytes.assign(static_cast<const char*>(data), length);
    incoming->ready = true;
    self->DeliverArrived(from);
    return UCS_OK;
  }
  incoming->bytes.resize(length);
  ucp_request_param_t p;
  std::memset(&p, 0, sizeof(p));
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.recv_am = &State::OnIncomingMessageDone;
  p.user_data = incoming;
  RequestStart start =
      ClassifyRequest(ucp_am_recv_data_nbx(on->worker, data, incoming->bytes.data(), length, &p));
  if (start.in_flight) {
    self->owner->live_requests_.fetch_add(1);
  } else {
    incoming->ready = true;
    incoming->failed = start.status != UCS_OK;
    self->DeliverArrived(from);
  }
  return UCS_INPROGRESS;  // the descriptor now belongs to the receive
}

void UcxTransport::State::OnIncomingMessageDone(void* request, ucs_status_t status, size_t length,
                                                void* user_data) {
  ucp_request_free(request);
  auto* incoming = static_cast<IncomingMessage*>(user_data);
  State* self = incoming->state;
  self->owner->live_requests_.fetch_sub(1);
  if (incoming->orphaned) return;  // its connection was closed: nothing to deliver
  // A failed receive (the sender died or cancelled) delivers nothing: the sender's send fails.
  incoming->ready = true;
  incoming->failed = status != UCS_OK;
  if (!self->shutting_down) self->DeliverArrived(incoming->reply_ep);
}

void UcxTransport::State::OrphanArrivals(ucp_ep_h ep) {
  auto it = arriving.find(ep);
  if (it == arriving.end()) return;
  for (auto& incoming : it->second) {
    incoming->orphaned = true;
    orphaned_arrivals.push_back(std::move(incoming));
  }
  arriving.erase(it);
}

void UcxTransport::State::DeliverArrived(ucp_ep_h reply_ep) {
  // Called inside the UCX callback of a message on this connection, so `reply_ep` is valid now
  // -- unless a receive on it failed (the connection is likely going): then no immediate reply.
  bool connection_ok = true;
  auto it = arriving.find(reply_ep);
  while (it != arriving.end() && !it->second.empty() && it->second.front()->ready) {
    std::unique_ptr<IncomingMessage> next = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) arriving.erase(it);
    if (next->failed) {
      connection_ok = false;
    } else {
      DeliverMessage(std::move(next->bytes), connection_ok ? reply_ep : nullptr);
    }
    it = arriving.find(reply_ep);  // the handler may not touch it, but the map may have rehashed
  }
}

void UcxTransport::State::DeliverMessage(std::string bytes, ucp_ep_h reply_ep) {
  owner->messages_received_.fetch_add(1);
  if (!message_handler) return;  // none installed: dropped
  std::optional<std::string> reply = message_handler(std::move(bytes));
  // An empty reply is sent as an empty message, not as "no reply".
  if (reply.has_value())
    SendReply(reply_ep, kAmMessage, 0, absl::OkStatus(), "", 0, 0, std::move(*reply));
}

}  // namespace strata::transfer
