#include "cachenode/node_core.h"

#include <cmath>
#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/validation.h"
#include "proto/convert.h"

namespace strata {
namespace {

constexpr char kVersion[] = "0.1.0";

std::string Field(std::string_view base, size_t i, std::string_view member = "") {
  return absl::StrCat(AsAbsl(base), "[", i, "]", member.empty() ? "" : ".", AsAbsl(member));
}

}  // namespace

absl::Status CallStatusFromResults(const std::vector<absl::Status>& per_key) {
  if (per_key.empty()) return absl::OkStatus();
  const absl::StatusCode first = per_key[0].code();
  if (first == absl::StatusCode::kOk || first == absl::StatusCode::kNotFound) {
    return absl::OkStatus();
  }
  for (const absl::Status& s : per_key) {
    if (s.code() != first) return absl::OkStatus();
  }
  if (per_key.size() == 1) return per_key[0];
  return absl::Status(first,
                      absl::StrCat("all ", per_key.size(), " keys failed: ", per_key[0].message()));
}

NodeCore::NodeCore(TieredStore* store, const NodeOptions& options,
                   std::vector<AbsentTier> absent_tiers)
    : store_(store),
      options_(options),
      absent_tiers_(std::move(absent_tiers)),
      started_(std::chrono::steady_clock::now()),
      node_id_(options.node_id.empty() ? options.listen : options.node_id),
      listen_(options.listen),
      budget_(options.EffectiveInflightBytes()) {}

bool NodeCore::BeginCall() {
  in_flight_.fetch_add(1);
  if (draining_.load()) {
    in_flight_.fetch_sub(1);
    return false;
  }
  return true;
}

void NodeCore::EndCall() { in_flight_.fetch_sub(1); }

int NodeCore::Drain(uint32_t grace_ms) {
  draining_.store(true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return in_flight_.load();
}

absl::Status NodeCore::WithQuotaHint(absl::Status status) const {
  if (quotas_ == nullptr || !absl::IsResourceExhausted(status) || RetryAfterMs(status)) {
    return status;
  }
  return WithRetryAfter(status, kQuotaRetryAfterMs);
}

absl::Status NodeCore::Reject(absl::Status status) {
  if (absl::IsInvalidArgument(status)) rejected_.fetch_add(1);
  return status;
}

absl::Status NodeCore::ValidateKeys(const std::string& ns,
                                    const google::protobuf::RepeatedPtrField<std::string>& keys) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  STRATA_RETURN_IF_ERROR(ValidateBatchSize(keys.size(), options_.limits, "keys"));
  for (int i = 0; i < keys.size(); ++i) {
    STRATA_RETURN_IF_ERROR(ValidateKey(keys[i], options_.limits, Field("keys", i)));
  }
  return absl::OkStatus();
}

absl::Status NodeCore::ValidateBlock(size_t i, const std::string& key, const std::string& parent,
                                     const v1::BlockLayout& layout_proto, uint64_t size,
                                     std::string_view size_field, BlockLayout* layout) const {
  STRATA_RETURN_IF_ERROR(ValidateKey(key, options_.limits, Field("items", i, "key")));
  if (!parent.empty()) {
    STRATA_RETURN_IF_ERROR(ValidateKey(parent, options_.limits, Field("items", i, "parent")));
    if (parent == key) {
      return absl::InvalidArgumentError(
          absl::StrCat(Field("items", i, "parent"), ": a block cannot be its own parent"));
    }
  }
  STRATA_RETURN_IF_ERROR(ValidatePayloadSize(size, options_.limits, Field("items", i, size_field)));
  const std::string layout_field = Field("items", i, "layout");
  STRATA_ASSIGN_OR_RETURN(*layout, LayoutFromProto(layout_proto, layout_field));
  return layout->Validate(size, layout_field);
}

absl::Status NodeCore::Put(const v1::PutRequest& request, v1::PutResponse* response,
                           InflightBudget::Reservation* held) {
  // Validate everything first: a bad request stores nothing.
  std::vector<BlockLayout> layouts(request.items_size());
  absl::Status valid = [&]() -> absl::Status {
    STRATA_RETURN_IF_ERROR(ValidateNamespace(request.namespace_(), "namespace"));
    STRATA_RETURN_IF_ERROR(ValidateBatchSize(request.items_size(), options_.limits, "items"));
    for (int i = 0; i < request.items_size(); ++i) {
      const v1::PutItem& item = request.items(i);
      STRATA_RETURN_IF_ERROR(ValidateBlock(i, item.key(), item.parent(), item.layout(),
                                           item.payload().size(), "payload", &layouts[i]));
      if (item.scores_size() == 0) continue;
      const std::span<const float> scores(item.scores().data(), item.scores_size());
      if (views_ == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            Field("items", i, "scores"),
            ": this node keeps no pruned views (pruned_views), so it takes no scores"));
      }
      STRATA_RETURN_IF_ERROR(views_->ValidatePut(request.namespace_(), layouts[i],
                                                 item.payload().size(), scores,
                                                 Field("items", i, "scores")));
    }
    return absl::OkStatus();
  }();
  if (!valid.ok()) return Reject(valid);
  InflightBudget::Reservation local = budget_.NewReservation();
  InflightBudget::Reservation* reservation = held != nullptr ? held : &local;
  {
    uint64_t bytes = 0;
    for (const v1::PutItem& item : request.items()) bytes += item.payload().size();
    // gRPC holds the request already; refusing it frees it as soon as the call ends, before
    // any tier copy is made.
    STRATA_RETURN_IF_ERROR(reservation->Grow(bytes));
  }

  std::vector<absl::Status> results;
  results.reserve(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::PutItem& item = request.items(i);
    if (views_ != nullptr) {
      results.push_back(
          views_->Put(request.namespace_(), item.key(), item.parent(), layouts[i], item.payload(),
                      std::span<const float>(item.scores().data(), item.scores_size())));
    } else {
      results.push_back(
          store_->Put(request.namespace_(), item.key(), item.parent(), layouts[i], item.payload()));
    }
    StatusToKeyResult(results.back(), response->add_results());
  }
  return WithQuotaHint(CallStatusFromResults(results));
}

