// strata::NodeClient: a connection to one cache node's CacheService and AdminService over gRPC,
// and the types the client API shares (options, results, registered buffers). strata::Client
// (client.h) routes over one NodeClient per node of a cluster; with a one-node view it is a
// NodeClient.
//
// Calls are batched and synchronous; each key gets its own result and a miss is not an error.
// Requests are checked against the node's limits before they are sent (INVALID_ARGUMENT naming
// the field, nothing sent), and batches larger than the node's max_batch are split. Transport
// failures come back as the call's status (UNAVAILABLE: retry; DEADLINE_EXCEEDED). Thread-safe:
// one Client may be shared by many threads (gRPC channels multiplex).
#ifndef STRATA_CLIENT_NODE_CLIENT_H_
#define STRATA_CLIENT_NODE_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cluster/membership.h"
#include "cluster/placement.h"
#include "common/block_layout.h"
#include "common/validation.h"
#include "proto/strata.pb.h"

namespace strata {

struct ClientOptions {
  // Where the cluster's view comes from, first match wins:
  //  - `membership` (e.g. an EtcdMembership, or a StaticMembership a test controls);
  //  - `nodes`: a static list of node addresses HOST:PORT;
  //  - `address` alone: the view that node serves (AdminService.ClusterView), refreshed every
  //    view_refresh_ms; a node that answers UNIMPLEMENTED or with source "static" is a cluster
  //    of one. NodeClient uses `address` only.
  //  - `etcd` endpoints (http://HOST:PORT) with the `cluster` name: an EtcdMembership that
  //    watches the cluster's nodes (it registers nothing); Connect fails UNAVAILABLE when no
  //    endpoint answers;
  std::shared_ptr<cluster::Membership> membership;
  std::vector<std::string> etcd;
  std::string cluster;
  std::vector<std::string> nodes;
  // Node address HOST:PORT.
  std::string address = "127.0.0.1:7100";
  // Replicas per namespace (cluster/placement.h).
  cluster::PlacementOptions placement;
  // How often a node marked down is probed, and how often a node-served view is re-read.
  uint32_t probe_interval_ms = 1'000;
  uint32_t view_refresh_ms = 5'000;
  // Per-call deadline.
  uint32_t deadline_ms = 30'000;
  // How long Connect waits for the node to answer.
  uint32_t connect_timeout_ms = 5'000;
  // NodeClient::Connect gives up at the first refused connection instead of retrying until
  // connect_timeout_ms. The cluster client sets it for its nodes, so a dead node is marked down
  // at once rather than holding up every Connect.
  bool connect_fail_fast = false;
  // PEM CA to verify a TLS node; empty: plaintext.
  std::string tls_ca_file;
  // Client certificate and key (PEM) for a node that requires them (strata-node
  // --tls-client-ca); both or neither, and only with tls_ca_file.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Token sent with every call as "authorization: Bearer <token>" gRPC metadata (for nodes with
  // --auth-tokens), including the data plane's Hello: its UCX session then carries the token's
  // grants. Empty: none (such a node answers UNAUTHENTICATED).
  std::string token;
  // Ask the node for blocks as stored (compressed or quantized) and decode them here, so fewer
  // bytes cross the network. Every decoded block is checked against its checksum.
  bool accept_encoded = false;
  // Largest message the client accepts (a batch's payloads together).
  uint64_t max_message_bytes = 512ull << 20;
  // How GetInto/PutFrom move bytes. kAuto: the UCX data plane when the node offers it and UCX
  // works here, gRPC bytes otherwise, and gRPC bytes for a call whose UCX attempts failed.
  enum class DataPath { kAuto, kUcx, kGrpc };
  DataPath data_path = DataPath::kAuto;
  // UCX attempts per call before giving up (kUcx) or falling back (kAuto); each failed attempt
  // opens a new session (Hello, re-register) first.
  int ucx_attempts = 3;
  // Over UCX, send the GetInto/PutFrom requests themselves as UCX messages when the node takes
  // them (one message each way, from a second worker of the client's transport), instead of as
  // gRPC calls around the transfer. Hello and buffer registration stay on gRPC.
  bool ucx_messages = true;
  // The client's UCX progress thread spins instead of sleeping between events: the lowest
  // latency per call, one core burnt while the client lives.
  bool ucx_busy_poll = false;
};

class DataSession;

// Memory registered for GetInto/PutFrom (NodeClient::RegisterBuffer). Deregisters on destruction.
// REQUIRES: the Client outlives it, and the memory stays valid while it lives.
class RegisteredBuffer {
 public:
  ~RegisteredBuffer();
  RegisteredBuffer(const RegisteredBuffer&) = delete;
  RegisteredBuffer& operator=(const RegisteredBuffer&) = delete;
  char* data() const { return data_; }
  size_t size() const { return size_; }
  // Registered with RegisterDeviceBuffer: GPU memory the host must not read or write.
  bool device() const { return device_; }

