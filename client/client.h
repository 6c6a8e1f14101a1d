// strata::Client: the cache as one store, over one node or a cluster of them.
//
// The Client follows a cluster::Membership (ClientOptions says where the view comes from) and
// places every block with weighted rendezvous hashing (cluster/placement.h): a block's owners
// are the top R active nodes for (namespace, key), R from ClientOptions::placement. Every client
// with the same view computes the same owners, with no coordination.
//
// With a one-node view the Client is exactly a NodeClient of that node (node_client.h): the same
// calls, the same errors (a node that does not answer is UNAVAILABLE), the same data plane.
//
// With more nodes, calls are routed:
//  - A batch is split by owner and the groups are sent in parallel (one thread per group beyond
//    the first, which runs on the caller's thread; Lookup's groups are async gRPC calls issued
//    from the caller's thread).
//  - Put stores each block on all of its R owners. A key is OK when at least one replica stored
//    it; when none did, it carries the first replica's error that is not a transport failure
//    (e.g. RESOURCE_EXHAUSTED), else UNAVAILABLE (no replica reachable).
//  - Get asks a key's first reachable owner, then the next on a miss or a failed node, then any
//    draining node (which still serves what it has not handed off). Exists and Remove ask every
//    reachable owner at once (present / removed when any says so).
//  - Lookup is one parallel round: each reachable owner is asked a Lookup of its own keys (in
//    chain order) and the client takes the leading run every key of which some owner reported
//    present. With R > 1 and replicas that differ, this may count fewer keys than exist (a
//    miss), never more.
//  - A node whose call fails in transport (UNAVAILABLE, DEADLINE_EXCEEDED) is marked down for
//    this client at once and skipped; a background thread pings it every probe_interval_ms and
//    takes it back when it answers. A down owner's blocks are misses (NOT_FOUND per key for Get,
//    false for Exists, the run ends for Lookup): never an error, never another block's bytes.
//    Errors that are the request's (INVALID_ARGUMENT) still fail the call.
//  - RegisterBuffer registers nothing on the nodes: GetInto / PutFrom move gRPC bytes through
//    each owner (the UCX data plane is used with one node only).
//  - Evict runs on every reachable node and sums; NodeInfo / Stats are the first reachable
//    node's; node(id) reaches one node.
//
// Thread-safe: one Client may be shared by many threads.
#ifndef STRATA_CLIENT_CLIENT_H_
#define STRATA_CLIENT_CLIENT_H_

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "client/node_client.h"
#include "cluster/membership.h"
#include "cluster/placement.h"

namespace strata {

class Client {
 public:
  // Builds the view (ClientOptions) and connects to its nodes in parallel. UNAVAILABLE when no
  // node answers within connect_timeout_ms; nodes that do not answer start marked down.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // As NodeClient's, routed as the header says. One result per key, in the caller's order.
  // `scores`: as NodeClient::Put's (per-token scores for scores-topk pruned views).
  absl::StatusOr<std::vector<absl::Status>> Put(
      std::string_view ns, absl::Span<const PutBlock> blocks,
      absl::Span<const absl::Span<const float>> scores = {});
  absl::StatusOr<std::vector<GetResult>> Get(std::string_view ns,
                                             absl::Span<const std::string> keys,
                                             const GetOptions& get_options = {});
  absl::StatusOr<std::vector<bool>> Exists(std::string_view ns, absl::Span<const std::string> keys);
  absl::StatusOr<std::vector<bool>> Remove(std::string_view ns, absl::Span<const std::string> keys);
  absl::StatusOr<size_t> Lookup(std::string_view ns, absl::Span<const std::string> keys,
                                uint32_t lease_ms = 0);
  // As NodeClient's. Routed: the matched prefix is Lookup's; each owner ranks its share of it
  // by its stored bounds (in parallel) and the answers merge by bound, best first (ties: the
  // earlier key). A matched key that left its owner before it was ranked counts as unranked; an
  // owner that fails as down leaves its keys unranked.
  absl::StatusOr<RankedPrefix> RankBlocks(std::string_view ns, absl::Span<const std::string> keys,
                                          const RankQuery& query);

  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterBuffer(void* ptr, size_t len);
  absl::StatusOr<std::vector<GetIntoResult>> GetInto(std::string_view ns,
                                                     absl::Span<const std::string> keys,
                                                     const RegisteredBuffer& buffer,
                                                     absl::Span<const uint64_t> offsets,
                                                     absl::Span<const uint64_t> capacities);
  absl::StatusOr<std::vector<absl::Status>> PutFrom(std::string_view ns,
                                                    const RegisteredBuffer& buffer,
                                                    absl::Span<const PutFromBlock> blocks,
                                                    absl::Span<const uint64_t> checksums = {});
  std::future<absl::StatusOr<std::vector<GetIntoResult>>> GetIntoAsync(
      std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
      absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities);
  std::future<absl::StatusOr<std::vector<absl::Status>>> PutFromAsync(
      std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks);
  // As NodeClient's, for a one-node view; a routed client has no UCX data plane (false, and
  // FAILED_PRECONDITION).
  bool data_plane_cuda_memory() const;
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterDeviceBuffer(void* ptr, size_t len,
                                                                         bool force = false);
  // "ucx" when GetInto/PutFrom use the UCX data plane (one node with one), "grpc" otherwise.
  std::string_view data_path() const;
  using DataPathCounters = NodeClient::DataPathCounters;
  DataPathCounters data_path_counters() const;

