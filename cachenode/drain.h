// Drain: hands a leaving node's blocks to their owners in the cluster without it.
//
// DrainBlocks reads the store's resident blocks hottest first (TieredStore::ListBlocks), each
// through TieredStore::Get (so a block whose checksum fails is dropped, never copied), and stores
// it on its owners: cluster::Owners over the view's active nodes, which never include a draining
// node, R replicas per the placement options. Blocks move in chunks of at most `chunk_bytes`, so
// the drain holds at most that much payload in memory; within a chunk each (owner, namespace)
// group is one CacheService.Put call. A block counts as moved when at least one owner stored it;
// one that no owner took (owner down, full) counts as failed and becomes a miss once this node is
// gone -- never wrong data. Blocks stored while the drain runs are picked up by a second pass.
//
// Where blocks go is a BlockSink: GrpcBlockSink calls the owners' CacheService over gRPC bytes;
// tests substitute their own. Thread-compatible: one drain at a time per store.
#ifndef STRATA_CACHENODE_DRAIN_H_
#define STRATA_CACHENODE_DRAIN_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cluster/node_record.h"
#include "cluster/placement.h"
#include "proto/strata.grpc.pb.h"
#include "storage/tiered_store.h"

namespace strata {

struct DrainOptions {
  cluster::PlacementOptions placement;
  // Most payload bytes read before they are sent (the drain's memory bound), and most blocks.
  uint64_t chunk_bytes = 16ull << 20;
  size_t chunk_blocks = 256;
  // Passes over the index: later ones pick up blocks stored while the previous one ran.
  int passes = 2;
};

struct DrainCounts {
  uint64_t blocks_total = 0;
  uint64_t blocks_moved = 0;
  uint64_t blocks_failed = 0;
  uint64_t bytes_moved = 0;
};

// Where drained blocks go.
class BlockSink {
 public:
  virtual ~BlockSink() = default;
  // Stores `request` (one namespace) on `owner`: one status per item, or the call's error.
  virtual absl::StatusOr<std::vector<absl::Status>> Put(const cluster::NodeRecord& owner,
                                                        const v1::PutRequest& request) = 0;
};

// How a node calls other nodes (docs/security.md "Node to node").
struct PeerCredentials {
  // Sent as "authorization: Bearer <token>" when set, for owners with token auth on: their token
  // files must grant it every namespace ("*").
  std::string token;
  // PEM CA that signed the owners' certificates: when set, calls use TLS and verify the owner;
  // empty: plaintext.
  std::string tls_ca_pem;
};

// CacheService.Put over gRPC, one channel per owner address (kept for the sink's life).
// Thread-safe.
class GrpcBlockSink final : public BlockSink {
 public:
  explicit GrpcBlockSink(uint32_t call_timeout_ms = 30'000,
                         uint64_t max_message_bytes = 512ull << 20, PeerCredentials peer = {})
      : call_timeout_ms_(call_timeout_ms),
        max_message_bytes_(max_message_bytes),
        peer_(std::move(peer)) {}
  absl::StatusOr<std::vector<absl::Status>> Put(const cluster::NodeRecord& owner,
                                                const v1::PutRequest& request) override;

 private:
  v1::CacheService::Stub* StubFor(const std::string& address);

  const uint32_t call_timeout_ms_;
  const uint64_t max_message_bytes_;
  const PeerCredentials peer_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<v1::CacheService::Stub>> stubs_
      ABSL_GUARDED_BY(mu_);
};

// Runs the drain; `progress` is called after every chunk with the counts so far. `self_id` is
// never chosen as an owner even when the view still lists it as active. When `cancelled`
// answers true (checked before each block) the drain stops after sending what it has read.
DrainCounts DrainBlocks(TieredStore& store, const cluster::ClusterView& view,
                        std::string_view self_id, const DrainOptions& options, BlockSink& sink,
                        const std::function<void(const DrainCounts&)>& progress,
                        const std::function<bool()>& cancelled = nullptr);

}  // namespace strata

#endif  // STRATA_CACHENODE_DRAIN_H_
