// Shared pieces of stratactl's commands: global options, output (text or --json), and the
// command-line contract's exit statuses (DESIGN.md section 7):
//   0 success (for get: a hit), 3 a miss, 2 a usage error, 1 any other error,
// with one line on stderr saying what went wrong.
#ifndef STRATA_CLUSTER_STRATACTL_CTL_H_
#define STRATA_CLUSTER_STRATACTL_CTL_H_

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "client/client.h"

namespace strata::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitMiss = 3;

struct Globals {
  // Where the cluster's view comes from (ClientOptions): --etcd with --cluster, else --nodes
  // (a static list), else --node (that node's view of its cluster, or the node alone).
  std::string etcd;     // URL[,URL...]
  std::string cluster;  // cluster name in etcd
  std::string nodes;    // HOST:PORT[,HOST:PORT...]
  int replicas = 1;     // R: copies of each block
  std::string node = "127.0.0.1:7100";
  bool json = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string token;
  uint32_t deadline_ms = 30'000;
  // How GetInto/PutFrom move bytes (the bench's ucx paths).
  ClientOptions::DataPath data_path = ClientOptions::DataPath::kAuto;
};

// Prints "stratactl: <message>" and returns the exit status for `status` (INVALID_ARGUMENT is a
// usage error).
int Fail(const absl::Status& status);
int Usage(const std::string& message);

// Connects through the view the globals name. Says on stderr, once, when that view is older
// than a few seconds (etcd or the node serving it has not confirmed it since).
absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const Globals& g);


// Milliseconds since the view was last confirmed.
uint64_t ViewAgeMs(const cluster::ClusterView& view);

// Parses hex keys; a usage error names the flag.
absl::StatusOr<std::string> HexKey(const std::string& hex, const std::string& flag);
absl::StatusOr<std::vector<std::string>> HexKeys(const std::string& csv, const std::string& flag);

void PrintJson(const nlohmann::json& j);

// Tiers as `stats --json` prints them.
nlohmann::json TiersJson(const google::protobuf::RepeatedPtrField<v1::TierInfo>& tiers);

}  // namespace strata::ctl

#endif  // STRATA_CLUSTER_STRATACTL_CTL_H_
