// Command-line entry points of the trace replay and the workload generator, shared by
// `stratactl replay` / `stratactl trace generate` and the standalone `strata-replay` tool.
//
// `args` are the arguments after the subcommand (no program name). Output goes to `out`,
// diagnostics and the progress bar to `err`. Exit status: 0 success, 2 usage error (bad or
// missing flags, unknown policy), 1 any other error; every error is one line on `err`.
//
//   replay --trace FILE [--policy P[,P...]] (--capacity-blocks N | --capacity-fraction F)
//          [--offline] [--json] [--no-timing] [--block-tokens N] [--block-bytes SIZE]
//     Replays a Mooncake-format trace. --policy takes any EvictionPolicyNames() entry (default:
//     the recommended one), or several separated by commas (one report each, one JSON object per
//     line with --json). --capacity-fraction is relative to the trace's distinct blocks. Every
//     report carries Belady-on-leaves and LRU at the same capacity and the share of the gap
//     between them that the policy closes. --offline runs the policy in-process over an
//     accounting-only cache; without it the replay would drive a live node through the client
//     library, which does not exist yet (exit 1 with a message saying so).
//     --json prints {"policy", "capacity_blocks", "hit_ratio", "token_hit_ratio",
//     "belady_hit_ratio", "belady_token_hit_ratio", "lru_hit_ratio", "gap_closed", "tiers", ...}.
//
//   replay --suite --offline [--trace FILE] [--policy P[,P...]] [--seed N] [--requests N] [--json]
//     Every policy (default: all of EvictionPolicyNames()) over every workload family
//     (workloads.h; seeded, --requests each) and FILE when given (named by its file name), at
//     capacities 0.05, 0.1, 0.25 and 0.5, next to LRU and Belady (suite.h): a markdown table, or
//     one JSON object per (family, capacity, policy) with --json.
//
//   generate [--out FILE] [--seed N] [--conversations N] [--max-requests N] [--arrival-rate R]
//            [--system-prompts N] [--system-prompt-zipf S] [--system-prompt-tokens MIN:MAX]
//            [--conversation-zipf S] [--max-turns N] [--turn-gap-s S] [--user-tokens MIN:MAX]
//            [--output-tokens MIN:MAX] [--max-input-tokens N] [--block-tokens N]
//     Writes a multi-turn chat workload (generator.h) as Mooncake JSONL to FILE or `out`, and a
//     one-line summary to `err`.
//   generate --family F [--seed N] [--requests N] [--out FILE]
//     Writes one family of the workload suite (workloads.h) instead.
#ifndef STRATA_CLUSTER_REPLAY_REPLAY_CLI_H_
#define STRATA_CLUSTER_REPLAY_REPLAY_CLI_H_

#include <ostream>
#include <string>
#include <vector>

#include "storage/eviction_policy.h"

namespace strata::replay {

// The policy the replay uses when --policy is not given: the recommended default.
inline constexpr const char* kRecommendedPolicy = kRecommendedEvictionPolicy;

int RunReplayCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

int RunGenerateTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                            std::ostream& err);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_REPLAY_CLI_H_
