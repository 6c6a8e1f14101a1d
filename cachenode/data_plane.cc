#include "cachenode/data_plane.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "cachenode/node_core.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "proto/convert.h"
#include "transfer/ucx_transport.h"

namespace strata {
namespace {

using transfer::OpKind;
using transfer::TransferOp;

constexpr uint64_t kStagingPage = 64 << 10;
constexpr absl::Duration kSweepEvery = absl::Milliseconds(200);

std::string Item(size_t i, std::string_view member) {
  return absl::StrCat("items[", i, "].", AsAbsl(member));
}

bool FaultsOn(const transfer::FaultPolicy& f) {
  return f.fail_probability > 0 || f.drop_probability > 0 || f.delay_probability > 0 ||
         f.disconnect_probability > 0;
}

}  // namespace

DataPlane::DataPlane(const DataPlaneOptions& options, TieredStore* store, const DramRegion& pool)
    : options_(options),
      store_(store),
      pool_(pool),
      staging_pages_(std::max<uint64_t>(1, options.staging_bytes / kStagingPage)) {}

absl::StatusOr<std::unique_ptr<DataPlane>> DataPlane::Start(const DataPlaneOptions& options,
                                                            TieredStore* store,
                                                            const DramRegion& pool, bool loopback) {
  std::unique_ptr<DataPlane> plane(new DataPlane(options, store, pool));
  STRATA_RETURN_IF_ERROR(plane->Init(loopback));
  return plane;
}

absl::Status DataPlane::Init(bool loopback) {
  transfer::UcxTransportOptions uo;
  uo.name = "strata-node";
  // shm: shared memory only. With tcp also allowed, UCX 1.13 would give every endpoint that asks
  // for peer-failure handling a tcp lane, so shared memory would never be used.
  uo.ucx_config.push_back({"TLS", options_.tls == "shm" ? "sm" : "tcp"});
  if (loopback) uo.ucx_config.push_back({"NET_DEVICES", "lo"});
  uo.allow_endpoints_without_peer_error_handling = options_.tls == "shm";
  uo.sync_call_timeout = absl::Seconds(5);
  uo.progress_mode = options_.progress == "busy"
                         ? transfer::UcxTransportOptions::ProgressMode::kBusyPoll
                         : transfer::UcxTransportOptions::ProgressMode::kEvent;
  auto ucx = transfer::UcxTransport::Create(uo);
  if (!ucx.ok()) {
    return absl::Status(ucx.status().code(),
                        absl::StrCat("data plane: UCX: ", ucx.status().message()));
  }
  ucx_ = *std::move(ucx);
  transport_ = ucx_.get();
  if (FaultsOn(options_.fault)) {
    fault_ = std::make_unique<transfer::FaultTransport>(ucx_.get(), options_.fault);
    transport_ = fault_.get();
  }
  STRATA_ASSIGN_OR_RETURN(transfer::LocalRegion pool_region,
                          transport_->RegisterMemory(pool_.data(), pool_.size()));
  pool_region_ = pool_region.id;
  uint64_t staging_pages = 0;
  {
    absl::MutexLock lock(&staging_mu_);
    staging_pages = staging_pages_.total_pages();
  }
  STRATA_ASSIGN_OR_RETURN(staging_, DramRegion::Map(staging_pages * kStagingPage));
  STRATA_ASSIGN_OR_RETURN(transfer::LocalRegion staging_region,
                          transport_->RegisterMemory(staging_->data(), staging_->size()));
  staging_region_ = staging_region.id;
  sweeper_ = std::thread([this] { SweepLoop(); });
  return absl::OkStatus();
}

DataPlane::~DataPlane() {
  // Init may have failed before the transport existed (a node then runs without a data plane).
  if (transport_ != nullptr) transport_->SetMessageHandler(nullptr);
  std::vector<uint64_t> ids;
  {
    // New Hellos are refused; calls in flight finish by their deadline, releasing their pins and
    // staging pages.
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& [id, s] : sessions_) {
        if (s.in_flight > 0) return false;
      }
      return true;
    };
    mu_.AwaitWithTimeout(absl::Condition(&idle),
                         absl::Milliseconds(options_.transfer_timeout_ms) + absl::Seconds(1));
    for (const auto& [id, s] : sessions_) ids.push_back(id);
  }
  if (sweeper_.joinable()) sweeper_.join();
  for (uint64_t id : ids) Drop(id, /*counted=*/false);
  fault_.reset();
  ucx_.reset();  // fails what is left, unmaps the regions
}

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

