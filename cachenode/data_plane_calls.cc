// DataPlane, the parts that serve GetInto / PutFrom arriving as UCX messages (data_plane.h):
// finding and answering the caller, GetInto served inline from pinned DRAM blocks, and the
// sweeper's work for both.
#include <memory>

#include "absl/strings/str_cat.h"
#include "cachenode/data_plane.h"
#include "cachenode/node_core.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "proto/convert.h"

namespace strata {
namespace {

using transfer::OpKind;
using transfer::TransferOp;

// Control peers beyond this are not made: further sessions take their calls over gRPC. They are
// few (one per client process) and closed when their endpoint fails, but a shared-memory
// endpoint cannot report a dead client (UCX 1.13), so the bound is what keeps them finite there.
constexpr size_t kMaxControlPeers = 4096;

}  // namespace

absl::StatusOr<DataPlane::Caller> DataPlane::FindCaller(uint64_t session_id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown data-plane session ", session_id, ": Hello again"));
  }
  if (it->second.control_address.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data-plane session ", session_id,
        " has no control connection for message calls: Hello with control_address, or call "
        "GetInto/PutFrom over gRPC"));
  }
  return Caller{session_id, it->second.control};
}

void DataPlane::SetMessageHandler(transfer::MessageHandler handler) {
  transport_->SetMessageHandler(std::move(handler));
}

void DataPlane::Answer(const Caller& caller, std::string reply) {
  // Swallowed on purpose: a caller that cannot be reached sees its connection fail or its call
  // time out, and retries on a new session.
  transport_->SendMessage(caller.control, std::move(reply),
                          absl::Now() + absl::Milliseconds(options_.transfer_timeout_ms),
                          [](absl::Status) {});
}

std::optional<transfer::PeerHandle> DataPlane::AttachControl(const std::string& address) {
  absl::MutexLock serial(&control_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!controls_.contains(address) && controls_.size() >= kMaxControlPeers) return std::nullopt;
  }
  // The same name and address while healthy: the same endpoint. After a failure, a new one
  // (Transport generations) -- as the client makes a new one to us after the same failure, so
  // UCX keeps pairing the two.
  const std::string name =
      absl::StrCat("control-", absl::Hex(BlockChecksum(address), absl::kZeroPad16));
  absl::StatusOr<transfer::PeerHandle> peer = transport_->Connect(name, address);
  if (!peer.ok()) return std::nullopt;  // the session's calls go over gRPC
  absl::MutexLock lock(&mu_);
  ControlPeer& c = controls_[address];
  c.peer = *peer;
  ++c.sessions;
  return *peer;
}

void DataPlane::DetachControl(const std::string& address, bool goodbye) {
  absl::MutexLock serial(&control_mu_);
  std::optional<transfer::PeerHandle> close;
  {
    absl::MutexLock lock(&mu_);
    auto it = controls_.find(address);
    if (it == controls_.end()) return;
    if (it->second.sessions > 0) --it->second.sessions;
    if (goodbye && it->second.sessions == 0) {
      close = it->second.peer;
      controls_.erase(it);
    }
  }
  if (close.has_value()) (void)transport_->Disconnect(*close);
}

void DataPlane::SweepControls() {
  std::vector<std::pair<std::string, transfer::PeerHandle>> idle;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [address, c] : controls_) {
      if (c.sessions == 0) idle.push_back({address, c.peer});
    }
  }
  for (const auto& [address, peer] : idle) {
    absl::StatusOr<transfer::PeerInfo> info = ucx_->DescribePeer(peer);
    if (info.ok() && !info->failed) continue;  // healthy: kept for the client's next session
    absl::MutexLock serial(&control_mu_);
    {
      absl::MutexLock lock(&mu_);
      auto it = controls_.find(address);
      if (it == controls_.end() || it->second.sessions > 0 ||
          it->second.peer.generation != peer.generation) {
        continue;  // taken by a new session meanwhile
      }
      controls_.erase(it);
    }
    (void)transport_->Disconnect(peer);
  }
}

bool DataPlane::SweeperHasWork() const { return !failed_sessions_.empty(); }

void DataPlane::RunSweeperWork() {
  auto failed = std::move(failed_sessions_);
  failed_sessions_.clear();
  mu_.Unlock();
  for (uint64_t id : failed) Drop(id, /*counted=*/true);
  mu_.Lock();
}

bool DataPlane::TryGetIntoInline(const v1::GetIntoRequest& request, GetIntoDone done) {
  const std::string& ns = request.namespace_();
  // Decide before touching anything, so a call handed on is not counted twice.
  for (const v1::GetIntoItem& item : request.items()) {
    if (!store_->ReadableInPlace(ns, item.key())) return false;
  }
  const uint64_t session = request.session_id();
  absl::StatusOr<Region> region = BeginGetInto(request);
  if (!region.ok()) {
    done(region.status(), v1::GetIntoResponse());
    return true;
  }
  struct Call {
    v1::GetIntoResponse response;
    std::vector<absl::Status> results;
    std::vector<BlockPin> pins;
    std::vector<size_t> moving;  // items whose bytes the transfer sends
  };
  auto call = std::make_shared<Call>();
  const size_t n = request.items_size();
  call->results.resize(n);
  std::vector<TransferOp> ops;
  for (size_t i = 0; i < n; ++i) {
    const v1::GetIntoItem& item = request.items(i);
    v1::GetIntoResult* out = call->response.add_items();
    std::optional<BlockPin> pin;
    absl::StatusOr<std::string_view> bytes = ReadForSend(ns, item, out, &pin, /*copy=*/nullptr);
    if (absl::IsFailedPrecondition(bytes.status())) {
      // The block moved since the check above (rare): a worker serves the call; the keys
      // before this one count a second hit or miss.
      for (const BlockPin& p : call->pins) store_->Unpin(p);
      Release(session);
      return false;
    }
    if (!bytes.ok()) {
      call->results[i] = bytes.status();
      continue;
    }
    if (bytes->empty()) {  // nothing to move (Put refuses empty payloads; kept for safety)
      store_->Unpin(*pin);
      continue;
    }
    call->pins.push_back(*pin);
    call->moving.push_back(i);
    ops.push_back(TransferOp{OpKind::kPut, pool_region_,
                             static_cast<uint64_t>(bytes->data() - pool_.data()), region->handle,
                             item.offset(), bytes->size()});
  }
  auto finish = [this, session, call, done = std::move(done)](absl::Status moved) {
    for (const BlockPin& p : call->pins) store_->Unpin(p);
    Release(session);
    for (size_t i : call->moving) {
      if (moved.ok()) {
        get_bytes_.fetch_add(call->response.items(i).size());
      } else {
        call->results[i] =
            absl::UnavailableError(absl::StrCat("transfer failed: ", moved.message()));
      }
    }
    if (!moved.ok()) {
      failed_batches_.fetch_add(1);
      // The endpoint is failed: the session's keys are useless now. Dropped by the sweeper (a
      // transport callback must not call the transport's synchronous methods).
      absl::MutexLock lock(&mu_);
      failed_sessions_.push_back(session);
    }
    for (size_t i = 0; i < call->results.size(); ++i) {
      StatusToKeyResult(call->results[i], call->response.mutable_items(i)->mutable_result());
    }
    done(CallStatusFromResults(call->results), std::move(call->response));
  };
  if (ops.empty()) {
    finish(absl::OkStatus());
  } else {
    transport_->Post(std::move(ops), absl::Now() + absl::Milliseconds(options_.transfer_timeout_ms),
                     std::move(finish));
  }
  return true;
}

}  // namespace strata