absl::Status NodeCore::Get(const v1::GetRequest& request, v1::GetResponse* response,
                           InflightBudget::Reservation* held) {
  if (absl::Status st = ValidateKeys(request.namespace_(), request.keys()); !st.ok()) {
    return Reject(st);
  }
  InflightBudget::Reservation local = budget_.NewReservation();
  InflightBudget::Reservation* reservation = held != nullptr ? held : &local;
  // A response must fit one gRPC message: keys past the budget are answered RESOURCE_EXHAUSTED
  // so the caller fetches them in a smaller batch.
  uint64_t budget = options_.EffectiveMaxMessageBytes() - kMessageOverheadBytes;
  std::vector<absl::Status> results;
  for (const std::string& key : request.keys()) {
    v1::GetItem* item = response->add_items();
    budget -= std::min(budget, kItemOverheadBytes);
    absl::Status over_inflight;
    const auto sink = [&](const BlockView& v) {
      if (v.payload.size() > budget) return;
      // Counted before the copy: a response never grows past the node's budget.
      over_inflight = reservation->Grow(v.payload.size());
      if (!over_inflight.ok()) return;
      budget -= v.payload.size();
      item->set_payload(v.payload.data(), v.payload.size());
      LayoutToProto(v.record.layout, item->mutable_layout());
      item->set_tier(v.tier.data(), v.tier.size());
      if (v.encoded) {
        item->set_codec(v.record.codec_id);
        item->set_checksum(v.record.checksum);
        item->set_payload_bytes(v.record.payload_bytes);
      }
    };
    absl::Status st;
    if (request.view() && views_ != nullptr) {
      absl::StatusOr<PrunedViews::Served> served =
          views_->GetPreferView(request.namespace_(), key, sink, request.accept_encoded());
      st = served.status();
      if (served.ok()) item->set_view(*served == PrunedViews::Served::kView);
    } else {
      st = store_->Get(request.namespace_(), key, sink, request.accept_encoded());
    }
    if (st.ok() && !over_inflight.ok()) {
      st = over_inflight;
    } else if (st.ok() && item->payload().empty()) {
      st = absl::ResourceExhaustedError(
          "response size limit reached (limits.max_message); fetch this key in a smaller batch");
    }
    StatusToKeyResult(st, item->mutable_result());
    results.push_back(std::move(st));
  }
  return CallStatusFromResults(results);
}