template <typename Items, typename Length>
absl::StatusOr<DataPlane::Region> DataPlane::Begin(uint64_t session_id, std::string_view ns,
                                                   uint64_t region_id, const Items& items,
                                                   Length length) {
  absl::MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(Session * s, FindLocked(session_id));
  STRATA_RETURN_IF_ERROR(AuthorizeLocked(*s, ns));
  auto r = s->regions.find(region_id);
  if (r == s->regions.end()) {
    return absl::InvalidArgumentError(absl::StrCat("region_id: ", region_id, " is not registered"));
  }
  for (int i = 0; i < items.size(); ++i) {
    STRATA_RETURN_IF_ERROR(transfer::CheckRange(items[i].offset(), length(items[i]),
                                                r->second.length, Item(i, "offset")));
  }
  ++s->in_flight;
  s->last_used = absl::Now();
  return r->second;
}

absl::StatusOr<DataPlane::Region> DataPlane::BeginGetInto(const v1::GetIntoRequest& request) {
  return Begin(request.session_id(), request.namespace_(), request.region_id(), request.items(),
               [](const v1::GetIntoItem& item) { return item.capacity(); });
}

void DataPlane::Release(uint64_t session_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Session*> s = FindLocked(session_id);
  if (!s.ok()) return;  // dropped meanwhile
  --(*s)->in_flight;
  (*s)->last_used = absl::Now();
}

absl::StatusOr<std::optional<DataPlane::Staged>> DataPlane::Stage(uint64_t bytes, bool wait,
                                                                  absl::Time deadline) {
  const uint64_t pages = std::max<uint64_t>(1, (bytes + kStagingPage - 1) / kStagingPage);
  absl::MutexLock lock(&staging_mu_);
  if (pages > staging_pages_.total_pages()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("block of ", bytes, " bytes exceeds the data plane's staging area (",
                     staging_->size(), " bytes; data_plane.staging_bytes)"));
  }
  while (true) {
    if (std::optional<uint64_t> first = staging_pages_.Allocate(pages)) {
      const uint64_t offset = *first * kStagingPage;
      return std::optional<Staged>(Staged{*first, pages, staging_->data() + offset, offset});
    }
    if (!wait) return std::optional<Staged>();
    if (staging_freed_.WaitWithDeadline(&staging_mu_, deadline)) {
      return absl::ResourceExhaustedError("data plane staging area busy until the deadline");
    }
  }
}

void DataPlane::Unstage(const Staged& staged) {
  absl::MutexLock lock(&staging_mu_);
  staging_pages_.Free(staged.first_page, staged.pages);
  staging_freed_.SignalAll();
}

std::optional<TieredStore::Reservation> DataPlane::ReserveInPool(const std::string& ns,
                                                                 const v1::PutFromItem& item) {
  // Within the budget: reserved bytes in flight stay under staging_bytes, as staged bytes do.
  uint64_t held = reserved_bytes_.load();
  do {
    if (held + item.size() > options_.staging_bytes) return std::nullopt;
  } while (!reserved_bytes_.compare_exchange_weak(held, held + item.size()));
  absl::StatusOr<TieredStore::Reservation> r = store_->Reserve(ns, item.key(), item.size());
  if (r.ok() && r->data >= pool_.data() && r->data + r->size <= pool_.data() + pool_.size()) {
    return *std::move(r);
  }
  if (r.ok()) store_->AbortReserved(*r);  // not in the registered pool (another first tier)
  reserved_bytes_.fetch_sub(item.size());
  return std::nullopt;
}

absl::Status DataPlane::Transfer(uint64_t session_id, std::vector<TransferOp> ops) {
  if (ops.empty()) return absl::OkStatus();
  absl::Status st =
      transport_->Run(std::move(ops), absl::Milliseconds(options_.transfer_timeout_ms));
  if (st.ok()) return st;
  failed_batches_.fetch_add(1);
  // The endpoint is failed (or its generation gone): the session's keys are useless now.
  Drop(session_id, /*counted=*/true);
  return absl::UnavailableError(absl::StrCat("transfer failed: ", st.message()));
}

