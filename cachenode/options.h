// NodeOptions: everything a strata-node is told at start, with documented defaults. Filled from
// the embedded defaults, then a YAML file (--config), then flags — in main() only. Plain value
// type; thread-compatible.
#ifndef STRATA_CACHENODE_OPTIONS_H_
#define STRATA_CACHENODE_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/net.h"  // IsLoopbackHost
#include "common/validation.h"
#include "kernels/pruning.h"
#include "storage/eviction_policy.h"
#include "transfer/fault_transport.h"

namespace strata {

struct TierOptions {
  // Eviction policy by name (storage/eviction_policy.h); the default is the recommended one,
  // kRecommendedEvictionPolicy (docs/prefix.md).
  std::string policy = kRecommendedEvictionPolicy;
  // Codec blocks are stored with in this tier (kernels/codec.h); must be lossless.
  std::string codec = "raw";
  // Fractions of capacity: above high, victims leave until usage is at or below low.
  double high_watermark = 0.95;
  double low_watermark = 0.85;
};

struct DataPlaneOptions {
  // Off: Hello and the transfer calls answer UNIMPLEMENTED; clients use Get/Put.
  bool enabled = true;
  // UCX transports: "tcp" (endpoints with peer-failure handling: a dying client cannot harm the
  // node) or "shm" (shared memory + CMA, so clients on this host only: faster, but with UCX 1.13 a
  // client dying in the middle of a copy aborts the node; see docs/data-plane.md).
  std::string tls = "tcp";
  // Registered bounce area for blocks that cannot be sent in place (SSD, encoded) and for Puts.
  uint64_t staging_bytes = 64ull << 20;
  // Sessions unused this long are dropped (their keys and regions with them).
  uint32_t session_idle_ms = 600'000;
  // Deadline of one batch of transfers.
  uint32_t transfer_timeout_ms = 10'000;
  // How the node's UCX progress thread waits: "event" (sleeps in epoll; idle costs nothing) or
  // "busy" (spins: the lowest latency per call, one core burnt; for a node with cores to spare).
  std::string progress = "event";
  // Accept GetInto / PutFrom as DataPlaneCall messages on the session's UCX connection (one
  // message each way instead of a gRPC round trip around the transfer). Off: gRPC calls only.
  bool messages = true;
  // Threads that serve message calls which may block (SSD reads, staging waits, PutFrom's
  // store). Calls whose blocks all sit in DRAM as stored are served on the progress thread.
  uint32_t call_threads = 2;
  // UCX does not encrypt. When gRPC uses TLS (tls_cert set) the data plane stays off unless this
  // is true, so block bytes never cross the network in the clear without the operator's say.
  bool allow_plaintext = false;
  // Injected faults (chaos testing; transfer/fault_transport.h). All zero: none.
  transfer::FaultPolicy fault;
};

struct NodeOptions {
  // gRPC address. Port 0 picks a free port (see port_file).
  std::string listen = "127.0.0.1:7100";
  // Written with the bound port once the node serves.
  std::string port_file;
  // Prometheus /metrics. Empty: the listen host with the listen port + 80 (port 0 stays 0).
  // "off" disables it.
  std::string metrics_listen;
  std::string node_id;  // default: the advertised address

  uint64_t dram_bytes = 1ull << 30;
  uint64_t dram_page_bytes = 4096;
  std::string ssd_dir = "./strata-data";
  uint64_t ssd_bytes = 8ull << 30;  // 0 turns the SSD tier off
  uint64_t hbm_bytes = 0;           // 0 turns the HBM tier off
  TierOptions dram;
  TierOptions ssd{.codec = "shuffle-zstd"};
  // Per-namespace codecs (lossy ones only here): namespaces starting with `prefix` use `codec`
  // in `tier` ("dram" or "ssd").
  struct NamespaceCodec {
    std::string prefix;
    std::string tier;
    std::string codec;
  };
  std::vector<NamespaceCodec> namespace_codecs;
  // Per-namespace pruned views at a tier boundary (storage/pruned_views.h, docs/pruning.md):
  // namespaces starting with `prefix` keep each kv block whole in `full_tier` and a pruned view
  // of it in `view_tier`. YAML `pruned_views: [{prefix, selector, budget, ...}]`.
  struct PrunedView {
    std::string prefix;
    std::string selector = "sink-window";  // sink-window, scores-topk, keynorm
    // Tokens kept per (layer, head): a count ("64") or a share of the block ("25%").
    std::string budget = "25%";
    std::string shape = "constant";  // or "pyramid"
    double beta = 20.0;              // pyramid: the last layer keeps budget / beta
    int64_t sink_tokens = 4;         // sink-window
    int64_t pool_window = 7;         // scores-topk
    std::string view_tier = "dram";
    std::string full_tier = "ssd";
    bool page_bounds = false;  // also keep Quest page bounds (ranked by Lookup)
  };
  std::vector<PrunedView> pruned_views;
  bool promote_on_hit = true;
  size_t index_shards = 8;

