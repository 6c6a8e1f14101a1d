// LiveNodeBackend: the replay's ReplayBackend over a running node, through strata::Client.
//
// Per request: Lookup the request's block keys (the leading run present is the hit), Get those
// blocks (checking every byte, and counting which tier served each), then Put the missing blocks
// with their parent links. Keys are the trace's hash ids as 8 big-endian bytes; payloads are a
// pure function of the id and `block_bytes`, so any wrong byte is detected. A block the node
// refuses for capacity counts as unstored. Thread-compatible.
//
// Layouts: when block_bytes is a multiple of 2 x block_tokens, each block is sent with a shaped
// layout (an MLA-latent bf16 layout of one layer, head_dim = block_bytes / (2 x block_tokens))
// carrying its token count, as a real connector's would, so the node's policies see a prompt's
// partial last block for what it is; its payload is then tokens x 2 x head_dim bytes (smaller
// than a full block). Otherwise blocks are opaque and all block_bytes long.
#ifndef STRATA_CLUSTER_REPLAY_LIVE_BACKEND_H_
#define STRATA_CLUSTER_REPLAY_LIVE_BACKEND_H_

#include <map>
#include <memory>
#include <string>

#include "client/client.h"
#include "stratactl/replay/replay.h"

namespace strata::replay {

class LiveNodeBackend final : public ReplayBackend {
 public:
  // `client` must outlive the backend.
  LiveNodeBackend(Client* client, std::string ns, const BlockGeometry& geometry);

  std::string Describe() const override;
  absl::StatusOr<RequestOutcome> Serve(const TraceRequest& request) override;

  // Hit blocks per tier name ("dram", "ssd").
  const std::map<std::string, uint64_t>& tier_hits() const { return tier_hits_; }
  // Bytes that came back different from what was stored (must stay 0).
  uint64_t wrong_blocks() const { return wrong_blocks_; }

  static std::string KeyFor(uint64_t hash_id);
  // The layout and payload size of a block of `tokens` tokens under `geometry` (above).
  static BlockLayout LayoutFor(const BlockGeometry& geometry, uint32_t tokens);
  static uint64_t PayloadBytesFor(const BlockGeometry& geometry, uint32_t tokens);
  static std::string PayloadFor(uint64_t hash_id, uint64_t bytes);

 private:
  Client* const client_;
  const std::string ns_;
  const BlockGeometry geometry_;
  std::map<std::string, uint64_t> tier_hits_;
  uint64_t wrong_blocks_ = 0;
};

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_LIVE_BACKEND_H_