absl::Status NodeCore::RequireDataPlane() const {
  if (data_plane_ != nullptr) return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat("this node runs without a data plane (",
                                               AsAbsl(data_plane_detail_), "): use Get and Put"));
}

absl::Status NodeCore::Hello(const v1::HelloRequest& request, v1::HelloResponse* response,
                             const Access& access) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  if (request.client_name().size() > 256) {
    return Reject(absl::InvalidArgumentError("client_name: longer than 256 bytes"));
  }
  std::optional<TokenDigest> owner;
  if (access.entry() != nullptr) owner = access.entry()->digest;
  return data_plane_->Hello(request, response, owner);
}

absl::Status NodeCore::CheckSessionOwner(uint64_t session_id, const Access& access) const {
  if (data_plane_ == nullptr || access.entry() == nullptr) return absl::OkStatus();
  return data_plane_->CheckOwner(session_id, access.entry()->digest);
}

absl::Status NodeCore::RegisterRegion(const v1::RegisterRegionRequest& request,
                                      v1::RegisterRegionResponse* response) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  absl::Status st = data_plane_->RegisterRegion(request, response);
  return absl::IsInvalidArgument(st) ? Reject(st) : st;
}

absl::Status NodeCore::DeregisterRegion(const v1::DeregisterRegionRequest& request) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  return data_plane_->DeregisterRegion(request);
}

absl::Status NodeCore::Goodbye(const v1::GoodbyeRequest& request) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  return data_plane_->Goodbye(request);
}

absl::Status NodeCore::ValidateGetInto(const v1::GetIntoRequest& request) const {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(request.namespace_(), "namespace"));
  STRATA_RETURN_IF_ERROR(ValidateBatchSize(request.items_size(), options_.limits, "items"));
  for (int i = 0; i < request.items_size(); ++i) {
    STRATA_RETURN_IF_ERROR(
        ValidateKey(request.items(i).key(), options_.limits, Field("items", i, "key")));
  }
  return absl::OkStatus();
}

absl::Status NodeCore::GetInto(const v1::GetIntoRequest& request, v1::GetIntoResponse* response) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  if (absl::Status valid = ValidateGetInto(request); !valid.ok()) return Reject(valid);
  absl::Status st = data_plane_->GetInto(request, response);
  return absl::IsInvalidArgument(st) ? Reject(st) : st;
}

bool NodeCore::TryGetIntoInline(const v1::GetIntoRequest& request, DataPlane::GetIntoDone done) {
  if (data_plane_ == nullptr) {
    done(RequireDataPlane(), v1::GetIntoResponse());
    return true;
  }
  if (!BeginCall()) {
    done(absl::UnavailableError("node is shutting down"), v1::GetIntoResponse());
    return true;
  }
  if (absl::Status valid = ValidateGetInto(request); !valid.ok()) {
    EndCall();
    done(Reject(valid), v1::GetIntoResponse());
    return true;
  }
  const bool started = data_plane_->TryGetIntoInline(
      request, [this, done = std::move(done)](absl::Status st, v1::GetIntoResponse response) {
        EndCall();
        done(absl::IsInvalidArgument(st) ? Reject(st) : st, std::move(response));
      });
  if (started) {
    inline_calls_.fetch_add(1);
  } else {
    EndCall();
  }
  return started;
}

