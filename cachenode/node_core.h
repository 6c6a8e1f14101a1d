// NodeCore: what a cache node does with each request, independent of gRPC.
//
// Every request is validated whole before anything is stored or read: namespace, batch size,
// key lengths, payload sizes, layouts. A bad request fails with INVALID_ARGUMENT naming the field
// (e.g. "items[3].key: 70 bytes, at most 64") and changes nothing. Otherwise each key gets its
// own result, a miss being NOT_FOUND on that key and not an error of the call; when every key of
// a call failed with the same error code the call itself fails with it (so a one-key Put to a
// full node answers RESOURCE_EXHAUSTED). The gRPC services in grpc_services.h are thin adapters
// over this class. Thread-safe.
#ifndef STRATA_CACHENODE_NODE_CORE_H_
#define STRATA_CACHENODE_NODE_CORE_H_

#include <atomic>
#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "cachenode/auth.h"
#include "cachenode/data_plane.h"
#include "cachenode/inflight_budget.h"
#include "cachenode/options.h"
#include "cachenode/quotas.h"
#include "cluster/node_record.h"
#include "proto/strata.pb.h"
#include "storage/pruned_views.h"
#include "storage/tiered_store.h"

namespace strata {

// What NodeInfo/Stats report about tiers that are not in the store (e.g. HBM off).
struct AbsentTier {
  std::string name;
  std::string detail;
};

class NodeCore {
 public:
  // The retry hint on a Put refused for space while quotas are on: room in a share comes back
  // as its leases end or its blocks are removed, which the node cannot predict; a second is a
  // back-off, not a promise.
  static constexpr uint64_t kQuotaRetryAfterMs = 1000;

  // `store` must outlive the core.
  NodeCore(TieredStore* store, const NodeOptions& options, std::vector<AbsentTier> absent_tiers);

  // Put and Get count their payload bytes against the in-flight budget (limits.inflight_bytes):
  // a Put whose payloads would go over it fails whole with RESOURCE_EXHAUSTED naming the budget;
  // a Get answers RESOURCE_EXHAUSTED for the keys whose bytes would not fit (before copying
  // them). The bytes stay reserved in `*held` when given (the caller releases them once the
  // messages are gone), else until the call returns.
  absl::Status Put(const v1::PutRequest& request, v1::PutResponse* response,
                   InflightBudget::Reservation* held = nullptr);
  absl::Status Get(const v1::GetRequest& request, v1::GetResponse* response,
                   InflightBudget::Reservation* held = nullptr);
  absl::Status Exists(const v1::ExistsRequest& request, v1::ExistsResponse* response);
  absl::Status Remove(const v1::RemoveRequest& request, v1::RemoveResponse* response);
  absl::Status Lookup(const v1::LookupRequest& request, v1::LookupResponse* response);

  // Data plane (data_plane.h). UNIMPLEMENTED when the node runs without one.
  // `access`: the caller's token, recorded in the session, whose UCX message calls are then
  // checked against that token's grants as they stand at each call (auth.h).
  absl::Status Hello(const v1::HelloRequest& request, v1::HelloResponse* response,
                     const Access& access = Access::Unrestricted());
  // OK when auth is off, the session is unknown (the call itself then answers
  // FAILED_PRECONDITION) or was opened with the caller's token; else PERMISSION_DENIED.
  absl::Status CheckSessionOwner(uint64_t session_id, const Access& access) const;
  absl::Status RegisterRegion(const v1::RegisterRegionRequest& request,
                              v1::RegisterRegionResponse* response);
  absl::Status DeregisterRegion(const v1::DeregisterRegionRequest& request);
  absl::Status Goodbye(const v1::GoodbyeRequest& request);
  absl::Status GetInto(const v1::GetIntoRequest& request, v1::GetIntoResponse* response);
  absl::Status PutFrom(const v1::PutFromRequest& request, v1::PutFromResponse* response);
  // A GetInto that arrived as a UCX message, served without blocking when its blocks all sit in
  // DRAM as stored (DataPlane::TryGetIntoInline): validated and admitted as GetInto, `done` runs
  // once, on a transport thread or this one. False (nothing done, nothing counted): run GetInto
  // on a thread that may block.
  bool TryGetIntoInline(const v1::GetIntoRequest& request, DataPlane::GetIntoDone done);
  // GetInto / PutFrom calls that arrived as UCX messages (cachenode/message_calls.h).
  void CountMessageCall() { message_calls_.fetch_add(1); }

