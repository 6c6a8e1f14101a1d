// Membership: where a client or a node learns which nodes form the cluster.
//
// Two implementations behind one interface (STYLE.md 3): StaticMembership, a fixed list of node
// addresses (the single-node default, and tests), and EtcdMembership (cluster/etcd_membership.h),
// which watches /strata/<cluster>/nodes/ in etcd and, for a node, keeps the node's own record
// alive under a lease. A Membership never blocks a caller on the network: View() returns the
// last view it has, however old (while etcd is down the cluster keeps serving with it).
// Thread-safe.
#ifndef STRATA_CLUSTER_MEMBERSHIP_H_
#define STRATA_CLUSTER_MEMBERSHIP_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cluster/node_record.h"

namespace strata::cluster {

class Membership {
 public:
  using Listener = std::function<void(std::shared_ptr<const ClusterView>)>;

  virtual ~Membership() = default;

  // The latest view. Never null; never blocks on the network.
  virtual std::shared_ptr<const ClusterView> View() const = 0;

  // Calls `fn` with each new view after this call (from the membership's own thread; `fn` must
  // not call back into this Membership's mutating methods). Listeners live as long as the
  // Membership.
  virtual void Subscribe(Listener fn) = 0;

  // Node side. A node publishes its own record: Register once (FAILED_PRECONDITION when another
  // live node already holds the id), Update as its state and usage change, Deregister when it
  // leaves. A membership without a registry (static) answers UNIMPLEMENTED.
  virtual absl::Status Register(const NodeRecord& self) = 0;
  virtual absl::Status Update(const NodeRecord& self) = 0;
  virtual absl::Status Deregister() = 0;
};

// A fixed list of nodes. Each address becomes an active node whose id is its address and whose
// weight is 1 unless records are given. The view's source is kStatic and never changes.
class StaticMembership final : public Membership {
 public:
  explicit StaticMembership(const std::vector<std::string>& addresses);
  // Full records (weights from their tiers), reported as coming from `source`.
  StaticMembership(std::vector<NodeRecord> records, ViewSource source);

  std::shared_ptr<const ClusterView> View() const override;
  void Subscribe(Listener fn) override {
    absl::MutexLock lock(&mu_);
    listeners_.push_back(std::move(fn));
  }
  absl::Status Register(const NodeRecord& self) override;
  absl::Status Update(const NodeRecord& self) override;
  absl::Status Deregister() override;

  // Replaces the view (tests, and clients that refresh a node-served view themselves) and
  // tells subscribers.
  void Set(std::vector<NodeRecord> records);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const ClusterView> view_ ABSL_GUARDED_BY(mu_);
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
  const ViewSource source_;  // constant after construction
};

}  // namespace strata::cluster

#endif  // STRATA_CLUSTER_MEMBERSHIP_H_
