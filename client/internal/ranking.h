// Merging ranked answers (docs/pruning.md "Ranking a prefix"): the node client merges its
// batches' answers and the cluster client its owners' answers the same way. Internal to
// node_client.cc / routing.cc.
#ifndef STRATA_CLIENT_INTERNAL_RANKING_H_
#define STRATA_CLIENT_INTERNAL_RANKING_H_

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "client/node_client.h"

namespace strata {

// A ranked block: its Quest bound and its index into the caller's keys.
using RankCandidate = std::pair<float, size_t>;

// Appends the top_n candidates to out->ranked and out->bounds: best bound first, ties to the
// earlier key (the order a node gives within one Lookup).
inline void TakeTopByBound(std::vector<RankCandidate> candidates, size_t top_n, RankedPrefix* out) {
  std::sort(candidates.begin(), candidates.end(),
            [](const RankCandidate& a, const RankCandidate& b) {
              return a.first > b.first || (a.first == b.first && a.second < b.second);
            });
  for (size_t i = 0; i < candidates.size() && i < top_n; ++i) {
    out->ranked.push_back(candidates[i].second);
    out->bounds.push_back(candidates[i].first);
  }
}

}  // namespace strata

#endif  // STRATA_CLIENT_INTERNAL_RANKING_H_
