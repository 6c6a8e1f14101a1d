// The offline optimum for a prefix cache: Belady's MIN restricted to leaves.
//
// Algorithm (ReplayBeladyLeaves). Under the replay's accounting (replay.h), process the requests
// in order; when a block must be stored and the cache is full, evict, among the resident blocks
// that have no resident child and do not belong to the request being served, the one whose next
// use (the index of the next request that names it; never = infinity) is furthest away. Ties go
// to the larger trace id. Next uses come from one backward pass over the trace; candidates sit in
// an ordered set keyed by next use, so a replay costs O(B log B) for B block references.
//
// Guarantee. A child's use implies its parent's use in the same request, so a parent's next use
// is never later than any of its children's; hence the furthest next use among all unpinned
// resident blocks is always attained by one with no resident child (follow children down), and
// restricting MIN to leaves loses nothing: the eviction sequence is one of MIN's. Two
// consequences:
//   1. The cache stays prefix-closed (a resident block's parent is resident), so every cached
//      block of a request lies in its leading run and the replay's hits equal MIN's per-block
//      hits.
//   2. Any eviction policy, online or offline, leaf-restricted or not, gets at most MIN's
//      per-block hits under the same rules (every missing block admitted, the current request's
//      blocks held, equal-size blocks: Belady 1966 / Mattson et al. 1970, whose exchange
//      argument carries over because every policy must hold the same current request), and its
//      leading-run hits are at most its per-block hits. So this is an upper bound on the hit
//      ratio of every policy at the same capacity.
// The bound assumes every request fits in the cache; a request longer than the capacity stores
// only the prefix that fits, for every policy alike.
#ifndef STRATA_CLUSTER_REPLAY_BELADY_H_
#define STRATA_CLUSTER_REPLAY_BELADY_H_

#include <vector>

#include "absl/status/statusor.h"
#include "stratactl/replay/replay.h"
#include "stratactl/replay/trace.h"

namespace strata::replay {

// Replays `trace` under Belady-on-leaves at `options.capacity_blocks`; the statistics are
// those Replay() reports for a policy. INVALID_ARGUMENT for a zero capacity.
absl::StatusOr<ReplayStats> ReplayBeladyLeaves(const std::vector<TraceRequest>& trace,
                                               const OfflineCacheOptions& options);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_BELADY_H_