 private:
  friend class NodeClient;
  friend class Client;
  RegisteredBuffer(DataSession* session, char* data, size_t size, uint64_t id,
                   bool device = false)
      : session_(session), data_(data), size_(size), id_(id), device_(device) {}
  DataSession* const session_;  // null on the gRPC path
  char* const data_;
  const size_t size_;
  const uint64_t id_;
  const bool device_;
};

// One key's outcome of GetInto: OK with the block's size at its offset, NOT_FOUND (a miss),
// OUT_OF_RANGE (the block is `size` bytes, more than the capacity given), or the key's error.
struct GetIntoResult {
  absl::Status status;
  uint64_t size = 0;
  BlockLayout layout;
  std::string tier;
  bool found() const { return status.ok(); }
};

struct PutFromBlock {
  std::string_view key;
  std::string_view parent;  // "" for a chain's first block
  BlockLayout layout;       // opaque by default
  uint64_t offset = 0;      // where the block's bytes are in the buffer
  uint64_t size = 0;
};

struct PutBlock {
  std::string_view key;
  std::string_view parent;  // "" for a chain's first block
  BlockLayout layout;       // opaque by default
  std::string_view payload;
};

// A query for ranking a prefix's blocks by their stored Quest page bounds (docs/pruning.md).
struct RankQuery {
  uint32_t layer = 0;
  uint32_t head = 0;         // KV head
  std::vector<float> query;  // head_dim finite values
  size_t top_n = 1;
};

// What RankBlocks answers: the Lookup of the keys, and the top blocks of the matched prefix.
struct RankedPrefix {
  size_t matched = 0;          // leading keys present, as Lookup
  std::vector<size_t> ranked;  // indices into the keys (< matched), best first, <= top_n
  std::vector<float> bounds;   // Quest's upper bound on q.k of each ranked block
  size_t unranked = 0;         // matched blocks without stored page bounds
};

struct GetOptions {
  // Ask for each block's pruned view (docs/pruning.md); keys without one get the full block,
  // and GetResult::view says which came back.
  bool view = false;
};

struct GetResult {
  absl::Status status;  // OK, NOT_FOUND (a miss) or the key's error
  std::string payload;
  BlockLayout layout;
  std::string tier;  // where the node found it
  // True when `payload` is the block's pruned view (kernels/pruned_view_format.h:
  // DecodePrunedView reads it), never unless GetOptions::view asked for it.
  bool view = false;
  bool found() const { return status.ok(); }
};

// The checks GetInto / PutFrom make before sending anything (INVALID_ARGUMENT naming the field),
// for callers that move a batch in several calls and must refuse it whole (client/gpu_client.h).
absl::Status CheckGetIntoBatch(std::string_view ns, const RequestLimits& limits,
                               absl::Span<const std::string> keys, uint64_t buffer_size,
                               absl::Span<const uint64_t> offsets,
                               absl::Span<const uint64_t> capacities);
absl::Status CheckPutFromBatch(std::string_view ns, const RequestLimits& limits,
                               uint64_t buffer_size, absl::Span<const PutFromBlock> blocks);

class NodeClient {
 public:
  // Connects and reads the node's limits (NodeInfo). UNAVAILABLE when the node does not answer
  // within connect_timeout_ms.
  static absl::StatusOr<std::unique_ptr<NodeClient>> Connect(const ClientOptions& options);
  ~NodeClient();

