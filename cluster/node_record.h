// NodeRecord and ClusterView: what the cluster knows about its nodes.
//
// A NodeRecord is one node's entry in the membership: the record a node registers under
// /strata/<cluster>/nodes/<id> (as JSON, ToJson/FromJson) and keeps alive with a lease. A
// ClusterView is one consistent snapshot of every live record, as a Membership last saw it.
// Both are plain value types; thread-compatible. A ClusterView is shared between threads as
// std::shared_ptr<const ClusterView> and never changed after it is published.
#ifndef STRATA_CLUSTER_NODE_RECORD_H_
#define STRATA_CLUSTER_NODE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::cluster {

enum class NodeState {
  kActive,    // takes Puts and Gets
  kDraining,  // serves Gets of what it still holds; no new Puts are placed on it
};
std::string_view NodeStateName(NodeState state);  // "active", "draining"

// One tier as the node reports it (the same fields as `stratactl stats --json` tiers).
struct TierUsage {
  std::string name;  // "hbm", "dram", "ssd"
  bool available = false;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t blocks = 0;
};

struct NodeRecord {
  std::string id;               // unique in the cluster; 1-128 bytes of [A-Za-z0-9._:-]
  std::string address;          // gRPC HOST:PORT clients dial
  std::string data_plane;       // "" when the node has no UCX data plane, else e.g. "ucx tcp"
  NodeState state = NodeState::kActive;
  std::vector<TierUsage> tiers;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t heartbeat_unix_ms = 0;  // when the node last wrote its record
  uint64_t started_unix_ms = 0;

  // Placement weight: DRAM + SSD capacity in bytes (at least 1, so a node with no capacity
  // still has a defined place in the order).
  uint64_t Weight() const;

  // One JSON object; FromJson is its inverse. FromJson: INVALID_ARGUMENT naming the field when
  // the text is not such an object or `id` or `address` is missing.
  std::string ToJson() const;
  static absl::StatusOr<NodeRecord> FromJson(std::string_view json);
};

// Where a view came from: a static list, etcd, or a node's AdminService.ClusterView.
enum class ViewSource { kStatic, kEtcd, kNode };
std::string_view ViewSourceName(ViewSource source);  // "static", "etcd", "node"

struct ClusterView {
  ViewSource source = ViewSource::kStatic;
  std::string cluster;             // cluster name; "" for a static view
  std::vector<NodeRecord> nodes;   // every live node, sorted by id
  int64_t revision = 0;            // etcd revision the view reflects (0 for static)
  // When the view was last known current (the last successful etcd read or watch event, the
  // node answer, or construction for a static view). A view older than a few lease TTLs means
  // etcd has been unreachable for that long; the view is still used.
  uint64_t confirmed_unix_ms = 0;

  // Nodes whose state is kActive, in id order.
  std::vector<const NodeRecord*> Active() const;
  // The node with this id, or null.
  const NodeRecord* Find(std::string_view id) const;
};

uint64_t NowUnixMs();

}  // namespace strata::cluster

#endif  // STRATA_CLUSTER_NODE_RECORD_H_
