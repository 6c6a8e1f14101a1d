// EtcdMembership: the cluster's membership as etcd holds it.
//
// Every node of cluster C keeps one key, /strata/C/nodes/<id>, whose value is its NodeRecord as
// JSON (NodeRecord::ToJson), attached to a lease of `lease_ttl_s` seconds that the node keeps
// alive. A node that dies stops renewing, etcd deletes its key when the lease expires, and every
// watcher sees it leave within lease_ttl_s (plus one keep-alive period at most).
//
// View side (clients and nodes alike). An EtcdPrefixWatcher mirrors /strata/C/nodes/ and each
// change publishes a new ClusterView (source kEtcd, the etcd revision it reflects, nodes sorted
// by id) to View() and to subscribers. A value that is not a valid NodeRecord, or whose id does
// not match its key, is skipped and logged, never fatal. View() never touches the network.
// `confirmed_unix_ms` is the last time etcd answered this membership (a snapshot, a watch
// event, a keep-alive or a probe, at least every keepalive_interval while etcd is up), so its
// age is how stale the view may be.
//
// Node side. Register(self) takes a fresh lease and writes the record only if the key is absent
// or still held by this membership's own earlier lease (a Txn on create_revision == 0, then on
// lease == previous); if another live lease holds it, FAILED_PRECONDITION names the id: another
// node runs with it, or a crashed predecessor whose lease has not yet expired (retry after
// lease_ttl_s). A background thread renews the lease every keepalive_interval. Update(self)
// rewrites the record under the lease (a Txn on lease == ours, so it never overwrites another
// node's record). Deregister() deletes the record and revokes the lease. The destructor stops
// renewing without deregistering: to etcd that looks like a crash, and the record expires with
// the lease (call Deregister for a graceful leave).
//
// etcd unavailable. Start() contacts etcd once and fails with UNAVAILABLE, naming the endpoints,
// when none answers within `start_timeout`: a node or client pointed at a cluster that is not
// there should say so at once rather than come up alone (a wrong URL is the likelier cause).
// After Start, an outage is ridden out: View() keeps returning the last view (its
// confirmed_unix_ms ages); Register, Update and Deregister answer UNAVAILABLE; the background
// thread keeps renewing and, once etcd answers again, finds whether the lease survived (a short
// outage, or an etcd restart that kept its data) or expired meanwhile, and in that case
// re-registers the latest record under a new lease. The watcher resyncs by itself.
//
// Subscribers hear of every change etcd reports (a node joining, leaving or rewriting its
// record, and so each node's periodic usage update), not of each mere confirmation.
//
// Thread-safe. Listeners run on the watcher thread and must not call Register, Update or
// Deregister (they may call View).
#ifndef STRATA_CLUSTER_ETCD_MEMBERSHIP_H_
#define STRATA_CLUSTER_ETCD_MEMBERSHIP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/etcd_client.h"
#include "cluster/membership.h"
#include "cluster/node_record.h"

namespace strata::cluster {

struct EtcdMembershipOptions {
  // etcd client URLs (http://HOST:PORT), tried in turn. REQUIRES: at least one.
  std::vector<std::string> endpoints;
  // The cluster's name: 1-64 bytes of [A-Za-z0-9._-]. Keys live under /strata/<cluster>/nodes/.
  std::string cluster;
  // Lease TTL of a node's record: how long a dead node stays in the views.
  int64_t lease_ttl_s = 5;
  // How often the lease is renewed (and etcd probed when no lease is held). Zero: a third of
  // the TTL, so two renewals may be lost before the lease expires.
  absl::Duration keepalive_interval = absl::ZeroDuration();
  // Deadline of each etcd call.
  absl::Duration call_timeout = absl::Seconds(2);
  // How long Start waits for the first answer from etcd.
  absl::Duration start_timeout = absl::Seconds(5);
  // Pause between attempts after a failed watch or re-registration.
  absl::Duration retry_interval = absl::Milliseconds(250);
  // Receives one line per notable event (lost stream, resync, skipped record, re-registration).
  // Default: stderr, prefixed "strata etcd: ".
  std::function<void(const std::string&)> log;
};

// "/strata/<cluster>/nodes/" and that plus the id.
std::string EtcdNodesPrefix(const std::string& cluster);
std::string EtcdNodeKey(const std::string& cluster, const std::string& id);

class EtcdMembership final : public Membership {
 public:
  // Validates the options (INVALID_ARGUMENT naming the field), connects, takes the first
  // snapshot of the cluster's nodes (UNAVAILABLE when etcd does not answer in start_timeout)
  // and starts the watcher and keep-alive threads.
  static absl::StatusOr<std::unique_ptr<EtcdMembership>> Start(EtcdMembershipOptions options);
  ~EtcdMembership() override;

