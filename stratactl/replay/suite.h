// The policy suite (issue 14): every eviction policy over every workload family (workloads.h)
// and capacity, next to LRU and Belady-on-leaves, as `stratactl replay --offline --suite` prints.
//
// Thread-compatible: RunSuite replays one trace at a time on the calling thread.
#ifndef STRATA_CLUSTER_REPLAY_SUITE_H_
#define STRATA_CLUSTER_REPLAY_SUITE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "stratactl/replay/replay.h"
#include "stratactl/replay/trace.h"

namespace strata::replay {

// The capacities the suite reports, as fractions of each trace's distinct blocks.
inline const std::vector<double>& SuiteCapacities() {
  static const std::vector<double> kCapacities = {0.05, 0.1, 0.25, 0.5};
  return kCapacities;
}

struct SuiteTrace {
  std::string family;
  std::vector<TraceRequest> requests;
};

struct SuiteOptions {
  // Policies to run besides Belady (LRU is always run, as the baseline).
  std::vector<std::string> policies;
  std::vector<double> capacities = SuiteCapacities();
  BlockGeometry geometry;
};

// One policy on one trace at one capacity.
struct SuiteCell {
  std::string family;
  double capacity_fraction = 0;
  uint64_t capacity_blocks = 0;
  std::string policy;  // "belady" for the optimum
  ReplayStats stats;
  double seconds = 0;  // wall time of this replay
  double lru_hit_ratio = 0;
  double belady_hit_ratio = 0;
  // (policy - lru) / (belady - lru); 1 when Belady equals LRU and the policy does too.
  double gap_closed = 0;
};

// The generated families (seeded with `seed`, `requests` each), then `extra` (for example the
// shared synthetic trace) in order.
absl::StatusOr<std::vector<SuiteTrace>> SuiteTraces(uint64_t seed, uint32_t requests,
                                                    std::vector<SuiteTrace> extra);

// Replays every trace x capacity x (belady, lru, policies...). INVALID_ARGUMENT for an unknown
// policy.
absl::StatusOr<std::vector<SuiteCell>> RunSuite(const std::vector<SuiteTrace>& traces,
                                                const SuiteOptions& options);

// A markdown table: one row per (family, capacity), a column per policy with its hit ratio and
// the share of the LRU -> Belady gap it closes; then the wall time of each policy over the suite.
void PrintSuiteTable(const std::vector<SuiteCell>& cells, std::ostream& out);
// One JSON object per cell and line.
void PrintSuiteJson(const std::vector<SuiteCell>& cells, std::ostream& out);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_SUITE_H_
