// DataPlane's session table (data_plane.h): Hello opens a session bound to the caller's token,
// regions are registered and deregistered in it, calls Begin and Release it, Goodbye and the
// sweeper (idle sessions, dead peers) Drop it.
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "cachenode/data_plane.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "transfer/ucx_transport.h"

namespace strata {
namespace {

constexpr absl::Duration kSweepEvery = absl::Milliseconds(200);

}  // namespace

void DataPlane::SweepLoop() {
  absl::MutexLock lock(&mu_);
  absl::Time last_sweep = absl::Now();
  while (!stopping_) {
    auto wake = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || SweeperHasWork(); };
    mu_.AwaitWithTimeout(absl::Condition(&wake), kSweepEvery);
    if (stopping_) break;
    RunSweeperWork();  // releases mu_ while it calls the transport
    if (stopping_) break;
    const absl::Time now = absl::Now();
    if (now - last_sweep < kSweepEvery) continue;
    last_sweep = now;
    std::vector<uint64_t> stale;
    std::vector<std::pair<uint64_t, transfer::PeerHandle>> check;
    for (const auto& [id, s] : sessions_) {
      if (s.in_flight > 0) continue;
      if (now - s.last_used > absl::Milliseconds(options_.session_idle_ms)) {
        stale.push_back(id);
      } else {
        check.push_back({id, s.peer});
      }
    }
    mu_.Unlock();
    for (const auto& [id, peer] : check) {
      auto info = ucx_->DescribePeer(peer);
      if (!info.ok() || info->failed) stale.push_back(id);
    }
    for (uint64_t id : stale) Drop(id, /*counted=*/true);
    SweepControls();
    mu_.Lock();
  }
}

void DataPlane::Drop(uint64_t session_id, bool counted, bool goodbye) {
  Session session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    session = std::move(it->second);
    sessions_.erase(it);
  }
  for (const auto& [id, region] : session.regions) {
    (void)transport_->RemoveRemoteRegion(region.handle);
  }
  (void)transport_->Disconnect(session.peer);
  if (!session.control_address.empty()) DetachControl(session.control_address, goodbye);
  if (counted) dropped_.fetch_add(1);
}

absl::Status DataPlane::Hello(const v1::HelloRequest& request, v1::HelloResponse* response,
                              std::optional<TokenDigest> owner) {
  if (request.worker_address().empty()) {
    return absl::InvalidArgumentError("worker_address: empty");
  }
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("node is shutting down");
    // A UCX message call names its session by id alone, so ids are unguessable: 64 random bits
    // each, not a sequence one session's id would reveal the others' from.
    do {
      if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof(id)) != 1) {
        return absl::UnavailableError("data plane: no randomness for a session id");
      }
    } while (id == 0 || sessions_.contains(id));  // (a concurrent Hello drawing the same
                                                  // id meanwhile: odds 2^-64, not handled)
  }
  const std::string name = absl::StrCat("session-", id);
  STRATA_ASSIGN_OR_RETURN(transfer::PeerHandle peer,
                          transport_->Connect(name, request.worker_address()));
  auto info = transport_->DescribePeer(peer);
  std::optional<transfer::PeerHandle> control;
  if (options_.messages && !request.control_address().empty()) {
    control = AttachControl(request.control_address());
  }
  {
    absl::MutexLock lock(&mu_);
    Session& s = sessions_[id];
    s.peer = peer;
    if (control.has_value()) {
      s.control_address = request.control_address();
      s.control = *control;
    }
    s.last_used = absl::Now();
    s.owner = owner;
  }
  response->set_session_id(id);
  response->set_node_address(transport_->LocalAddress());
  response->set_protocol(info.ok() ? transfer::ProtocolName(info->protocol) : "unknown");
  response->set_session_idle_ms(options_.session_idle_ms);
  response->set_max_transfer_bytes(transport_->GetCapabilities().max_message_bytes);
  response->set_control_messages(control.has_value());
  return absl::OkStatus();
}

absl::Status DataPlane::RegisterRegion(const v1::RegisterRegionRequest& request,
                                       v1::RegisterRegionResponse* response) {
  if (request.length() == 0) return absl::InvalidArgumentError("length: 0");
  if (request.packed_rkey().empty()) return absl::InvalidArgumentError("packed_rkey: empty");
  if (request.base() + request.length() < request.base()) {
    return absl::InvalidArgumentError("base + length overflows");
  }
  transfer::PeerHandle peer;
  {
    absl::MutexLock lock(&mu_);
    STRATA_ASSIGN_OR_RETURN(Session * s, FindLocked(request.session_id()));
    peer = s->peer;
  }
  transfer::RegionDescriptor d{request.base(), request.length(), request.packed_rkey()};
  auto handle = transport_->AddRemoteRegion(peer, d);
  if (!handle.ok()) {
    if (absl::IsInvalidArgument(handle.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("packed_rkey: not a key this node can use: ", handle.status().message()));
    }
    return handle.status();
  }
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Session * s, FindLocked(request.session_id()));  // dropped meanwhile
  const uint64_t region_id = s->next_region++;
  s->regions[region_id] = Region{*handle, request.length()};
  s->last_used = absl::Now();
  response->set_region_id(region_id);
  return absl::OkStatus();
}

absl::Status DataPlane::DeregisterRegion(const v1::DeregisterRegionRequest& request) {
  Region region;
  {
    absl::MutexLock lock(&mu_);
    STRATA_ASSIGN_OR_RETURN(Session * s, FindLocked(request.session_id()));
    auto r = s->regions.find(request.region_id());
    if (r == s->regions.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("region_id: ", request.region_id(), " is not registered"));
    }
    region = r->second;
    s->regions.erase(r);
  }
  // Ops already posted against it finish or fail by their deadline; no new op can name it.
  return transport_->RemoveRemoteRegion(region.handle);
}

absl::Status DataPlane::Goodbye(const v1::GoodbyeRequest& request) {
  Drop(request.session_id(), /*counted=*/false, /*goodbye=*/true);
  return absl::OkStatus();
}

absl::StatusOr<DataPlane::Session*> DataPlane::FindLocked(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown data-plane session ", session_id, ": Hello again"));
  }
  return &it->second;
}

absl::Status DataPlane::AuthorizeLocked(const Session& s, std::string_view ns) const {
  if (auth_ == nullptr) return absl::OkStatus();
  if (!s.owner.has_value()) {  // opened before auth was on: never, as auth is set before serving
    return absl::UnauthenticatedError("data-plane session opened without a token: Hello again");
  }
  STRATA_ASSIGN_OR_RETURN(Access access, auth_->Resolve(*s.owner));
  return access.CheckNamespace(ns);
}

absl::Status DataPlane::AuthorizeSession(uint64_t session_id, std::string_view ns) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown data-plane session ", session_id, ": Hello again"));
  }
  return AuthorizeLocked(it->second, ns);
}

absl::Status DataPlane::CheckOwner(uint64_t session_id, const TokenDigest& token) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  if (auth_ == nullptr || it == sessions_.end()) return absl::OkStatus();
  if (it->second.owner.has_value() && DigestsEqual(*it->second.owner, token)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("data-plane session ", session_id, " belongs to another token"));
}

void DataPlane::Release(uint64_t session_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Session*> s = FindLocked(session_id);
  if (!s.ok()) return;  // dropped meanwhile
  --(*s)->in_flight;
  (*s)->last_used = absl::Now();
}

}  // namespace strata
