// S3FifoPolicy ("s3fifo"): three static queues (Yang et al., SOSP'23).
//
// - small: a FIFO that new blocks enter; it is kept at about kSmallShare of the tracked blocks.
// - main: a FIFO with a 2-bit access counter per block, managed as a CLOCK: a block at its tail
//   with a non-zero counter is decremented and moved back to the head instead of leaving.
// - ghost: the key hashes (BlockInfo::key_hash) of blocks that left the small queue unused,
//   bounded to as many entries as there are tracked blocks. A block re-inserted while its hash
//   is in the ghost goes straight to main.
//
// When the small queue is over its share, its tail is examined first: a block that was accessed
// while in small is promoted to main; one that was not (a one-hit wonder) is the victim, and its
// hash enters the ghost when it leaves. Otherwise the victim comes from main. Blocks that
// `can_evict` rejects are skipped in place.
//
// The two queues are lists linked by index through one vector of nodes that also hold each
// block's queue and counter, so walking a queue's tail needs no map lookup and a block costs no
// allocation once the vector has grown. Memory per tracked block: its map slot (16 bytes) and
// node (32 bytes), 50-100 bytes with the map's load factor and the vector's growth, plus the
// ghost (at most one entry per tracked block: a 16-byte slot and an 8-byte queue entry).
// Thread-compatible.
#ifndef STRATA_STORAGE_EVICTION_S3FIFO_H_
#define STRATA_STORAGE_EVICTION_S3FIFO_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "storage/eviction_policy.h"

namespace strata {

class S3FifoPolicy final : public EvictionPolicy {
 public:
  // Target share of the small queue in the tracked blocks.
  static constexpr double kSmallShare = 0.1;
  // Saturation of main's access counter.
  static constexpr uint8_t kMaxFreq = 3;

  std::string_view name() const override { return "s3fifo"; }
  void OnInsert(BlockId id, const BlockInfo& info) override;
  void OnAccess(BlockId id) override;
  void OnErase(BlockId id) override;
  std::optional<BlockId> PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) override;
  size_t size() const override { return blocks_.size(); }

  bool TEST_in_main(BlockId id) const;
  bool TEST_in_ghost(uint64_t key_hash) const;

 private:
  enum class Queue : uint8_t { kSmall, kMain };
  // nodes_[kSmallHead] and nodes_[kMainHead] are the queues' heads: `next` is the newest block
  // (the front), `prev` the oldest (the tail).
  struct Node {
    BlockId id = 0;
    uint64_t key_hash = 0;
    uint32_t prev = 0;
    uint32_t next = 0;
    Queue queue = Queue::kSmall;
    uint8_t freq = 0;
  };
  static constexpr uint32_t kSmallHead = 0;
  static constexpr uint32_t kMainHead = 1;

  std::optional<BlockId> PickFromSmall(absl::FunctionRef<bool(BlockId)> can_evict);
  std::optional<BlockId> PickFromMain(absl::FunctionRef<bool(BlockId)> can_evict);
  void AddGhost(uint64_t key_hash);
  void Unlink(uint32_t node);
  // Links `node` at the front of the queue whose head is `head`, and sets its queue.
  void LinkFront(uint32_t head, uint32_t node);

  // Tracked blocks: their node in nodes_.
  absl::flat_hash_map<BlockId, uint32_t> blocks_;
  std::vector<Node> nodes_ = {Node{0, 0, kSmallHead, kSmallHead, Queue::kSmall, 0},
                              Node{0, 0, kMainHead, kMainHead, Queue::kMain, 0}};
  std::vector<uint32_t> free_nodes_;
  size_t small_size_ = 0;
  size_t main_size_ = 0;
  // Ghost: key hash -> its copies in ghost_order_ (a hash may be queued more than once) and
  // whether it is still remembered (a ghost hit consumes it; its copies drain later).
  struct Ghost {
    uint32_t copies = 0;
    bool live = false;
  };
  absl::flat_hash_map<uint64_t, Ghost> ghost_;
  std::deque<uint64_t> ghost_order_;
};

}  // namespace strata

#endif  // STRATA_STORAGE_EVICTION_S3FIFO_H_
