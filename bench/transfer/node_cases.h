// strata-bench transfer, the node rows: a real strata-node process (started and stopped by PID)
// and the client library in this process, moving blocks with GetInto/PutFrom over the UCX data
// plane (path "ucx", the requests as UCX messages or as gRPC calls) or with Get/Put as gRPC bytes
// (path "grpc").
#ifndef STRATA_BENCH_TRANSFER_NODE_CASES_H_
#define STRATA_BENCH_TRANSFER_NODE_CASES_H_

#include <cstddef>
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

struct NodeCaseResult {
  NodeCase c;
  bool ok = false;
  std::string error;
  std::string protocol;  // what the node's endpoint chose ("rma", "active-message"; "-" for grpc)
  double gbps = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// Runs the cases, one node per tls, `seconds` of timed calls per case (at least 5 calls).
std::vector<NodeCaseResult> RunNodeCases(const std::vector<NodeCase>& cases, double seconds,
                                         const NodeProgress& progress);

}  // namespace strata::bench

#endif  // STRATA_BENCH_TRANSFER_NODE_CASES_H_
