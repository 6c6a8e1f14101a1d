// stratactl's cluster verbs: cluster status, cluster nodes, inspect, drain, and stats --watch.
// Every verb works on the view ConnectTo builds (--etcd/--cluster, --nodes, or --node).
#ifndef STRATA_STRATACTL_CLUSTER_COMMANDS_H_
#define STRATA_STRATACTL_CLUSTER_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "stratactl/ctl.h"

namespace strata::ctl {

struct ClusterArgs {
  std::string inspect_ns, inspect_key;
  std::string drain_node;
  bool drain_stay = false;       // the node stays up after the drain (default: it exits)
  uint32_t drain_timeout_s = 0;  // 0: no limit
};

void AddClusterCommands(CLI::App& app, Globals& g, ClusterArgs& a, std::function<int()>* run);

// stats --watch: a per-node table every `interval` with rates since the last one, `count` times.
int WatchStats(const Globals& g, const std::string& interval, int count);

}  // namespace strata::ctl

#endif  // STRATA_STRATACTL_CLUSTER_COMMANDS_H_
