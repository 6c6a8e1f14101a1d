#include "cluster/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace strata::cluster {

int PlacementOptions::ReplicasFor(std::string_view ns) const {
  int r = default_replicas;
  size_t best = 0;
  bool matched = false;
  for (const ReplicationRule& rule : rules) {
    if (ns.substr(0, rule.prefix.size()) == rule.prefix && (!matched || rule.prefix.size() > best)) {
      r = rule.replicas;
      best = rule.prefix.size();
      matched = true;
    }
  }
  return std::max(r, 1);
}

double RendezvousScore(const NodeRecord& node, std::string_view ns, std::string_view key) {
  // Hash the node id with the block's identity; length-prefixing the parts keeps ("ab","c")
  // and ("a","bc") apart.
  std::string buf;
  buf.reserve(12 + node.id.size() + ns.size() + key.size());
  for (size_t len : {node.id.size(), ns.size(), key.size()}) {
    const uint32_t l = static_cast<uint32_t>(len);
    buf.append(reinterpret_cast<const char*>(&l), sizeof(l));
  }
  buf.append(node.id).append(ns).append(key);
  const uint64_t h = XXH3_64bits(buf.data(), buf.size());
  // The top 53 bits as a double in (0, 1): never 0 (log undefined) and never 1 (score infinite).
  const double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0;
  return -static_cast<double>(node.Weight()) / std::log(u);
}

std::vector<const NodeRecord*> Owners(const ClusterView& view, std::string_view ns,
                                      std::string_view key, int replicas) {
  std::vector<std::pair<double, const NodeRecord*>> scored;
  for (const NodeRecord* n : view.Active()) scored.emplace_back(RendezvousScore(*n, ns, key), n);
  const size_t r = std::min<size_t>(std::max(replicas, 1), scored.size());
  // Ties (practically impossible) break by id, so every client orders owners the same way.
  auto better = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second->id < b.second->id;
  };
  std::partial_sort(scored.begin(), scored.begin() + r, scored.end(), better);
  std::vector<const NodeRecord*> out;
  out.reserve(r);
  for (size_t i = 0; i < r; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace strata::cluster