  RequestLimits limits;
  // Largest gRPC message the node accepts or sends (a batch's payloads together). The node uses
  // min(max_message_bytes, the in-flight budget): see EffectiveMaxMessageBytes().
  uint64_t max_message_bytes = 512ull << 20;

  // Overload protection of the gRPC port (limits.* in YAML; README "Configuration").
  //
  // In-flight budget: payload bytes of Put requests being stored plus Get responses built and not
  // yet sent, over all calls together. A call that would go over it is answered
  // RESOURCE_EXHAUSTED naming the budget (back off); nothing grows. It also caps the largest
  // gRPC message and sizes gRPC's own memory quota, since gRPC holds a request whole before the
  // handler sees it. 0 (default): min(max(DRAM / 4, 64 MiB), 1 GiB), and never less than one
  // maximal message (limits.max_payload + 4 KiB). See EffectiveInflightBytes().
  uint64_t inflight_bytes = 0;
  // Connections that have not finished the HTTP/2 (and TLS) handshake by then are closed, so
  // connections that send nothing cannot hold file descriptors for long.
  uint32_t handshake_timeout_ms = 10'000;
  // Connections with no call for this long are closed (clients reconnect transparently).
  uint32_t max_connection_idle_ms = 300'000;
  // Concurrent calls on one connection.
  uint32_t max_concurrent_streams = 256;
  // Every this often the node checks that its gRPC listener still accepts (gRPC 1.51 stops
  // accepting for good after accept() fails with EMFILE) and restarts the server on the same
  // port when it does not. 0 turns the check off.
  uint32_t listener_check_ms = 1000;
  uint32_t max_lease_ms = 60'000;
  uint64_t max_leased_bytes = 0;  // 0: half of DRAM

  // The UCX data plane (Hello, GetInto, PutFrom).
  DataPlaneOptions data_plane;

  // Graceful shutdown: in-flight calls get this long to finish.
  uint32_t shutdown_grace_ms = 5000;

  // Cluster (etcd membership, cachenode/cluster_agent.h). With `etcd` set the node joins
  // cluster `cluster` (both required together) and publishes `advertise` (default: the bound
  // listen address) as the address clients dial.
  std::vector<std::string> etcd;
  std::string cluster;
  std::string advertise;
  struct ClusterTuning {
    // Lease TTL of the node's record: how long a crashed node stays in the views.
    uint32_t lease_ttl_s = 5;
    // How often the record's usage is refreshed.
    uint32_t heartbeat_ms = 1000;
    // Replicas per block when a drain hands blocks over; clients must place with the same
    // number (stratactl --replicas, ClientOptions::placement).
    int replicas = 1;
  } cluster_tuning;

  // Security (docs/security.md).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Token file (cachenode/auth.h): every call then needs a token granting its namespace.
  // Re-read on SIGHUP.
  std::string auth_tokens;
  // Quota file (cachenode/quotas.h): bytes per tier and requests per second per namespace
  // prefix. Re-read on SIGHUP. Empty: no quotas.
  std::string quotas;
  // A file holding the token (one line) this node sends on its own calls to other nodes (a
  // drain's Puts); their token files must grant it namespaces ["*"]. Empty: none.
  std::string peer_token_file;
  // PEM CA that signed the other nodes' certificates: this node's calls to them (a drain's Puts)
  // use TLS and verify them. Empty: plaintext. (Peers cannot present client certificates yet.)
  std::string peer_tls_ca;
  // Serve on a non-loopback address without TLS or without tokens. Off (the default), such a
  // node refuses to start: anyone who reaches the port could read, overwrite and evict every
  // namespace, or read tokens and blocks off the wire.
  bool insecure = false;

  // INVALID_ARGUMENT naming the option when a value is out of range or options conflict.
  absl::Status Validate() const;
  // The metrics address after applying the default rule; empty when disabled.
  std::string EffectiveMetricsListen() const;
  // inflight_bytes after applying the default rule above.
  uint64_t EffectiveInflightBytes() const;
  // The gRPC message limit in force: min(max_message_bytes, EffectiveInflightBytes()).
  uint64_t EffectiveMaxMessageBytes() const;
};

// Applies a YAML config file over `options`. INVALID_ARGUMENT naming the file and the key for
// unknown keys, wrong types or bad values; NOT_FOUND when the file cannot be read.
absl::Status ApplyConfigFile(const std::string& path, NodeOptions* options);

// Splits "host:port" (IPv6 as "[::1]:port"). INVALID_ARGUMENT naming `field`.
// One pruned_views entry checked and turned into kernel options (tiers still by name; the node
// maps them to its store's tiers). INVALID_ARGUMENT naming pruned_views[i].field.
struct ParsedPrunedView {
  std::string prefix;
  PruneOptions prune;
  double budget_fraction = 0.0;  // 0: prune.budget_tokens
  std::string view_tier, full_tier;
  bool page_bounds = false;
};
absl::StatusOr<ParsedPrunedView> ParsePrunedView(const NodeOptions::PrunedView& pv, size_t i);

absl::Status SplitHostPort(const std::string& address, std::string_view field, std::string* host,
                           int* port);

}  // namespace strata

#endif  // STRATA_CACHENODE_OPTIONS_H_
