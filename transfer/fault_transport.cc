#include "transfer/fault_transport.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace strata::transfer {

FaultTransport::FaultTransport(Transport* inner, FaultPolicy policy)
    : inner_(inner), policy_(policy), rng_(policy.seed) {
  timer_ = std::thread([this] { TimerLoop(); });
}

FaultTransport::~FaultTransport() {
  std::multimap<absl::Time, Held> held;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    held.swap(held_);
  }
  timer_.join();
  for (auto& [when, h] : held) {
    h.done(absl::UnavailableError("fault transport: shut down while the batch was held"));
  }
}

void FaultTransport::SetPolicy(FaultPolicy policy) {
  absl::MutexLock lock(&mu_);
  policy_ = policy;
  rng_.seed(policy.seed);
}

FaultTransport::Stats FaultTransport::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

FaultTransport::Fault FaultTransport::Draw() {
  absl::MutexLock lock(&mu_);
  const double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  double edge = policy_.fail_probability;
  if (r < edge) return Fault::kFail;
  edge += policy_.drop_probability;
  if (r < edge) return Fault::kDrop;
  edge += policy_.delay_probability;
  if (r < edge) return Fault::kDelay;
  edge += policy_.disconnect_probability;
  if (r < edge) return Fault::kDisconnect;
  return Fault::kNone;
}

void FaultTransport::Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) {
  const Fault fault = ops.empty() ? Fault::kNone : Draw();
  switch (fault) {
    case Fault::kNone: {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.passed;
      }
      inner_->Post(std::move(ops), deadline, std::move(done));
      return;
    }
    case Fault::kFail: {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.failed;
      }
      done(absl::UnavailableError("fault transport: injected failure"));
      return;
    }
    case Fault::kDrop:
    case Fault::kDelay: {
      absl::MutexLock lock(&mu_);
      const bool drop = fault == Fault::kDrop;
      ++(drop ? stats_.dropped : stats_.delayed);
      const absl::Time when = drop ? deadline : absl::Now() + policy_.delay;
      held_.emplace(when, Held{!drop, std::move(ops), deadline, std::move(done)});
      return;
    }
    case Fault::kDisconnect: {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.disconnected;
      }
      const RemoteRegionHandle& r = ops.front().remote_region;
      // The inner transport now fails this batch (and the generation) with UNAVAILABLE. An error
      // here only means the peer was already gone, which gives the same outcome.
      inner_->Disconnect(PeerHandle{r.peer, r.generation}).IgnoreError();
      inner_->Post(std::move(ops), deadline, std::move(done));
      return;
    }
  }
}

void FaultTransport::TimerLoop() {
  for (;;) {
    std::vector<Held> due;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // Bounded wait: wakes at least every 5 ms to release due batches and notice stopping_.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(5));
      if (stopping_) return;
      const absl::Time now = absl::Now();
      while (!held_.empty() && held_.begin()->first <= now) {
        due.push_back(std::move(held_.begin()->second));
        held_.erase(held_.begin());
      }
    }
    for (Held& h : due) {
      if (h.post && absl::Now() < h.deadline) {
        inner_->Post(std::move(h.ops), h.deadline, std::move(h.done));
      } else {
        h.done(absl::UnavailableError(h.post ? "fault transport: delayed past the deadline"
                                             : "fault transport: batch dropped"));
      }
    }
  }
}

Capabilities FaultTransport::GetCapabilities() const {
  Capabilities caps = inner_->GetCapabilities();
  caps.name = absl::StrCat("fault(", caps.name, ")");
  return caps;
}

std::string FaultTransport::LocalAddress() const { return inner_->LocalAddress(); }

absl::StatusOr<LocalRegion> FaultTransport::RegisterMemory(void* base, size_t length) {
  return inner_->RegisterMemory(base, length);
}

absl::Status FaultTransport::DeregisterMemory(RegionId id) { return inner_->DeregisterMemory(id); }

absl::StatusOr<PeerHandle> FaultTransport::Connect(std::string_view name,
                                                   std::string_view address) {
  return inner_->Connect(name, address);
}

absl::Status FaultTransport::Disconnect(const PeerHandle& peer) { return inner_->Disconnect(peer); }

absl::StatusOr<PeerInfo> FaultTransport::DescribePeer(const PeerHandle& peer) {
  return inner_->DescribePeer(peer);
}

absl::StatusOr<RemoteRegionHandle> FaultTransport::AddRemoteRegion(const PeerHandle& peer,
                                                                   const RegionDescriptor& region) {
  return inner_->AddRemoteRegion(peer, region);
}

absl::Status FaultTransport::RemoveRemoteRegion(const RemoteRegionHandle& region) {
  return inner_->RemoveRemoteRegion(region);
}

void FaultTransport::SetMessageHandler(MessageHandler handler) {
  inner_->SetMessageHandler(std::move(handler));
}

void FaultTransport::SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                                 DoneCallback done) {
  inner_->SendMessage(peer, std::move(message), deadline, std::move(done));
}

}  // namespace strata::transfer
