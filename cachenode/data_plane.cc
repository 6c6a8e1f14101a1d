#include "cachenode/data_plane.h"

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

// The calls' common start (the session table is in data_plane_sessions.cc).
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
