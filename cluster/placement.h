// Placement: which nodes own a block. Weighted rendezvous (highest-random-weight) hashing of
// (namespace, key) over the view's active nodes: node n scores -weight(n) / ln(u(n, ns, key)),
// with u a hash mapped into (0, 1); the R highest-scoring nodes are the block's replicas, best
// first. Every client computes the same owners from the same view, with no coordination; when a
// node joins or leaves, only the keys it wins or held move (about 1/N of them).
//
// Draining nodes take no new blocks, so they are never owners; a reader that misses on the
// owners may still find a block on a draining node until the drain has copied it.
// Pure functions of their arguments; thread-safe.
#ifndef STRATA_CLUSTER_PLACEMENT_H_
#define STRATA_CLUSTER_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "cluster/node_record.h"

namespace strata::cluster {

// Replication factor by namespace prefix: the longest matching prefix wins; no match: the
// default. R is clamped to the number of active nodes.
struct ReplicationRule {
  std::string prefix;
  int replicas = 1;
};
struct PlacementOptions {
  int default_replicas = 1;
  std::vector<ReplicationRule> rules;
  int ReplicasFor(std::string_view ns) const;
};

// The rendezvous score of `node` for (ns, key); higher wins. Exposed for tests and tools.
double RendezvousScore(const NodeRecord& node, std::string_view ns, std::string_view key);

// The `replicas` owners of (ns, key) among the view's active nodes, best first (fewer when the
// view has fewer active nodes; empty when it has none). Pointers into `view`.
std::vector<const NodeRecord*> Owners(const ClusterView& view, std::string_view ns,
                                      std::string_view key, int replicas);

}  // namespace strata::cluster

#endif  // STRATA_CLUSTER_PLACEMENT_H_