absl::StatusOr<std::string_view> DataPlane::ReadForSend(const std::string& ns,
                                                        const v1::GetIntoItem& item,
                                                        v1::GetIntoResult* out,
                                                        std::optional<BlockPin>* pin,
                                                        std::string* copy) {
  std::string_view bytes;
  absl::StatusOr<BlockPin> pinned = store_->Pin(ns, item.key());
  if (pinned.ok()) {
    *pin = *pinned;
    bytes = pinned->bytes;
    LayoutToProto(pinned->record.layout, out->mutable_layout());
    out->set_tier(std::string(pinned->tier));
  } else if (absl::IsFailedPrecondition(pinned.status()) && copy != nullptr) {
    // Not readable in place (SSD, encoded): the store reads, verifies and decodes a copy.
    STRATA_RETURN_IF_ERROR(store_->Get(ns, item.key(), [&](const BlockView& v) {
      copy->assign(v.payload);
      LayoutToProto(v.record.layout, out->mutable_layout());
      out->set_tier(std::string(v.tier));
    }));
    bytes = *copy;
  } else {
    return pinned.status();
  }
  out->set_size(bytes.size());
  if (bytes.size() > item.capacity()) {
    if (pin->has_value()) store_->Unpin(**pin);
    pin->reset();
    return absl::OutOfRangeError(absl::StrCat("block is ", bytes.size(), " bytes, capacity ",
                                              item.capacity(), " at offset ", item.offset()));
  }
  return bytes;
}

absl::Status DataPlane::GetInto(const v1::GetIntoRequest& request, v1::GetIntoResponse* response) {
  const uint64_t session = request.session_id();
  STRATA_ASSIGN_OR_RETURN(Region region, BeginGetInto(request));
  absl::Cleanup release = [&] { Release(session); };
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.transfer_timeout_ms);
  const size_t n = request.items_size();
  std::vector<absl::Status> results(n);
  for (size_t i = 0; i < n; ++i) response->add_items();

  // Rounds: as many keys as the staging area takes without waiting; a round that needs staging
  // and holds none waits for it, so two calls never wait on each other's pages. A key that did
  // not fit keeps its copy for the next round (it is read once).
  std::string copy;
  bool next_copied = false;
  size_t next = 0;
  while (next < n) {
    std::vector<TransferOp> ops;
    std::vector<BlockPin> pins;
    std::vector<Staged> staged;
    std::vector<size_t> moving;  // items whose bytes this round sends
    for (; next < n; ++next) {
      const v1::GetIntoItem& item = request.items(next);
      std::optional<BlockPin> pin;
      std::string_view bytes = copy;
      if (!next_copied) {
        absl::StatusOr<std::string_view> read =
            ReadForSend(request.namespace_(), item, response->mutable_items(next), &pin, &copy);
        if (!read.ok()) {
          results[next] = read.status();
          continue;
        }
        bytes = *read;
      }
      next_copied = false;
      if (bytes.empty()) {  // nothing to move (Put refuses empty payloads; kept for safety)
        if (pin.has_value()) store_->Unpin(*pin);
        continue;
      }
      uint64_t local_region = pool_region_;
      uint64_t local_offset = 0;
      if (pin.has_value()) {
        pins.push_back(*pin);
        local_offset = static_cast<uint64_t>(bytes.data() - pool_.data());
      } else {
        absl::StatusOr<std::optional<Staged>> s = Stage(bytes.size(), ops.empty(), deadline);
        if (!s.ok()) {
          results[next] = s.status();
          continue;
        }
        if (!s->has_value()) {  // send this round first; this key goes first in the next
          next_copied = true;
          break;
        }
        std::memcpy((*s)->data, bytes.data(), bytes.size());
        staged.push_back(**s);
        local_region = staging_region_;
        local_offset = (*s)->offset;
      }
      ops.push_back(TransferOp{OpKind::kPut, local_region, local_offset, region.handle,
                               item.offset(), bytes.size()});
      moving.push_back(next);
    }
    absl::Status moved = Transfer(session, std::move(ops));
    for (const BlockPin& p : pins) store_->Unpin(p);
    for (const Staged& s : staged) Unstage(s);
    for (size_t i : moving) {
      if (moved.ok()) {
        get_bytes_.fetch_add(response->items(i).size());
      } else {
        results[i] = moved;
      }
    }
    if (!moved.ok()) {
      // The session is gone: every key not yet sent fails the same way.
      for (; next < n; ++next) results[next] = moved;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    StatusToKeyResult(results[i], response->mutable_items(i)->mutable_result());
  }
  return CallStatusFromResults(results);
}