  // One status per block, same order. `scores`: empty, or one span per block (empty for a
  // block without) of per-token scores for a namespace whose pruned view is scores-topk
  // (docs/pruning.md): [layer][kv_head][token], finite; the node checks them.
  absl::StatusOr<std::vector<absl::Status>> Put(
      std::string_view ns, absl::Span<const PutBlock> blocks,
      absl::Span<const absl::Span<const float>> scores = {});
  absl::StatusOr<std::vector<GetResult>> Get(std::string_view ns,
                                             absl::Span<const std::string> keys,
                                             const GetOptions& get_options = {});
  absl::StatusOr<std::vector<bool>> Exists(std::string_view ns, absl::Span<const std::string> keys);
  absl::StatusOr<std::vector<bool>> Remove(std::string_view ns, absl::Span<const std::string> keys);
  // Number of leading keys present; with lease_ms > 0 the node keeps them for that long.
  absl::StatusOr<size_t> Lookup(std::string_view ns, absl::Span<const std::string> keys,
                                uint32_t lease_ms = 0);
  // Lookup of a prefix chain plus the top_n matched blocks for `query` by the page bounds the
  // node stored with them (LookupRequest.rank), without fetching any block. INVALID_ARGUMENT
  // naming rank.* for a query that does not fit the stored bounds.
  absl::StatusOr<RankedPrefix> RankBlocks(std::string_view ns, absl::Span<const std::string> keys,
                                          const RankQuery& query);

  // Zero-copy transfers (docs/data-plane.md section 7). RegisterBuffer registers [ptr, ptr+len)
  // once (slow: register few, large buffers). GetInto writes each key's block at offsets[i]
  // (at most capacities[i] bytes); PutFrom stores blocks from the buffer. Both are batched
  // like Get/Put, validate before sending (INVALID_ARGUMENT naming the field), and never leave
  // wrong bytes behind a key answered OK. The async forms run the call on another thread: keys,
  // spans and the buffer must outlive the future.
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterBuffer(void* ptr, size_t len);
  absl::StatusOr<std::vector<GetIntoResult>> GetInto(std::string_view ns,
                                                     absl::Span<const std::string> keys,
                                                     const RegisteredBuffer& buffer,
                                                     absl::Span<const uint64_t> offsets,
                                                     absl::Span<const uint64_t> capacities);
  // `checksums`: each block's checksum (common/checksum.h), one per block, required for a device
  // buffer (RegisteredBuffer::device()), whose bytes the client cannot read; empty otherwise
  // (the client computes them).
  absl::StatusOr<std::vector<absl::Status>> PutFrom(std::string_view ns,
                                                    const RegisteredBuffer& buffer,
                                                    absl::Span<const PutFromBlock> blocks,
                                                    absl::Span<const uint64_t> checksums = {});
  std::future<absl::StatusOr<std::vector<GetIntoResult>>> GetIntoAsync(
      std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
      absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities);
  std::future<absl::StatusOr<std::vector<absl::Status>>> PutFromAsync(
      std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks);
  // Whether the UCX data plane can register CUDA device memory (UCX built with CUDA support:
  // ucp_context_query lists UCS_MEMORY_TYPE_CUDA). False on the gRPC path and with Debian's UCX.
  bool data_plane_cuda_memory() const;
  // Registers device memory [ptr, ptr+len) directly with the UCX data plane, so the node reads
  // and writes it without host staging (client/gpu_client.h decides when). The buffer never
  // moves as gRPC bytes: a call that would fall back fails instead, and PutFrom needs each
  // block's checksum (PutFrom's `checksums`). FAILED_PRECONDITION without a UCX data plane.
  // `force`: register even when UCX does not report CUDA support (for a caller that knows
  // better, or the in-memory copier twin whose "device" memory is host memory).
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterDeviceBuffer(void* ptr, size_t len,
                                                                         bool force = false);
  // "ucx" when GetInto/PutFrom use the UCX data plane, "grpc" otherwise.
  std::string_view data_path() const { return data_ ? "ucx" : "grpc"; }
  struct DataPathCounters {
    uint64_t ucx_calls = 0;      // batches moved over UCX
    uint64_t grpc_calls = 0;     // batches moved as gRPC bytes (path or fallback)
    uint64_t fallbacks = 0;      // batches that fell back after UCX attempts failed
    uint64_t sessions = 0;       // sessions opened (Hello), 1 + reconnects
    uint64_t message_calls = 0;  // UCX batches whose request and reply were UCX messages
  };
  DataPathCounters data_path_counters() const;

  absl::StatusOr<v1::NodeInfoResponse> NodeInfo();
  absl::StatusOr<v1::StatsResponse> Stats();
  absl::StatusOr<v1::EvictResponse> Evict(std::string_view ns);