absl::Status NodeCore::PutFrom(const v1::PutFromRequest& request, v1::PutFromResponse* response) {
  STRATA_RETURN_IF_ERROR(RequireDataPlane());
  std::vector<BlockLayout> layouts(request.items_size());
  absl::Status valid = [&]() -> absl::Status {
    STRATA_RETURN_IF_ERROR(ValidateNamespace(request.namespace_(), "namespace"));
    STRATA_RETURN_IF_ERROR(ValidateBatchSize(request.items_size(), options_.limits, "items"));
    for (int i = 0; i < request.items_size(); ++i) {
      const v1::PutFromItem& item = request.items(i);
      STRATA_RETURN_IF_ERROR(ValidateBlock(i, item.key(), item.parent(), item.layout(), item.size(),
                                           "size", &layouts[i]));
    }
    return absl::OkStatus();
  }();
  if (!valid.ok()) return Reject(valid);
  // PutFrom stores the full block only (no scores, no view): a view of the block it replaces
  // must not outlive it.
  if (views_ != nullptr) {
    for (const v1::PutFromItem& item : request.items()) {
      views_->DropView(request.namespace_(), item.key());
    }
  }
  absl::Status st = data_plane_->PutFrom(request, layouts, response);
  return absl::IsInvalidArgument(st) ? Reject(st) : WithQuotaHint(st);
}

absl::Status NodeCore::Exists(const v1::ExistsRequest& request, v1::ExistsResponse* response) {
  if (absl::Status st = ValidateKeys(request.namespace_(), request.keys()); !st.ok()) {
    return Reject(st);
  }
  for (const std::string& key : request.keys()) {
    response->add_present(store_->Exists(request.namespace_(), key));
  }
  return absl::OkStatus();
}

absl::Status NodeCore::Remove(const v1::RemoveRequest& request, v1::RemoveResponse* response) {
  if (absl::Status st = ValidateKeys(request.namespace_(), request.keys()); !st.ok()) {
    return Reject(st);
  }
  for (const std::string& key : request.keys()) {
    if (views_ != nullptr) views_->DropView(request.namespace_(), key);
    response->add_removed(store_->Remove(request.namespace_(), key));
  }
  return absl::OkStatus();
}

absl::Status NodeCore::Lookup(const v1::LookupRequest& request, v1::LookupResponse* response) {
  if (absl::Status st = ValidateKeys(request.namespace_(), request.keys()); !st.ok()) {
    return Reject(st);
  }
  const bool rank = request.has_rank() && request.rank().top_n() > 0;
  if (rank) {
    const v1::RankQuery& q = request.rank();
    if (q.query().empty()) return Reject(absl::InvalidArgumentError("rank.query: empty"));
    for (int i = 0; i < q.query_size(); ++i) {
      if (!std::isfinite(q.query(i))) {
        return Reject(absl::InvalidArgumentError(
            absl::StrCat("rank.query[", i, "]: ", q.query(i), " is not finite")));
      }
    }
  }
  std::vector<std::string> keys(request.keys().begin(), request.keys().end());
  const size_t matched = store_->Lookup(request.namespace_(), keys, request.lease_ms());
  response->set_matched(static_cast<uint32_t>(matched));
  if (!rank) return absl::OkStatus();
  if (views_ == nullptr) {
    response->set_unranked(static_cast<uint32_t>(matched));
    return absl::OkStatus();
  }
  const v1::RankQuery& q = request.rank();
  absl::StatusOr<PrunedViews::Ranking> ranking = views_->RankByQuery(
      request.namespace_(), absl::MakeConstSpan(keys).subspan(0, matched), q.layer(), q.head(),
      std::span<const float>(q.query().data(), q.query_size()), q.top_n());
  if (!ranking.ok()) {
    // The leases just taken end with the call that failed.
    if (request.lease_ms() > 0) {
      store_->ReleaseLeases(request.namespace_(), absl::MakeConstSpan(keys).subspan(0, matched));
    }
    return Reject(ranking.status());
  }
  for (size_t i : ranking->indices) response->add_ranked(static_cast<uint32_t>(i));
  for (float b : ranking->bounds) response->add_ranked_bounds(b);
  response->set_unranked(static_cast<uint32_t>(ranking->unranked));
  return absl::OkStatus();
}

