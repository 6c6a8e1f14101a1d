// strata-bench transfer, the node rows: a real strata-node process (started and stopped by PID)
// and the client library in this process, moving blocks with GetInto/PutFrom over the UCX data
// plane (path "ucx", the requests as UCX messages or as gRPC calls) or with Get/Put as gRPC bytes
// (path "grpc").
#ifndef STRATA_BENCH_TRANSFER_NODE_CASES_H_
#define STRATA_BENCH_TRANSFER_NODE_CASES_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace strata::bench {

struct NodeCase {
  std::string path;  // ucx | grpc
  std::string tls;   // shm | tcp: the node's data_plane.tls
  size_t block_bytes = 0;
  size_t batch = 0;
  std::string op;  // get | put
  // ucx path: how GetInto/PutFrom requests travel: "message" (UCX messages on the session's
  // connection, ClientOptions::ucx_messages) or "grpc" (a gRPC call around the transfer).
  std::string control = "message";
};

// Progress modes ("event" | "busy") of the node's UCX worker and of the client's.
struct NodeProgress {
  std::string node = "event";
  std::string client = "event";
};

// The baselines a case's ratios divide by, in GB/s.
struct Baselines {
  double memcpy_gbps = 0;
  std::optional<double> perftest_gbps;  // ucx_perftest tag_bw on the case's transport
};

// Measures a case's baselines next to it: `before` runs just before the case and `after` just
// after it, returning what to report. This host's speed drifts by 2x and more within minutes, so a
// baseline measured at another time of the run says more about the drift than about the code.
struct BaselineHooks {
  std::function<void(const std::string& tls, size_t block_bytes, size_t batch)> before;
  std::function<Baselines(const std::string& tls, size_t block_bytes, size_t batch)> after;
};

struct NodeCaseResult {
  NodeCase c;
  bool ok = false;
  std::string error;
  std::string protocol;  // what the node's endpoint chose ("rma", "active-message"; "-" for grpc)
  double gbps = 0;
  double p50_us = 0;
  double p99_us = 0;
  Baselines baselines;
};

// Runs the cases, one node per tls, `seconds` of timed calls per case (at least 5 calls), each
// between the two halves of `baselines`.
std::vector<NodeCaseResult> RunNodeCases(const std::vector<NodeCase>& cases, double seconds,
                                         const NodeProgress& progress,
                                         const BaselineHooks& baselines);

}  // namespace strata::bench

#endif  // STRATA_BENCH_TRANSFER_NODE_CASES_H_