  // Starts a Lookup of one batch and returns at once; `done` runs once, on a gRPC thread, with
  // the matched count or the call's status. The cluster client uses it to ask every owner in
  // one round without a thread per owner. REQUIRES: `keys` already validated (CheckKeys rules),
  // 1 <= keys.size() <= limits().max_batch, and this NodeClient outlives the call.
  void StartLookup(std::string_view ns, absl::Span<const std::string> keys, uint32_t lease_ms,
                   std::function<void(absl::StatusOr<size_t>)> done);

  // The cluster as the node sees it (UNIMPLEMENTED from a node that predates clusters).
  absl::StatusOr<v1::ClusterViewResponse> ClusterView();
  // One block as the node holds it (stratactl inspect).
  absl::StatusOr<v1::InspectResponse> Inspect(std::string_view ns, std::string_view key);
  // Asks the node to drain and calls `progress` with each message until the last (done) one or
  // the stream breaks; no deadline unless timeout_ms > 0. The status is the stream's.
  absl::Status Drain(bool exit_when_done, uint32_t timeout_ms,
                     const std::function<void(const v1::DrainProgress&)>& progress);

  const RequestLimits& limits() const { return limits_; }
  const std::string& address() const { return options_.address; }

 private:
  friend class DataSession;
  struct Stubs;
  NodeClient(const ClientOptions& options, std::unique_ptr<Stubs> stubs);
  absl::Status StartDataPlane(const v1::NodeInfoResponse& info);
  absl::Status CheckGetInto(std::string_view ns, absl::Span<const std::string> keys,
                            const RegisteredBuffer& buffer, absl::Span<const uint64_t> offsets,
                            absl::Span<const uint64_t> capacities) const;
  absl::Status CheckPutFrom(std::string_view ns, const RegisteredBuffer& buffer,
                            absl::Span<const PutFromBlock> blocks,
                            absl::Span<const uint64_t> checksums) const;
  template <typename Result, typename Ucx, typename Grpc>
  absl::StatusOr<std::vector<Result>> Batched(size_t items, const RegisteredBuffer& buffer, Ucx ucx,
                                              Grpc grpc);
  template <typename Result, typename Attempt>
  absl::StatusOr<std::vector<Result>> OnSession(const RegisteredBuffer& buffer, Attempt attempt);
  // One batch (at most max_batch keys) over UCX; UNAVAILABLE after ucx_attempts failures.
  absl::StatusOr<std::vector<GetIntoResult>> GetIntoUcx(std::string_view ns,
                                                        absl::Span<const std::string> keys,
                                                        const RegisteredBuffer& buffer,
                                                        absl::Span<const uint64_t> offsets,
                                                        absl::Span<const uint64_t> capacities);
  absl::StatusOr<std::vector<GetIntoResult>> GetIntoGrpc(std::string_view ns,
                                                         absl::Span<const std::string> keys,
                                                         const RegisteredBuffer& buffer,
                                                         absl::Span<const uint64_t> offsets,
                                                         absl::Span<const uint64_t> capacities);
  absl::StatusOr<std::vector<absl::Status>> PutFromUcx(std::string_view ns,
                                                       const RegisteredBuffer& buffer,
                                                       absl::Span<const PutFromBlock> blocks,
                                                       absl::Span<const uint64_t> checksums);
  absl::StatusOr<std::vector<absl::Status>> PutFromGrpc(std::string_view ns,
                                                        const RegisteredBuffer& buffer,
                                                        absl::Span<const PutFromBlock> blocks);
  absl::Status CheckKeys(std::string_view ns, absl::Span<const std::string> keys) const;
  template <typename Request, typename Response, typename Rpc, typename Field>
  absl::StatusOr<std::vector<bool>> KeyedFlags(std::string_view ns,
                                               absl::Span<const std::string> keys, Rpc rpc,
                                               Field field);

  const ClientOptions options_;
  std::unique_ptr<Stubs> stubs_;
  RequestLimits limits_;
  // The smaller of ours and the node's: no request is built larger than both accept.
  uint64_t max_message_bytes_ = 0;
  // The UCX side of the data plane; null on the gRPC path.
  std::unique_ptr<DataSession> data_;
  std::atomic<uint64_t> ucx_calls_{0}, grpc_calls_{0}, fallbacks_{0};
};

}  // namespace strata

#endif  // STRATA_CLIENT_NODE_CLIENT_H_
