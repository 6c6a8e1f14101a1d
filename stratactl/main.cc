// stratactl: the operator CLI. Global flags, then a verb (DESIGN.md section 7).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>

#include "stratactl/replay/replay_cli.h"
#include "stratactl/ctl.h"
#include "stratactl/cluster_commands.h"
#include "stratactl/data_commands.h"
#include "common/malloc_tuning.h"

int main(int argc, char** argv) {
  (void)strata::KeepLargeBuffersInHeap();  // gRPC buffers reused (common/malloc_tuning.h)
  using namespace strata::ctl;
  CLI::App app{"stratactl: operate Strata cache nodes"};
  app.require_subcommand(1);
  Globals g;
  if (const char* token = std::getenv("STRATA_TOKEN")) g.token = token;
  app.add_option("--node", g.node,
                 "node address HOST:PORT (default 127.0.0.1:7100); the cluster it is in, if any");
  app.add_option("--nodes", g.nodes, "a static cluster: HOST:PORT[,HOST:PORT...]");
  app.add_option("--etcd", g.etcd, "etcd endpoint URL[,URL...] of the cluster (with --cluster)");
  app.add_option("--cluster", g.cluster, "cluster name in etcd");
  app.add_option("--replicas", g.replicas, "copies of each block in the cluster (default 1)");
  app.add_flag("--json", g.json, "print one JSON object");
  app.add_option("--tls-ca", g.tls_ca, "CA certificate (PEM) to verify a TLS node");
  app.add_option("--tls-cert", g.tls_cert, "client certificate (PEM) for a node that asks for one");
  app.add_option("--tls-key", g.tls_key, "client private key (PEM), with --tls-cert");
  app.add_option("--token", g.token, "auth token (default: $STRATA_TOKEN)");
  app.add_option("--deadline-ms", g.deadline_ms, "per-call deadline (default 30000)");
  app.fallthrough();  // global flags may follow the verb

  std::function<int()> run;
  DataArgs data;
  DemoArgs demo;
  AddDataCommands(app, g, data, &run);
  AddDemoCommands(app, g, demo, &run);
  ClusterArgs cluster;
  AddClusterCommands(app, g, cluster, &run);

  // Trace replay and workload generation parse their own flags (stratactl/replay/replay_cli.h);
  // a global --json given before the verb is passed on.
  auto* replay = app.add_subcommand("replay", "replay a Mooncake trace against eviction policies");
  replay->prefix_command()->allow_extras()->fallthrough(false);
  replay->callback([&g, &run, replay] {
    run = [&g, replay] {
      std::vector<std::string> args = replay->remaining();
      if (g.json) args.push_back("--json");
      // The global --node names the node a live replay drives, unless the verb has its own.
      if (std::find(args.begin(), args.end(), "--node") == args.end()) {
        args.insert(args.end(), {"--node", g.node});
      }
      if (!g.nodes.empty() && std::find(args.begin(), args.end(), "--nodes") == args.end()) {
        args.insert(args.end(), {"--nodes", g.nodes});
      }
      return strata::replay::RunReplayCommand(args, std::cout, std::cerr);
    };
  });
  auto* trace = app.add_subcommand("trace", "trace tools");
  trace->require_subcommand(1);
  auto* generate = trace->add_subcommand("generate", "write a multi-turn chat workload trace");
  generate->prefix_command()->allow_extras()->fallthrough(false);
  generate->callback([&run, generate] {
    run = [generate] {
      return strata::replay::RunGenerateTraceCommand(generate->remaining(), std::cout, std::cerr);
    };
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {  // CLI11 reports by exception; one line, exit 2
    return Usage(std::string(e.what()) + " (see --help)");
  }
  if (!run) return Usage("no command given (see --help)");
  return run();
}