  absl::Status NodeInfo(v1::NodeInfoResponse* response) const;
  absl::Status Stats(v1::StatsResponse* response) const;
  absl::Status Evict(const v1::EvictRequest& request, v1::EvictResponse* response);
  // One block's tier, sizes and codec (found = false on a miss); no hit or miss is counted.
  absl::Status Inspect(const v1::InspectRequest& request, v1::InspectResponse* response);
  // This node's membership record (cluster/node_record.h) with its current usage; `address`
  // is what clients dial (the advertised address, else the bound one).
  cluster::NodeRecord SelfRecord(const std::string& address) const;
  // This node alone as a cluster view (source "static"): what ClusterView answers outside a
  // cluster.
  v1::ClusterViewResponse SelfView() const;

  // Set once the server is bound (the port may have been chosen by the OS); an empty node id
  // defaults to the bound address. Call before serving.
  void SetIdentity(std::string node_id, std::string address) {
    listen_ = std::move(address);
    node_id_ = node_id.empty() ? listen_ : std::move(node_id);
  }
  uint64_t rejected_requests() const { return rejected_.load(); }
  // Counts a request refused before it reached the core (a body that does not parse).
  void CountRejected() { rejected_.fetch_add(1); }
  InflightBudget& inflight_budget() { return budget_; }
  // Set once, before serving; nullptr (the default) means no data plane. Must outlive the calls.
  void SetDataPlane(DataPlane* data_plane, std::string detail) {
    data_plane_ = data_plane;
    data_plane_detail_ = std::move(detail);
  }

  // Set once, before serving; nullptr (the default): no quotas. Must outlive the calls.
  void SetQuotas(Quotas* quotas) { quotas_ = quotas; }
  // Set once, before serving; nullptr (the default): no namespace keeps pruned views, Put takes
  // no scores and Get(view) always answers with the full block. Must outlive the calls.
  void SetPrunedViews(PrunedViews* views) { views_ = views; }
  // The request-rate check of a namespace's call (quotas.h): OK without quotas, else
  // Quotas::AdmitCall. The gRPC services and the UCX message calls run it once per call, after
  // the caller's grants are checked.
  absl::Status AdmitRate(std::string_view ns) {
    return quotas_ == nullptr ? absl::OkStatus() : quotas_->AdmitCall(ns);
  }

  // Call admission for graceful shutdown. BeginCall is false once draining (the call is answered
  // UNAVAILABLE: retry elsewhere or later); every true BeginCall is paired with EndCall.
  bool BeginCall();
  void EndCall();
  // Stops admitting calls and waits until the ones in flight have finished or `grace_ms` passed.
  // Returns the number still in flight.
  int Drain(uint32_t grace_ms);

 private:
  // With quotas on, a store's RESOURCE_EXHAUSTED (a tenant's share full of blocks it cannot
  // move, or every tier full) gets a retry hint of kQuotaRetryAfterMs.
  absl::Status WithQuotaHint(absl::Status status) const;
  // Counts INVALID_ARGUMENT answers on the way out.
  absl::Status Reject(absl::Status status);
  absl::Status ValidateKeys(const std::string& ns,
                            const google::protobuf::RepeatedPtrField<std::string>& keys);
  void FillTiers(google::protobuf::RepeatedPtrField<v1::TierInfo>* tiers) const;
  // Checks one block of a Put or PutFrom: key, parent, size and layout (into *layout).
  absl::Status ValidateBlock(size_t i, const std::string& key, const std::string& parent,
                             const v1::BlockLayout& layout_proto, uint64_t size,
                             std::string_view size_field, BlockLayout* layout) const;
  absl::Status RequireDataPlane() const;
  absl::Status ValidateGetInto(const v1::GetIntoRequest& request) const;

  TieredStore* const store_;
  const NodeOptions options_;
  const std::vector<AbsentTier> absent_tiers_;
  const std::chrono::steady_clock::time_point started_;
  std::string node_id_;
  std::string listen_;
  DataPlane* data_plane_ = nullptr;
  Quotas* quotas_ = nullptr;
  PrunedViews* views_ = nullptr;
  std::string data_plane_detail_ = "off";
  InflightBudget budget_;
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> message_calls_{0};
  std::atomic<uint64_t> inline_calls_{0};
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
};

// The call's status from its per-key results (see the class comment).
absl::Status CallStatusFromResults(const std::vector<absl::Status>& per_key);

}  // namespace strata

#endif  // STRATA_CACHENODE_NODE_CORE_H_
