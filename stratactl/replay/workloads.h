// The workload suite (issue 14): seeded generators of request traces in the Mooncake format, one
// per kind of deployment a KV-cache serves, each sized like Mooncake's synthetic trace (~4,000
// requests, tens of thousands of distinct 512-token blocks). They exist so an eviction policy is
// judged on traffic it was not tuned on; `stratactl replay --offline --suite` runs every policy
// over all of them.
//
// Families (WorkloadFamilyNames(), in this order):
//   chat   Consumer chat with many short conversations: a short shared system prompt, most
//          conversations end after one or two turns (most distinct blocks are used by one request
//          only), and the turns that do come back re-send the history after a gap log-uniform
//          between 5 s and an hour. Stands for a public chat front end (Mooncake's conversation
//          trace, LMSYS-style traffic).
//   rag    Retrieval-augmented QA: shared prefixes (system prompt + one of 64 documents, Zipf 0.9,
//          so a few are hot) followed by a one-shot suffix (retrieved chunks and the question); a few
//          requests follow up on an earlier one within a minute. Stands for a support bot or a
//          document QA service.
//   agent  Agent / tool loops: a long tool-definition prefix shared by each agent type, a task,
//          then steps that each append a small tool result and re-send the whole context within
//          seconds; some steps branch from an earlier point (retries, tree search). Stands for
//          coding and browsing agents.
//   scan   A hot set (shared prefixes with one-shot questions, short live conversations) with
//          bursts of long one-shot prompts (summarising or indexing long documents) that should
//          not flush it. Stands for a batch job sharing a node with interactive traffic.
//   mix    The family changes over the trace: chat, then agent, then scan (morning chat,
//          afternoon agents, evening batch), a third of the requests each.
//
// Block ids are prefix-chained and dense (numbered in order of first appearance); a prompt's
// partial last block is new content every time. Deterministic for a given seed.
#ifndef STRATA_CLUSTER_REPLAY_WORKLOADS_H_
#define STRATA_CLUSTER_REPLAY_WORKLOADS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "stratactl/replay/trace.h"

namespace strata::replay {

// The families above, in a stable order.
std::vector<std::string> WorkloadFamilyNames();

struct WorkloadOptions {
  uint64_t seed = 1;
  // Requests in the trace (the shared synthetic trace has 3,993).
  uint32_t requests = 4000;
  uint32_t block_tokens = 512;
};

// INVALID_ARGUMENT for an unknown family (naming the known ones), zero requests or block size.
absl::StatusOr<std::vector<TraceRequest>> GenerateWorkload(std::string_view family,
                                                           const WorkloadOptions& options);

// `first` followed by `second`: the second's timestamps start 1 s after the first's last
// request and its ids are renumbered after the first's, so the two share no block.
std::vector<TraceRequest> ConcatTraces(const std::vector<TraceRequest>& first,
                                       const std::vector<TraceRequest>& second);

// Share of the distinct blocks named by exactly one request (0 for an empty trace).
double OneShotBlockShare(const std::vector<TraceRequest>& trace);

}  // namespace strata::replay

#endif  // STRATA_CLUSTER_REPLAY_WORKLOADS_H_
