// --etcd / --cluster: the cluster's view from etcd.
//
// EtcdMembership (cluster/etcd_membership.h) is written in parallel with this CLI. Until it is
// merged, --etcd answers UNIMPLEMENTED with a message saying so; wiring it is this function
// alone: split g.etcd on ',' into the endpoints, then
//   return EtcdMembership::Start({.endpoints = ..., .cluster = g.cluster});
// (a client-only membership: it watches, it does not register).
#include "stratactl/ctl.h"

namespace strata::ctl {

absl::StatusOr<std::shared_ptr<cluster::Membership>> EtcdView(const Globals& g) {
  return absl::UnimplementedError("--etcd " + g.etcd +
                                  ": this stratactl was built without etcd membership; use "
                                  "--node HOST:PORT (the node's view) or --nodes A,B,C");
}

}  // namespace strata::ctl
