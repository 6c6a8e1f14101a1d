#include "cachenode/message_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace strata {

MessageCalls::MessageCalls(NodeCore* core, DataPlane* data_plane, uint32_t threads)
    : core_(core), data_plane_(data_plane), gate_(std::make_shared<Gate>()) {
  {
    absl::MutexLock lock(&gate_->mu);
    gate_->calls = this;
  }
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { CallLoop(); });
  data_plane_->SetMessageHandler([gate = gate_](std::string bytes) -> std::optional<std::string> {
    absl::ReaderMutexLock lock(&gate->mu);
    if (gate->calls != nullptr) return gate->calls->OnMessage(std::move(bytes));
    v1::DataPlaneCall call;  // closed: the node is going away; the caller retries elsewhere
    (void)call.ParseFromString(bytes);
    return EncodeReply({}, call.call_id(), absl::UnavailableError("node is shutting down"));
  });
}

MessageCalls::~MessageCalls() {
  {
    absl::MutexLock lock(&gate_->mu);  // waits for a call being parsed right now
    gate_->calls = nullptr;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  // Inline calls end with their transfer, which ends by its deadline.
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inline_in_flight_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

std::string MessageCalls::EncodeReply(v1::DataPlaneReply reply, uint64_t call_id,
                                      const absl::Status& status) {
  if (!status.ok()) reply.clear_reply();
  reply.set_call_id(call_id);
  reply.set_code(static_cast<int32_t>(status.code()));
  if (!status.ok()) reply.set_message(std::string(status.message()));
  return reply.SerializeAsString();
}

std::optional<std::string> MessageCalls::OnMessage(std::string bytes) {
  v1::DataPlaneCall call;
  if (!call.ParseFromString(bytes)) {
    return EncodeReply({}, 0, absl::InvalidArgumentError("DataPlaneCall: not a valid message"));
  }
  uint64_t session = 0;
  std::string_view ns;
  switch (call.call_case()) {
    case v1::DataPlaneCall::kGetInto:
      session = call.get_into().session_id();
      ns = call.get_into().namespace_();
      break;
    case v1::DataPlaneCall::kPutFrom:
      session = call.put_from().session_id();
      ns = call.put_from().namespace_();
      break;
    default:
      return EncodeReply({}, call.call_id(),
                         absl::InvalidArgumentError("call: neither get_into nor put_from"));
  }
  core_->CountMessageCall();
  absl::StatusOr<DataPlane::Caller> caller = data_plane_->FindCaller(session);
  if (!caller.ok()) return EncodeReply({}, call.call_id(), caller.status());
  // The session's token (auth on) must grant the namespace before anything is looked at; the
  // transfer checks it again when it starts (DataPlane::Begin).
  if (absl::Status allowed = data_plane_->AuthorizeSession(session, ns); !allowed.ok()) {
    return EncodeReply({}, call.call_id(), allowed);
  }
  // Quotas meter message calls as they do gRPC calls (the hint travels in the message).
  if (absl::Status admitted = core_->AdmitRate(ns); !admitted.ok()) {
    return EncodeReply({}, call.call_id(), admitted);
  }

  if (call.has_get_into()) {
    {
      absl::MutexLock lock(&mu_);
      ++inline_in_flight_;
    }
    const bool served = core_->TryGetIntoInline(
        call.get_into(), [this, caller = *caller, id = call.call_id()](
                             absl::Status st, v1::GetIntoResponse response) {
          v1::DataPlaneReply reply;
          *reply.mutable_get_into() = std::move(response);
          data_plane_->Answer(caller, EncodeReply(std::move(reply), id, st));
          InlineDone();
        });
    if (served) return std::nullopt;
    InlineDone();
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return EncodeReply({}, call.call_id(), absl::UnavailableError("node is shutting down"));
  }
  if (queue_.size() >= kMaxQueued) {
    return EncodeReply({}, call.call_id(),
                       absl::ResourceExhaustedError(absl::StrCat(
                           kMaxQueued, " data-plane calls queued on this node: back off")));
  }
  queue_.push_back(Work{std::move(call), *std::move(caller)});
  return std::nullopt;
}

void MessageCalls::InlineDone() {
  absl::MutexLock lock(&mu_);
  --inline_in_flight_;
}

void MessageCalls::CallLoop() {
  for (;;) {
    Work work;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and nothing left to answer
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    Serve(work);
  }
}

void MessageCalls::Serve(Work& work) {
  const v1::DataPlaneCall& call = work.call;
  v1::DataPlaneReply reply;
  absl::Status status;
  if (!core_->BeginCall()) {
    status = absl::UnavailableError("node is shutting down");
  } else {
    status = call.has_get_into() ? core_->GetInto(call.get_into(), reply.mutable_get_into())
                                 : core_->PutFrom(call.put_from(), reply.mutable_put_from());
    core_->EndCall();
  }
  data_plane_->Answer(work.caller, EncodeReply(std::move(reply), call.call_id(), status));
}

}  // namespace strata
