// strata::Client: a connection to one cache node's CacheService and AdminService over gRPC.
//
// Calls are batched and synchronous; each key gets its own result and a miss is not an error.
// Requests are checked against the node's limits before they are sent (INVALID_ARGUMENT naming
// the field, nothing sent), and batches larger than the node's max_batch are split. Transport
// failures come back as the call's status (UNAVAILABLE: retry; DEADLINE_EXCEEDED). Thread-safe:
// one Client may be shared by many threads (gRPC channels multiplex).
#ifndef STRATA_CLIENT_CLIENT_H_
#define STRATA_CLIENT_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/block_layout.h"
#include "common/validation.h"
#include "proto/strata.pb.h"

namespace strata {

struct ClientOptions {
  // Node address HOST:PORT.
  std::string address = "127.0.0.1:7100";
  // Per-call deadline.
  uint32_t deadline_ms = 30'000;
  // How long Connect waits for the node to answer.
  uint32_t connect_timeout_ms = 5'000;
  // PEM CA to verify a TLS node; empty: plaintext.
  std::string tls_ca_file;
  // Bearer token sent with every call (for nodes with auth on); empty: none.
  std::string token;
  // Ask the node for blocks as stored (compressed or quantized) and decode them here, so fewer
  // bytes cross the network. Every decoded block is checked against its checksum.
  bool accept_encoded = false;
  // Largest message the client accepts (a batch's payloads together).
  uint64_t max_message_bytes = 512ull << 20;
};

struct PutBlock {
  std::string_view key;
  std::string_view parent;  // "" for a chain's first block
  BlockLayout layout;       // opaque by default
  std::string_view payload;
};

struct GetResult {
  absl::Status status;  // OK, NOT_FOUND (a miss) or the key's error
  std::string payload;
  BlockLayout layout;
  std::string tier;  // where the node found it
  bool found() const { return status.ok(); }
};

class Client {
 public:
  // Connects and reads the node's limits (NodeInfo). UNAVAILABLE when the node does not answer
  // within connect_timeout_ms.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();

  // One status per block, same order.
  absl::StatusOr<std::vector<absl::Status>> Put(std::string_view ns,
                                                absl::Span<const PutBlock> blocks);
  absl::StatusOr<std::vector<GetResult>> Get(std::string_view ns,
                                             absl::Span<const std::string> keys);
  absl::StatusOr<std::vector<bool>> Exists(std::string_view ns, absl::Span<const std::string> keys);
  absl::StatusOr<std::vector<bool>> Remove(std::string_view ns, absl::Span<const std::string> keys);
  // Number of leading keys present; with lease_ms > 0 the node keeps them for that long.
  absl::StatusOr<size_t> Lookup(std::string_view ns, absl::Span<const std::string> keys,
                                uint32_t lease_ms = 0);

  absl::StatusOr<v1::NodeInfoResponse> NodeInfo();
  absl::StatusOr<v1::StatsResponse> Stats();
  absl::StatusOr<v1::EvictResponse> Evict(std::string_view ns);

  const RequestLimits& limits() const { return limits_; }
  const std::string& address() const { return options_.address; }

 private:
  struct Stubs;
  Client(const ClientOptions& options, std::unique_ptr<Stubs> stubs);
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
};

}  // namespace strata

#endif  // STRATA_CLIENT_CLIENT_H_
