// EtcdClient: the few etcd v3 calls Strata's membership needs, over gRPC (proto/etcd.proto).
//
// Debian ships no C++ etcd client, so this is a small one of our own: KV Range / Put /
// DeleteRange / Txn (the two guarded writes a registry needs), Lease Grant / Revoke /
// KeepAlive, and EtcdPrefixWatcher, a local mirror of one key prefix kept current by the Watch
// stream.
//
// Endpoints. Several etcd members may be named (`--etcd URL[,URL...]`, URLs like
// http://127.0.0.1:2379 or bare HOST:PORT; https is refused, as TLS is not supported yet). A
// call goes to the endpoint that last answered; when it is unreachable the call is tried on
// each other endpoint in turn, once. Every call carries a deadline (`call_timeout`), so no call
// blocks longer than endpoints x call_timeout.
//
// Errors. gRPC statuses become absl::Status in exactly one place (etcd_client.cc, FromGrpc):
// UNAVAILABLE when no endpoint answered in time (retry later), NOT_FOUND when etcd says the
// lease does not exist (expired or revoked), OUT_OF_RANGE for a compacted revision; the message
// names the call and the endpoint.
//
// Thread-safe: one EtcdClient may be shared by any number of threads.
#ifndef STRATA_CLUSTER_ETCD_CLIENT_H_
#define STRATA_CLUSTER_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace grpc {
class ClientContext;
}

namespace strata::cluster {

struct EtcdClientOptions {
  // etcd client URLs, tried in this order. REQUIRES: at least one.
  std::vector<std::string> endpoints;
  // Deadline of each call on each endpoint.
  absl::Duration call_timeout = absl::Seconds(2);
};

// One key as etcd stores it (mvccpb.KeyValue).
struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: no lease
};

struct EtcdRangeResult {
  int64_t revision = 0;  // the store's revision the result reflects
  std::vector<EtcdKeyValue> kvs;
};

// The end of the range holding every key that starts with `prefix` (etcd's convention: the
// prefix with its last byte incremented, trailing 0xff bytes dropped; "\0" for the whole space).
std::string EtcdPrefixEnd(const std::string& prefix);

// Splits "URL[,URL...]" into endpoints (empty pieces dropped).
std::vector<std::string> SplitEtcdEndpoints(const std::string& list);

class EtcdClient {
 public:
  // Checks the endpoints (INVALID_ARGUMENT naming a bad one) and creates their channels; does
  // not contact etcd.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(EtcdClientOptions options);
  ~EtcdClient();

  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The keys in [key, range_end), or only `key` when range_end is empty. `count_only` returns
  // no keys, only the revision (a cheap "is etcd there" probe).
  absl::StatusOr<EtcdRangeResult> Range(const std::string& key, const std::string& range_end = "",
                                        bool count_only = false);
  // Returns the revision of the write. `lease` 0: the key outlives every lease.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Returns how many keys were deleted.
  absl::StatusOr<int64_t> DeleteRange(const std::string& key, const std::string& range_end = "");

  // Txn: puts `key` = `value` under `lease` only if the key's current field named by `target`
  // equals `expected` (kCreateRevision 0: the key is absent; kLease L: the key is held by lease
  // L). When the comparison fails nothing is written and `current` is the key as it is (absent
  // when it does not exist).
  enum class CompareTarget { kCreateRevision, kLease };
  struct TxnResult {
    bool succeeded = false;
    int64_t revision = 0;
    std::optional<EtcdKeyValue> current;  // set when !succeeded and the key exists
  };
  absl::StatusOr<TxnResult> PutIf(const std::string& key, CompareTarget target, int64_t expected,
                                  const std::string& value, int64_t lease);
  // Txn: deletes `key` only if it is held by `lease`. Returns whether it deleted it.
  absl::StatusOr<bool> DeleteIfLease(const std::string& key, int64_t lease);

  // Compacts history up to `revision` (tests, operators): watchers from older revisions are
  // canceled with compact_revision set.
  absl::Status Compact(int64_t revision);