absl::Status DataPlane::PutFrom(const v1::PutFromRequest& request,
                                const std::vector<BlockLayout>& layouts,
                                v1::PutFromResponse* response) {
  const uint64_t session = request.session_id();
  STRATA_ASSIGN_OR_RETURN(Region region,
                          Begin(session, request.namespace_(), request.region_id(), request.items(),
                                [](const v1::PutFromItem& item) { return item.size(); }));
  absl::Cleanup release = [&] { Release(session); };
  const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.transfer_timeout_ms);
  const std::string& ns = request.namespace_();
  const size_t n = request.items_size();
  std::vector<absl::Status> results(n);
  // Each block is read straight into room reserved in the DRAM tier (committed once its
  // checksum matches: no staging, no copy), or -- when the tier would not hold it plain (a codec
  // for the namespace, a block larger than the tier), when reserved bytes in flight would pass
  // staging_bytes, or when the tier has no room now -- into staging, then Put.
  auto verify = [&](size_t i, std::string_view bytes) -> absl::StatusOr<uint64_t> {
    put_bytes_.fetch_add(bytes.size());
    const uint64_t checksum = BlockChecksum(bytes);
    if (checksum != request.items(i).checksum()) {
      return absl::DataLossError(absl::StrCat(
          Item(i, "checksum"), ": the bytes read from the client do not match it; not stored"));
    }
    return checksum;
  };
  size_t next = 0;
  while (next < n) {
    std::vector<TransferOp> ops;
    std::vector<std::pair<size_t, Staged>> staged;
    std::vector<std::pair<size_t, TieredStore::Reservation>> reserved;
    for (; next < n; ++next) {
      const v1::PutFromItem& item = request.items(next);
      std::optional<TieredStore::Reservation> r = ReserveInPool(ns, item);
      if (r.has_value()) {
        ops.push_back(TransferOp{OpKind::kGet, pool_region_,
                                 static_cast<uint64_t>(r->data - pool_.data()), region.handle,
                                 item.offset(), item.size()});
        reserved.push_back({next, *std::move(r)});
        continue;
      }
      // No room reserved (the tier stores it encoded, or over budget, or full of pinned blocks
      // now): through staging, Put after the transfer, as it would be without reservations.
      absl::StatusOr<std::optional<Staged>> s = Stage(item.size(), ops.empty(), deadline);
      if (!s.ok()) {
        results[next] = s.status();
        continue;
      }
      if (!s->has_value()) break;
      staged.push_back({next, **s});
      ops.push_back(TransferOp{OpKind::kGet, staging_region_, (*s)->offset, region.handle,
                               item.offset(), item.size()});
    }
    absl::Status moved = Transfer(session, std::move(ops));
    for (const auto& [i, r] : reserved) {
      absl::StatusOr<uint64_t> checksum = moved.ok() ? verify(i, std::string_view(r.data, r.size))
                                                     : absl::StatusOr<uint64_t>(moved);
      if (checksum.ok()) {
        const v1::PutFromItem& item = request.items(i);
        store_->CommitReserved(r, ns, item.parent(), layouts[i], *checksum);
      } else {
        store_->AbortReserved(r);
        results[i] = checksum.status();
      }
      reserved_bytes_.fetch_sub(r.size);
    }
    for (const auto& [i, s] : staged) {
      const v1::PutFromItem& item = request.items(i);
      const std::string_view bytes(s.data, item.size());
      absl::StatusOr<uint64_t> checksum =
          moved.ok() ? verify(i, bytes) : absl::StatusOr<uint64_t>(moved);
      results[i] = checksum.ok()
                       ? store_->Put(ns, item.key(), item.parent(), layouts[i], bytes, *checksum)
                       : checksum.status();
      Unstage(s);
    }
    if (!moved.ok()) {
      for (; next < n; ++next) results[next] = moved;
    }
  }
  for (size_t i = 0; i < n; ++i) StatusToKeyResult(results[i], response->add_results());
  return CallStatusFromResults(results);
}

DataPlaneStats DataPlane::Stats() const {
  DataPlaneStats st;
  {
    absl::MutexLock lock(&mu_);
    st.sessions = sessions_.size();
    for (const auto& [id, s] : sessions_) st.regions += s.regions.size();
  }
  st.get_bytes = get_bytes_.load();
  st.put_bytes = put_bytes_.load();
  st.failed_batches = failed_batches_.load();
  st.sessions_dropped = dropped_.load();
  return st;
}

std::string DataPlane::Describe() const {
  std::string s = absl::StrCat("ucx ", options_.tls, ", staging ", staging_->size() >> 20, " MiB");
  if (fault_) absl::StrAppend(&s, ", fault injection on");
  return s;
}

}  // namespace strata
