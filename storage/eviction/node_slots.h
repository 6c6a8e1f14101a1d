// The index of a free node in a policy's vector of nodes: one released earlier (its old contents
// left for the caller to overwrite), else a new default node at the end. The index-linked lists
// of demote-lru, prefix-aware and s3fifo take their nodes this way, so a block costs no
// allocation once the vector has grown to the tier's peak.
#ifndef STRATA_STORAGE_EVICTION_NODE_SLOTS_H_
#define STRATA_STORAGE_EVICTION_NODE_SLOTS_H_

#include <cstdint>
#include <vector>

namespace strata::eviction_internal {

template <typename Node>
uint32_t TakeNode(std::vector<Node>& nodes, std::vector<uint32_t>& free_nodes) {
  if (free_nodes.empty()) {
    nodes.push_back(Node{});
    return static_cast<uint32_t>(nodes.size() - 1);
  }
  const uint32_t n = free_nodes.back();
  free_nodes.pop_back();
  return n;
}

}  // namespace strata::eviction_internal

#endif  // STRATA_STORAGE_EVICTION_NODE_SLOTS_H_