  // A new lease of `ttl_s` seconds; returns its id.
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_s);
  // Revokes the lease and deletes every key attached to it. NOT_FOUND when it no longer exists.
  absl::Status LeaseRevoke(int64_t lease);
  // Renews the lease once on a LeaseKeepAlive stream and returns the TTL etcd granted (seconds).
  // NOT_FOUND when the lease has expired or was revoked. One short stream per renewal: it has a
  // deadline like every other call, and a connection lost between renewals costs nothing.
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease);

  // Endpoints as given (for messages).
  std::string EndpointsForMessages() const;

 private:
  friend class EtcdPrefixWatcher;
  struct Endpoint;
  explicit EtcdClient(EtcdClientOptions options, std::vector<std::unique_ptr<Endpoint>> eps);

  // Runs `call(endpoint, context)` on the preferred endpoint, then on each other one while the
  // answer is UNAVAILABLE or DEADLINE_EXCEEDED. `what` names the call in errors.
  template <typename Call>
  absl::Status WithFailover(const char* what, Call&& call);

  // Constant after construction.
  const EtcdClientOptions options_;
  const std::vector<std::unique_ptr<Endpoint>> endpoints_;

  std::atomic<size_t> preferred_{0};  // the endpoint that last answered
};

// EtcdPrefixWatcher: a local mirror of every key under one prefix, kept current by a Watch
// stream on its own thread.
//
// It starts with a Range of the prefix (the snapshot, at revision R) and watches from R + 1.
// When the stream is lost (etcd restarted, endpoint gone) it reopens the watch from the last
// revision it applied + 1, on the next endpoint if need be; when etcd answers that this revision
// has been compacted (a canceled watch with compact_revision set), or the watch is canceled for
// any other reason, or etcd's revision is behind the one applied (its data was lost and it
// started afresh), it takes a fresh Range and starts over from it. Either way the mirror never
// skips an event silently: after a resync it equals etcd's state at the Range's revision.
//
// `on_change(mirror, revision)` runs on the watcher's thread after the first snapshot and after
// every change (a batch of events or a resync), with the whole mirror. `on_contact()` runs each
// time etcd answered the watcher (a snapshot, events, or a watch created), so a caller can tell
// how fresh its view is. Neither may call Stop.
class EtcdPrefixWatcher {
 public:
  using Mirror = std::map<std::string, EtcdKeyValue>;
  struct Callbacks {
    std::function<void(const Mirror&, int64_t revision)> on_change;
    std::function<void()> on_contact;
    std::function<void(const std::string&)> log;  // one line per lost stream or resync
  };

  // REQUIRES: `client` outlives the watcher. Starts the thread; the first snapshot is taken
  // there (WaitForSnapshot waits for it).
  EtcdPrefixWatcher(EtcdClient* client, std::string prefix, Callbacks callbacks,
                    absl::Duration retry_interval = absl::Milliseconds(250));
  ~EtcdPrefixWatcher();  // Stop()

  // Waits up to `timeout` for the first snapshot. UNAVAILABLE when none came.
  absl::Status WaitForSnapshot(absl::Duration timeout);
  // Stops the thread (cancels the stream in flight). Idempotent.
  void Stop();

  // Counters for tests and stats.
  int64_t resyncs() const { return resyncs_.load(); }        // Ranges taken after the first
  int64_t reconnects() const { return reconnects_.load(); }  // watch streams opened after the first

 private:
  void Run();
  // One Range of the prefix into mirror_; returns its revision.
  absl::StatusOr<int64_t> Snapshot();
  // Watches from `start_revision` until the stream ends. Returns OUT_OF_RANGE when the revision
  // was compacted or the watch was canceled (a resync is needed), UNAVAILABLE when the stream
  // was lost. Updates `*applied` with each revision applied.
  absl::Status WatchFrom(int64_t start_revision, int64_t* applied);
  bool Stopping();
  void SleepUnlessStopping(absl::Duration d);

  // Constant after construction.
  EtcdClient* const client_;
  const std::string prefix_;
  const std::string prefix_end_;
  const Callbacks callbacks_;
  const absl::Duration retry_interval_;

  // Owned by the watcher thread.
  Mirror mirror_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;  // to cancel it

  absl::Notification first_snapshot_;
  std::atomic<int64_t> resyncs_{0};
  std::atomic<int64_t> reconnects_{0};
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace strata::cluster

#endif  // STRATA_CLUSTER_ETCD_CLIENT_H_
