// ClusterControl: what AdminService's cluster calls (ClusterView, Drain) need from a node that
// belongs to a cluster. The cluster agent (cachenode/cluster_agent.h) implements it; a node
// without --etcd has none, and then ClusterView answers with the node alone and Drain with
// FAILED_PRECONDITION. Implementations are thread-safe.
#ifndef STRATA_CACHENODE_CLUSTER_CONTROL_H_
#define STRATA_CACHENODE_CLUSTER_CONTROL_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "proto/strata.pb.h"

namespace strata {

class ClusterControl {
 public:
  using DrainWatcher = std::function<void(const v1::DrainProgress&)>;

  virtual ~ClusterControl() = default;

  // The node's current view of the cluster.
  virtual v1::ClusterViewResponse View() const = 0;

  // Starts the drain on the first call (later calls join the one running, or see the finished
  // one's last progress) and calls `watcher` with each progress report until and including the
  // one with done = true, from the drain's thread or this one. Returns a watch id for
  // StopWatching. With `exit_when_done` the node shuts down gracefully after deregistering.
  virtual absl::StatusOr<uint64_t> WatchDrain(bool exit_when_done, DrainWatcher watcher) = 0;
  // After it returns, the watcher is not called again.
  virtual void StopWatching(uint64_t watch_id) = 0;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_CLUSTER_CONTROL_H_