void NodeCore::FillTiers(google::protobuf::RepeatedPtrField<v1::TierInfo>* tiers) const {
  const StoreStats stats = store_->Stats();
  // Always every tier, fastest first, so scripts can index by name.
  for (const char* name : {"hbm", "dram", "ssd"}) {
    v1::TierInfo* info = tiers->Add();
    info->set_name(name);
    bool found = false;
    for (size_t t = 0; t < stats.tiers.size(); ++t) {
      if (stats.tiers[t].name != name) continue;
      found = true;
      info->set_available(true);
      info->set_capacity_bytes(stats.tiers[t].capacity_bytes);
      info->set_used_bytes(stats.tiers[t].used_bytes);
      info->set_blocks(stats.tiers[t].blocks);
      info->set_policy(stats.tiers[t].policy);
      info->set_codec(stats.tiers[t].codec);
      if (std::string_view(name) == "ssd") info->set_detail(options_.ssd_dir);
      if (stats.tiers[t].health.degraded) {
        info->set_degraded(true);
        info->set_detail(absl::StrCat(info->detail(), info->detail().empty() ? "" : ": ",
                                      "degraded: ", stats.tiers[t].health.reason));
      }
    }
    if (!found) {
      info->set_available(false);
      for (const AbsentTier& a : absent_tiers_) {
        if (a.name == name) info->set_detail(a.detail);
      }
    }
  }
}

absl::Status NodeCore::NodeInfo(v1::NodeInfoResponse* response) const {
  response->set_node_id(node_id_);
  response->set_version(kVersion);
  response->set_listen(listen_);
  FillTiers(response->mutable_tiers());
  response->set_max_batch(static_cast<uint32_t>(options_.limits.max_batch));
  response->set_max_payload_bytes(options_.limits.max_payload_bytes);
  response->set_max_message_bytes(options_.EffectiveMaxMessageBytes());
  response->set_data_plane(data_plane_ != nullptr);
  response->set_data_plane_detail(data_plane_detail_);
  response->set_uptime_ms(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started_)
                                .count()));
  return absl::OkStatus();
}

absl::Status NodeCore::Stats(v1::StatsResponse* response) const {
  const StoreStats s = store_->Stats();
  FillTiers(response->mutable_tiers());
  response->set_hits(s.hits);
  response->set_misses(s.misses);
  response->set_puts(s.puts);
  response->set_put_bytes(s.put_bytes);
  response->set_get_bytes(s.get_bytes);
  response->set_demotions(s.demotions);
  response->set_promotions(s.promotions);
  response->set_evictions(s.evictions);
  response->set_checksum_failures(s.checksum_failures);
  response->set_removes(s.removes);
  response->set_rejected_requests(rejected_.load());
  response->set_no_space(s.no_space);
  response->set_lookups(s.lookups);
  response->set_dp_pinned_blocks(store_->pinned_blocks());
  if (data_plane_ != nullptr) {
    const DataPlaneStats dp = data_plane_->Stats();
    response->set_dp_sessions(dp.sessions);
    response->set_dp_regions(dp.regions);
    response->set_dp_get_bytes(dp.get_bytes);
    response->set_dp_put_bytes(dp.put_bytes);
    response->set_dp_failed_batches(dp.failed_batches);
    response->set_dp_sessions_dropped(dp.sessions_dropped);
    response->set_dp_message_calls(message_calls_.load());
    response->set_dp_inline_calls(inline_calls_.load());
  }
  for (size_t t = 0; t < s.tiers.size(); ++t) {
    (*response->mutable_hits_by_tier())[s.tiers[t].name] = s.hits_by_tier[t];
  }
  return absl::OkStatus();
}

absl::Status NodeCore::Evict(const v1::EvictRequest& request, v1::EvictResponse* response) {
  if (absl::Status st = ValidateNamespace(request.namespace_(), "namespace"); !st.ok()) {
    return Reject(st);
  }
  // Views and page bounds go too; the counts are the namespace's own blocks.
  if (views_ != nullptr) views_->EvictNamespace(request.namespace_());
  const TieredStore::EvictResult r = store_->EvictNamespace(request.namespace_());
  response->set_blocks(r.blocks);
  response->set_bytes(r.bytes);
  return absl::OkStatus();
}

}  // namespace strata
