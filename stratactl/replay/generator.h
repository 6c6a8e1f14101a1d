// A multi-turn chat workload in the Mooncake trace format, for tests and benchmarks.
//
// Model: conversations start as a Poisson process. Each one opens with one of a few shared
// system prompts (picked by Zipf popularity, so a handful of prompts carry most traffic), and
// its number of turns follows its popularity: the conversation of popularity rank k (a random
// permutation) has max(1, round(max_turns / k^conversation_zipf)) turns. Turn t+1 arrives an
// exponentially distributed gap after turn t and re-sends the whole history (system prompt,
// every earlier user message and answer) plus a new user message, so prompts grow turn by turn.
// Block ids are prefix-chained over blocks of block_tokens tokens: a full block keeps its id for
// the rest of its conversation, blocks of a shared system prompt share ids across conversations,
// and a partial last block is new content every time. Ids are dense, numbered in order of first
// appearance, like the remapped ids of Mooncake's traces.
//
// Deterministic for a given options.seed. Thread-compatible.
#ifndef STRATA_CLUSTER_REPLAY_GENERATOR_H_
#define STRATA_CLUSTER_REPLAY_GENERATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "stratactl/replay/trace.h"

namespace strata::replay {

struct ChatWorkloadOptions {
  uint64_t seed = 1;
  // Conversations started; the trace ends when the last one ends or at max_requests.
  uint32_t conversations = 1000;
  // 0 = no limit.
  uint32_t max_requests = 0;
  // New conversations per second (Poisson).
  double arrival_rate_per_s = 2.0;
  // Shared system prompts and their popularity skew.
  uint32_t system_prompts = 8;
  double system_prompt_zipf = 1.0;
  // Tokens of each system prompt: uniform in [min, max].
  uint32_t system_prompt_tokens_min = 1024;
  uint32_t system_prompt_tokens_max = 8192;
  // Popularity skew of conversations and the turns of the most popular one.
  double conversation_zipf = 0.8;
  uint32_t max_turns = 32;
  // Mean gap between the turns of a conversation, seconds (exponential).
  double mean_turn_gap_s = 60.0;
  // Tokens of each user message and of each answer: uniform in [min, max].
  uint32_t user_tokens_min = 32;
  uint32_t user_tokens_max = 1024;
  uint32_t output_tokens_min = 32;
  uint32_t output_tokens_max = 512;
  // A conversation stops once its prompt would exceed this.
  uint32_t max_input_tokens = 128 * 1024;
  uint32_t block_tokens = 512;
};

// INVALID_ARGUMENT naming the field when an option is out of range (zero sizes, min > max,
// non-positive rates).
absl::StatusOr<std::vector<TraceRequest>> GenerateChatWorkload(const ChatWorkloadOptions& options);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_GENERATOR_H_
