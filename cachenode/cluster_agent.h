// ClusterAgent: the node side of joining a cluster.
//
// Started by the node once it serves (its address is known), with the node's store: it starts
// an EtcdMembership for `cluster`, registers the node's NodeRecord (id, advertised gRPC
// address, data-plane detail, and per tier capacity, use and block count, plus hits and misses,
// all from TieredStore::Stats), then looks every `update_interval` and rewrites the record
// when its usage changed, or at least every `heartbeat_interval` (each write is an etcd
// revision every watcher applies; an idle node need not add one a second, and the lease, not
// the record, is what proves the node alive). SetState(kDraining) publishes the new state
// at once (no new Puts are placed on a draining node). Shutdown(deregister = true) removes the
// record (a graceful exit); Shutdown(false), or destruction, leaves it to expire with its lease
// (what a crash looks like, and what `kill -9` produces anyway).
//
// Failure behaviour, as an operator sees it: Start fails with UNAVAILABLE naming the endpoints
// when no etcd answers (the node should refuse to start: the cluster it was told to join is not
// there), FAILED_PRECONDITION when another live node holds the id, INVALID_ARGUMENT for a bad
// cluster name, id, or an address clients cannot dial (a wildcard listen address without
// --advertise). After Start, etcd outages are ridden out by EtcdMembership: the node keeps
// serving, its updates resume and its record is re-registered when etcd is back.
//
// View() is the membership's latest view; ToClusterViewResponse turns any view into the
// AdminService.ClusterView answer, and SelfView is the answer of a node outside any cluster.
//
// Thread-safe.
#ifndef STRATA_CACHENODE_CLUSTER_AGENT_H_
#define STRATA_CACHENODE_CLUSTER_AGENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/etcd_membership.h"
#include "cluster/node_record.h"
#include "proto/strata.pb.h"
#include "storage/tiered_store.h"

namespace strata {

struct ClusterAgentOptions {
  // --etcd URL[,URL...]. REQUIRES: not empty.
  std::vector<std::string> etcd;
  // --cluster NAME.
  std::string cluster;
  // --node-id; empty: the advertised address.
  std::string node_id;
  // HOST:PORT clients dial: --advertise, else the bound listen address. A wildcard host
  // (0.0.0.0, ::) is refused.
  std::string address;
  // The data plane as NodeInfo reports it ("" or "off (...)" when the node has none).
  std::string data_plane;
  // How often usage is looked at (and the record rewritten if it changed).
  absl::Duration update_interval = absl::Seconds(1);
  // The longest an unchanged record goes without being rewritten (its heartbeat_unix_ms).
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // Lease TTL: how long a dead node stays in the views.
  int64_t lease_ttl_s = 5;
  // Deadline of each etcd call; how long Start waits for etcd.
  absl::Duration call_timeout = absl::Seconds(2);
  absl::Duration start_timeout = absl::Seconds(5);
};

// The node's record as its store describes it now (state kActive; heartbeat set on write).
cluster::NodeRecord DescribeNode(const std::string& id, const std::string& address,
                                 const std::string& data_plane, const TieredStore& store);

// The AdminService.ClusterView answer for `view`.
void ToClusterViewResponse(const cluster::ClusterView& view, v1::ClusterViewResponse* response);

// The view of a node outside any cluster: itself alone, source kStatic.
std::shared_ptr<const cluster::ClusterView> SelfView(cluster::NodeRecord self);

class ClusterAgent {
 public:
  // REQUIRES: `store` outlives the agent.
  static absl::StatusOr<std::unique_ptr<ClusterAgent>> Start(ClusterAgentOptions options,
                                                             const TieredStore* store);
  ~ClusterAgent();  // Shutdown(/*deregister=*/false)

  // The node's id in the cluster.
  const std::string& node_id() const { return id_; }
  // The latest view (never null, never blocks).
  std::shared_ptr<const cluster::ClusterView> View() const { return membership_->View(); }
  cluster::Membership& membership() { return *membership_; }

  // Publishes the new state now. UNAVAILABLE when etcd did not answer (it is published once
  // etcd is back).
  absl::Status SetState(cluster::NodeState state);

  // Stops the update thread; with `deregister`, removes the record (UNAVAILABLE when etcd did
  // not answer: the record then expires with its lease). Idempotent.
  absl::Status Shutdown(bool deregister);

 private:
  ClusterAgent(ClusterAgentOptions options, std::string id, const TieredStore* store,
               std::unique_ptr<cluster::EtcdMembership> membership);
  cluster::NodeRecord Record() const;
  void UpdateLoop();

  // Constant after construction.
  const ClusterAgentOptions options_;
  const std::string id_;
  const TieredStore* const store_;
  const uint64_t started_unix_ms_;
  const std::unique_ptr<cluster::EtcdMembership> membership_;

  std::atomic<cluster::NodeState> state_{cluster::NodeState::kActive};

  // Owned by the update thread: the record last written, heartbeat zeroed, and when.
  std::string last_written_;
  absl::Time last_write_ = absl::InfinitePast();

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_CLUSTER_AGENT_H_
