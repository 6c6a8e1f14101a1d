// stratactl's node verbs: info, stats, put, get, lookup, remove, evict, bench.
#ifndef STRATA_CLUSTER_STRATACTL_DATA_COMMANDS_H_
#define STRATA_CLUSTER_STRATACTL_DATA_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "stratactl/ctl.h"

namespace strata::ctl {

struct PutArgs {
  std::string ns, key, file, parent, layout = "opaque", dtype = "f16";
  uint32_t layers = 0, kv_heads = 0, head_dim = 0, tokens = 0;
};

struct BenchArgs {
  std::string ns = "stratactl-bench";
  size_t blocks = 256;
  std::string block_bytes = "256KiB";
  size_t batch = 16;
  // bytes: Put/Get carry the blocks; ucx: PutFrom/GetInto over the UCX data plane (fails when the
  // node has none); auto: PutFrom/GetInto, UCX when available.
  std::string path = "bytes";
  size_t rounds = 1;  // times the Get phase runs
};

// Where parsed flags land; owned by main() and alive while the chosen command runs.
struct DataArgs {
  PutArgs put;
  BenchArgs bench;
  std::string get_ns, get_key, get_out;
  std::string lookup_ns, lookup_keys;
  uint32_t lookup_lease = 0;
  std::string remove_ns, remove_keys;
  std::string evict_ns;
  bool stats_watch = false;
  std::string stats_interval = "1s";
  int stats_count = 10;
};

struct DemoArgs {
  std::string ns = "demo/multiturn";
  size_t conversations = 2;
  size_t turns = 4;
  size_t system_tokens = 1024;
  size_t user_tokens = 200;
  size_t reply_tokens = 150;
  uint32_t block_tokens = 64;
  size_t kv_bytes_per_token = 4096;
  bool keep = false;
};

// Adds the verbs to `app`; the chosen one stores its runner in *run.
void AddDataCommands(CLI::App& app, Globals& globals, DataArgs& args, std::function<int()>* run);
// `demo multiturn`.
void AddDemoCommands(CLI::App& app, Globals& globals, DemoArgs& args, std::function<int()>* run);

}  // namespace strata::ctl

#endif  // STRATA_CLUSTER_STRATACTL_DATA_COMMANDS_H_
