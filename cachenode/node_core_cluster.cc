// NodeCore's calls for operators and the cluster: Inspect, the node's membership record and the
// single-node view.
#include "absl/strings/str_cat.h"
#include "cachenode/node_core.h"
#include "common/validation.h"

namespace strata {

absl::Status NodeCore::Inspect(const v1::InspectRequest& request, v1::InspectResponse* response) {
  if (absl::Status st = ValidateNamespace(request.namespace_(), "namespace"); !st.ok()) {
    return Reject(st);
  }
  if (absl::Status st = ValidateKey(request.key(), options_.limits, "key"); !st.ok()) {
    return Reject(st);
  }
  const std::optional<TieredStore::BlockSummary> b =
      store_->Describe(request.namespace_(), request.key());
  response->set_found(b.has_value());
  if (!b) return absl::OkStatus();
  response->set_tier(b->tier);
  response->set_size(b->payload_bytes);
  response->set_stored_bytes(b->stored_bytes);
  response->set_codec(b->codec);
  response->set_parent(b->parent);
  response->set_age_ms(static_cast<uint64_t>(b->age_ms));
  return absl::OkStatus();
}

cluster::NodeRecord NodeCore::SelfRecord(const std::string& address) const {
  cluster::NodeRecord r;
  r.id = node_id_;
  r.address = address.empty() ? listen_ : address;
  r.data_plane = data_plane_ != nullptr ? data_plane_detail_ : "";
  v1::StatsResponse stats;
  (void)Stats(&stats);  // always OK
  for (const v1::TierInfo& t : stats.tiers()) {
    r.tiers.push_back(
        {t.name(), t.available(), t.capacity_bytes(), t.used_bytes(), t.blocks()});
  }
  r.hits = stats.hits();
  r.misses = stats.misses();
  r.heartbeat_unix_ms = cluster::NowUnixMs();
  r.started_unix_ms =
      r.heartbeat_unix_ms -
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started_)
                                .count());
  return r;
}

v1::ClusterViewResponse NodeCore::SelfView() const {
  v1::ClusterViewResponse view;
  view.set_source("static");
  view.add_nodes(SelfRecord("").ToJson());
  view.set_confirmed_unix_ms(cluster::NowUnixMs());
  return view;
}

}  // namespace strata
