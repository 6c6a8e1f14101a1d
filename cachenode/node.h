// Node: a running cache node — tiers, store, gRPC services and the metrics endpoint wired from
// NodeOptions. strata-node's main() is a thin shell around it; tests and strata-bench run it
// in-process. Start/Shutdown from one thread; the services it runs are thread-safe.
#ifndef STRATA_CACHENODE_NODE_H_
#define STRATA_CACHENODE_NODE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cachenode/auth.h"
#include "cachenode/cluster_agent.h"
#include "cachenode/data_plane.h"
#include "cachenode/grpc_server.h"
#include "cachenode/grpc_services.h"
#include "cachenode/message_calls.h"
#include "cachenode/metrics.h"
#include "cachenode/node_core.h"
#include "cachenode/options.h"
#include "cachenode/quotas.h"
#include "storage/pruned_views.h"
#include "storage/tiered_store.h"

namespace strata {

class Node {
 public:
  // Validates options, opens the tiers (recovering the SSD tier), binds and serves; writes the
  // port file last, so its presence means the node answers. Errors name the option or resource.
  static absl::StatusOr<std::unique_ptr<Node>> Start(const NodeOptions& options);
  ~Node();  // Shutdown()

  // Graceful: stop accepting, let in-flight calls finish (up to shutdown_grace_ms), stop the
  // metrics endpoint, flush and close the SSD tier. Idempotent; returns the flush result.
  absl::Status Shutdown();

  // Re-reads the --auth-tokens file (SIGHUP): the tokens now in force, or why the file was not
  // taken (the previous tokens stay in force). FAILED_PRECONDITION when auth is off.
  absl::StatusOr<size_t> ReloadAuthTokens();
  // Re-reads the --quotas file (SIGHUP), likewise. FAILED_PRECONDITION without --quotas.
  absl::StatusOr<size_t> ReloadQuotas();

  int port() const { return port_; }
  // Times the gRPC server was restarted because its listener went deaf (grpc_server.h).
  uint64_t grpc_restarts() const { return grpc_ ? grpc_->restarts() : 0; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  // host:port as bound.
  const std::string& address() const { return address_; }
  // Null outside a cluster.
  ClusterAgent* cluster_agent() { return agent_.get(); }
  // Human-readable startup summary (tiers, capacities, addresses), several lines.
  std::string Summary() const;
  NodeCore& core() { return *core_; }
  // Null when the node runs without a data plane.
  DataPlane* data_plane() { return data_plane_.get(); }
  TieredStore& store() { return *store_; }

 private:
  explicit Node(const NodeOptions& options) : options_(options) {}

  const NodeOptions options_;
  std::unique_ptr<Authenticator> auth_;  // null: auth off; outlives everything that checks it
  std::vector<AbsentTier> absent_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<Quotas> quotas_;         // null: no quotas; after the store, before the core
  std::unique_ptr<PrunedViews> pruned_views_;  // null: no pruned_views; after the store
  std::unique_ptr<DataPlane> data_plane_;  // before the store goes: it pins blocks
  std::string data_plane_detail_;
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<MessageCalls> message_calls_;  // before the data plane and core go
  std::unique_ptr<GrpcServer> grpc_;             // owns the services
  // Cluster membership (--etcd): the agent, and what AdminService reads it through (null until
  // the node has joined, and outside a cluster).
  std::unique_ptr<ClusterAgent> agent_;
  std::atomic<ClusterControl*> cluster_control_{nullptr};
  std::unique_ptr<MetricsServer> metrics_;
  std::string address_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_NODE_H_