  absl::StatusOr<v1::NodeInfoResponse> NodeInfo();
  absl::StatusOr<v1::StatsResponse> Stats();
  // Cluster-wide: every reachable node evicts the namespace; the counts are summed.
  absl::StatusOr<v1::EvictResponse> Evict(std::string_view ns);

  // The first node's limits (every request is checked against them).
  const RequestLimits& limits() const;
  // The first node's address (ClientOptions::address for a one-node view).
  const std::string& address() const;

  // The view routing uses now; never null.
  std::shared_ptr<const cluster::ClusterView> view() const;
  // The owners of (ns, key) in the current view, best first (ids).
  std::vector<std::string> Owners(std::string_view ns, std::string_view key) const;
  // The connection to the node with this id, connecting when needed: for per-node tools
  // (stratactl cluster status, inspect, drain). NOT_FOUND when the view has no such node,
  // UNAVAILABLE when it does not answer.
  absl::StatusOr<std::shared_ptr<NodeClient>> node(std::string_view id);
  // Whether this client has the node marked down now.
  bool IsDown(std::string_view id) const;

 private:
  struct Peer;
  class Roster;
  explicit Client(const ClientOptions& options);
  // The peer of the view node `record`, created on first use (and replaced when the node's
  // address changed).
  std::shared_ptr<Peer> PeerFor(const cluster::NodeRecord& record);
  // The peer's connection when it is up (connecting now when it never was); null when down.
  std::shared_ptr<NodeClient> Up(Peer& peer);
  // A fresh connection to the peer within timeout_ms, which marks it up; null when it does not
  // answer (the peer stays as it was).
  std::shared_ptr<NodeClient> Reconnect(Peer& peer, uint32_t timeout_ms);
  static void MarkDown(Peer& peer);
  // Every reachable node's connection, in view order.
  std::vector<std::shared_ptr<NodeClient>> Reachable();
  void ProbeLoop();
  void ProbeOnce();
  void RefreshNodeView();
  absl::Status CheckKeys(std::string_view ns, absl::Span<const std::string> keys) const;
  template <typename Block, typename Call>
  absl::StatusOr<std::vector<absl::Status>> RoutedPut(std::string_view ns,
                                                      absl::Span<const Block> blocks, Call call);
  template <typename Result, typename Call>
  absl::StatusOr<std::vector<Result>> RoutedGet(std::string_view ns,
                                                absl::Span<const std::string> keys, Call call);
  template <typename Call>
  absl::StatusOr<std::vector<bool>> RoutedFlags(std::string_view ns,
                                                absl::Span<const std::string> keys, Call call);

  // Constant after construction
  const ClientOptions options_;
  // A client given one node address whose view is that node alone: every call goes straight to
  // it (null otherwise).
  std::shared_ptr<NodeClient> single_;
  // The view's source; null when the view is a node's (node_view_).
  std::shared_ptr<cluster::Membership> membership_;
  RequestLimits limits_;
  std::string first_address_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const cluster::ClusterView> node_view_ ABSL_GUARDED_BY(mu_);
  uint64_t node_view_read_ms_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread prober_;
};

}  // namespace strata

#endif  // STRATA_CLIENT_CLIENT_H_