  std::shared_ptr<const ClusterView> View() const override;
  void Subscribe(Listener fn) override;

  // INVALID_ARGUMENT for a malformed id or address; FAILED_PRECONDITION when this membership
  // already registered (use Update) or another live node holds the id; UNAVAILABLE when etcd
  // did not answer (nothing was registered; the caller may retry).
  absl::Status Register(const NodeRecord& self) override;
  // FAILED_PRECONDITION when not registered or the id was taken over by another node;
  // UNAVAILABLE when etcd did not answer (the record is kept and written once etcd is back).
  // INVALID_ARGUMENT when self.id differs from the registered id.
  absl::Status Update(const NodeRecord& self) override;
  // Stops renewing and removes the record. UNAVAILABLE when etcd did not answer: the record
  // then expires with its lease. FAILED_PRECONDITION when not registered.
  absl::Status Deregister() override;

  // The client underneath (tests use it for Compact and direct reads).
  EtcdClient* client() { return client_.get(); }
  // Lease of the current registration; 0 when none.
  int64_t TEST_lease() const;
  // How many times the record was re-registered under a new lease after one was lost.
  int64_t reregistrations() const;
  // The watcher's counters.
  int64_t watch_resyncs() const { return watcher_->resyncs(); }

 private:
  explicit EtcdMembership(EtcdMembershipOptions options, std::unique_ptr<EtcdClient> client);

  // Watcher callbacks.
  void OnChange(const EtcdPrefixWatcher::Mirror& mirror, int64_t revision);
  void OnContact();

  // Grants a lease and writes `record` under it if the key is absent or held by `previous`
  // (0: none). On success returns the new lease; FAILED_PRECONDITION when another lease holds
  // the key (the new lease is revoked).
  absl::StatusOr<int64_t> Claim(const NodeRecord& record, int64_t previous);
  // The keep-alive thread.
  void KeepAliveLoop();
  void Log(const std::string& line) const;

  // Constant after construction.
  const EtcdMembershipOptions options_;
  const std::string prefix_;
  const absl::Duration keepalive_interval_;
  const std::unique_ptr<EtcdClient> client_;

  mutable absl::Mutex view_mu_;
  std::shared_ptr<const ClusterView> view_ ABSL_GUARDED_BY(view_mu_);
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(view_mu_);

  // Registration state. reg_mu_ serializes Register/Update/Deregister with the keep-alive
  // thread's renewals and re-registrations; it is held across etcd calls (each bounded by
  // call_timeout), never while calling listeners, and never taken under view_mu_.
  mutable absl::Mutex reg_mu_;
  bool stopping_ ABSL_GUARDED_BY(reg_mu_) = false;
  bool registered_ ABSL_GUARDED_BY(reg_mu_) = false;
  NodeRecord self_ ABSL_GUARDED_BY(reg_mu_);
  int64_t lease_ ABSL_GUARDED_BY(reg_mu_) = 0;       // 0: the lease was lost; re-register
  int64_t lost_lease_ ABSL_GUARDED_BY(reg_mu_) = 0;  // the lease before that, to reclaim
  int64_t reregistrations_ ABSL_GUARDED_BY(reg_mu_) = 0;
  bool taken_over_ ABSL_GUARDED_BY(reg_mu_) = false;  // another node holds our id
  bool dirty_ ABSL_GUARDED_BY(reg_mu_) = false;  // self_ newer than etcd's copy (failed Update)

  std::unique_ptr<EtcdPrefixWatcher> watcher_;
  std::thread keepalive_thread_;
};

}  // namespace strata::cluster

#endif  // STRATA_CLUSTER_ETCD_MEMBERSHIP_H_
