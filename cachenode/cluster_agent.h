// ClusterAgent: a node's membership in a cluster. It publishes the node's record (address,
// data plane, tiers with capacity and use, hits, state) through a Membership -- etcd's, in
// production -- refreshes it every heartbeat, serves the node's view of the cluster to
// AdminService.ClusterView, and runs a drain when an operator asks for one:
//
//   1. the record's state becomes "draining": clients stop placing Puts here (placement skips
//      draining nodes), Gets still find what is here;
//   2. after `settle_ms` (time for clients to see the new view), DrainBlocks copies the resident
//      blocks, hottest first, to their owners in the view without this node (cachenode/drain.h);
//   3. the node deregisters, the last progress report (done = true) goes out, and with
//      exit_when_done the node is asked to shut down (`request_shutdown`). When some blocks could
//      not be moved (no owner took them), the node does neither: it stays registered as
//      draining, still serving them, and the last report's error says how many.
//
// While the membership cannot reach etcd, heartbeats fail and are retried; the membership
// re-registers the node when etcd is back (cluster/etcd_membership.h). Thread-safe.
#ifndef STRATA_CACHENODE_CLUSTER_AGENT_H_
#define STRATA_CACHENODE_CLUSTER_AGENT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "cachenode/cluster_control.h"
#include "cachenode/drain.h"
#include "cachenode/node_core.h"
#include "cluster/membership.h"

namespace strata {

struct ClusterAgentOptions {
  std::string cluster;  // name, reported in views
  // The address clients dial (--advertise, else the bound listen address).
  std::string advertise;
  uint32_t heartbeat_ms = 1000;
  // How long a drain waits between announcing "draining" and moving blocks.
  uint32_t settle_ms = 1000;
  DrainOptions drain;
  // Where drained blocks go; null: a GrpcBlockSink.
  std::shared_ptr<BlockSink> sink;
  // Called once after a drain with exit_when_done has deregistered the node.
  std::function<void()> request_shutdown;
};

class ClusterAgent final : public ClusterControl {
 public:
  // Registers the node (Membership::Register with core->SelfRecord) and starts the heartbeat.
  // Fails with the membership's status (FAILED_PRECONDITION: the id is taken by a live node;
  // UNAVAILABLE: etcd cannot be reached). `core` and `store` must outlive the agent.
  static absl::StatusOr<std::unique_ptr<ClusterAgent>> Start(
      NodeCore* core, TieredStore* store, std::shared_ptr<cluster::Membership> membership,
      ClusterAgentOptions options);
  // Stops the heartbeat and any drain (waiting for its current chunk), then Leave().
  ~ClusterAgent() override;

  // Deregisters now (graceful shutdown): clients stop routing here at once instead of after the
  // lease expires. Idempotent.
  absl::Status Leave();

  v1::ClusterViewResponse View() const override;
  absl::StatusOr<uint64_t> WatchDrain(bool exit_when_done, DrainWatcher watcher) override;
  void StopWatching(uint64_t watch_id) override;

  bool draining() const;

 private:
  ClusterAgent(NodeCore* core, TieredStore* store, std::shared_ptr<cluster::Membership> membership,
               ClusterAgentOptions options);
  cluster::NodeRecord Record() const;
  void HeartbeatLoop();
  void RunDrain(bool exit_when_done);
  void Publish(const v1::DrainProgress& progress);
  // Sleeps up to `ms`; false when the agent is stopping.
  bool WaitUnlessStopping(uint32_t ms);

  // Constant after construction
  NodeCore* const core_;
  TieredStore* const store_;
  const std::shared_ptr<cluster::Membership> membership_;
  const ClusterAgentOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool left_ ABSL_GUARDED_BY(mu_) = false;
  bool heartbeat_failing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread heartbeat_;
  std::thread drain_;  // started by the first WatchDrain

  // Drain watchers are called under watch_mu_, so StopWatching returning means no call is
  // running or will run.
  absl::Mutex watch_mu_;
  uint64_t next_watch_ ABSL_GUARDED_BY(watch_mu_) = 1;
  absl::flat_hash_map<uint64_t, DrainWatcher> watchers_ ABSL_GUARDED_BY(watch_mu_);
  v1::DrainProgress last_ ABSL_GUARDED_BY(watch_mu_);
  bool drain_started_ ABSL_GUARDED_BY(watch_mu_) = false;
};

// Joins the cluster `options.cluster` through etcd at `endpoints` (EtcdMembership with a lease of
// `lease_ttl_s`) and starts an agent for the node. UNAVAILABLE naming the endpoints when etcd does
// not answer; FAILED_PRECONDITION when another live node has this node's id.
absl::StatusOr<std::unique_ptr<ClusterAgent>> JoinEtcdCluster(
    NodeCore* core, TieredStore* store, const std::vector<std::string>& endpoints,
    int64_t lease_ttl_s, ClusterAgentOptions options);

}  // namespace strata

#endif  // STRATA_CACHENODE_CLUSTER_AGENT_H_
