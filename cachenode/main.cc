// strata-node: one Strata cache node. Flags (and --config YAML) are read here only, turned into
// NodeOptions, and the node runs until SIGTERM or SIGINT, then shuts down gracefully. SIGHUP
// re-reads the --auth-tokens file (a file that does not load leaves the tokens in force, and the
// node logs why).
#include <grpc/support/log.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_split.h"
#include "cachenode/node.h"
#include "common/malloc_tuning.h"
#include "common/units.h"

namespace {

// Exit statuses, as stratactl's: 1 the node could not start or stop cleanly; 2 a flag, the
// config file or an option the operator gave is wrong (the one-line message names it).
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Applies a size flag if it was given; returns false (after printing) when it does not parse.
bool ApplySize(const CLI::App& app, const char* flag, const std::string& text, uint64_t* out) {
  if (app.count(flag) == 0) return true;
  auto parsed = strata::ParseSize(text);
  if (!parsed.ok()) {
    std::cerr << "strata-node: " << flag << ": " << parsed.status().message() << "\n";
    return false;
  }
  *out = *parsed;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: per-call gRPC buffers are reused instead of mapped afresh
  // (common/malloc_tuning.h). Best effort; without it the node works, only slower.
  (void)strata::KeepLargeBuffersInHeap();
  CLI::App app{"strata-node: a Strata KV-cache node (DRAM + SSD tiers, gRPC control plane)"};
  std::string config, listen, port_file, metrics_listen, dram, ssd_dir, ssd, hbm, node_id;
  std::string etcd, cluster, advertise, tls_cert, tls_key, tls_client_ca, auth_tokens, quotas;
  std::string dram_policy, ssd_policy, max_payload;
  size_t max_batch = 0;
  app.add_option("--config", config, "YAML config file (flags override it)");
  app.add_option("--listen", listen,
                 "gRPC address HOST:PORT (default 127.0.0.1:7100; port 0 picks one)");
  app.add_option("--port-file", port_file, "write the bound port here once serving");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics HOST:PORT (default: listen port + 80; 'off' disables)");
  app.add_option("--node-id", node_id, "node name in stats and the cluster (default: address)");
  app.add_option("--dram", dram, "DRAM tier capacity, e.g. 1GiB (default 1GiB)");
  app.add_option("--ssd-dir", ssd_dir, "SSD tier directory (default ./strata-data)");
  app.add_option("--ssd", ssd, "SSD tier capacity (default 8GiB; 0 turns it off)");
  app.add_option("--hbm", hbm, "HBM tier capacity (default 0: off)");
  app.add_option("--dram-policy", dram_policy,
                 std::string("eviction policy of the DRAM tier (default ") +
                     strata::kRecommendedEvictionPolicy + ")");
  app.add_option("--ssd-policy", ssd_policy,
                 std::string("eviction policy of the SSD tier (default ") +
                     strata::kRecommendedEvictionPolicy + ")");
  app.add_option("--max-batch", max_batch, "most keys per call (default 1024)");
  app.add_option("--max-payload", max_payload, "largest block payload (default 16MiB)");
  std::string max_inflight;
  app.add_option("--max-inflight", max_inflight,
                 "payload bytes all calls in flight may hold (default: DRAM/4 within 64MiB-1GiB)");
  std::string data_plane;
  app.add_option("--data-plane", data_plane,
                 "UCX data plane: tcp (default), shm (same-host clients; see docs) or off")
      ->check(CLI::IsMember({"tcp", "shm", "off"}));
  std::string data_plane_progress;
  app.add_option("--data-plane-progress", data_plane_progress,
                 "UCX progress: event (default: sleeps when idle) or busy (spins a core)")
      ->check(CLI::IsMember({"event", "busy"}));
  app.add_option("--etcd", etcd, "etcd endpoints URL[,URL...] (cluster mode)");
  app.add_option("--cluster", cluster, "cluster name (cluster mode)");
  app.add_option("--advertise", advertise, "address other nodes and clients use");
  app.add_option("--tls-cert", tls_cert, "server certificate (PEM)");
  app.add_option("--tls-key", tls_key, "server private key (PEM)");
  app.add_option("--tls-client-ca", tls_client_ca, "require client certificates from this CA");
  app.add_option("--quotas", quotas,
                 "quota file (YAML): bytes per tier and requests per second per namespace "
                 "prefix; SIGHUP re-reads it");
  app.add_option("--auth-tokens", auth_tokens,
                 "token file (YAML) granting namespaces per token; SIGHUP re-reads it");
  std::string peer_token_file;
  app.add_option("--peer-token-file", peer_token_file,
                 "file holding the token this node sends to other nodes (drain)");
  std::string peer_tls_ca;
  app.add_option("--peer-tls-ca", peer_tls_ca,
                 "CA (PEM) of the other nodes' certificates: calls to them use TLS");
  bool insecure = false;
  app.add_flag("--insecure", insecure,
               "serve a non-loopback address without TLS or tokens (refused otherwise)");
  bool exit_with_parent = false;
  app.add_flag("--exit-with-parent", exit_with_parent,
               "shut down (as on SIGTERM) when the process that started this one exits; for "
               "benchmarks and tests, so a killed harness leaves no node behind");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {  // CLI11 reports by exception; one line
    std::cerr << "strata-node: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }

  strata::NodeOptions options;
  if (!config.empty()) {
    absl::Status st = strata::ApplyConfigFile(config, &options);
    if (!st.ok()) {
      std::cerr << "strata-node: " << st.message() << "\n";
      return kExitUsage;
    }
  }
  if (app.count("--listen")) options.listen = listen;
  if (app.count("--port-file")) options.port_file = port_file;
  if (app.count("--metrics-listen")) options.metrics_listen = metrics_listen;
  if (app.count("--node-id")) options.node_id = node_id;
  if (app.count("--ssd-dir")) options.ssd_dir = ssd_dir;
  if (app.count("--dram-policy")) options.dram.policy = dram_policy;
  if (app.count("--ssd-policy")) options.ssd.policy = ssd_policy;
  if (app.count("--max-batch")) options.limits.max_batch = max_batch;
  if (app.count("--data-plane")) {
    options.data_plane.enabled = data_plane != "off";
    if (data_plane != "off") options.data_plane.tls = data_plane;
  }
  if (app.count("--data-plane-progress")) options.data_plane.progress = data_plane_progress;
  if (app.count("--etcd")) options.etcd = absl::StrSplit(etcd, ',', absl::SkipEmpty());
  if (app.count("--cluster")) options.cluster = cluster;
  if (app.count("--advertise")) options.advertise = advertise;
  if (app.count("--tls-cert")) options.tls_cert = tls_cert;
  if (app.count("--tls-key")) options.tls_key = tls_key;
  if (app.count("--tls-client-ca")) options.tls_client_ca = tls_client_ca;
  if (app.count("--auth-tokens")) options.auth_tokens = auth_tokens;
  if (app.count("--quotas")) options.quotas = quotas;
  if (app.count("--peer-token-file")) options.peer_token_file = peer_token_file;
  if (app.count("--peer-tls-ca")) options.peer_tls_ca = peer_tls_ca;
  if (insecure) options.insecure = true;
  if (!ApplySize(app, "--dram", dram, &options.dram_bytes) ||
      !ApplySize(app, "--ssd", ssd, &options.ssd_bytes) ||
      !ApplySize(app, "--hbm", hbm, &options.hbm_bytes) ||
      !ApplySize(app, "--max-payload", max_payload, &options.limits.max_payload_bytes) ||
      !ApplySize(app, "--max-inflight", max_inflight, &options.inflight_bytes)) {
    return kExitUsage;
  }
  if (absl::Status st = options.Validate(); !st.ok()) {
    std::cerr << "strata-node: " << st.message() << "\n";
    return kExitUsage;
  }

  // gRPC's own log lines would break the one-line error contract; STRATA_GRPC_LOG=1 keeps them.
  if (std::getenv("STRATA_GRPC_LOG") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }

  // Block the shutdown signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (exit_with_parent) {
    // The kernel sends SIGTERM when the thread that spawned us exits. A parent that exited
    // before the prctl took effect has re-parented us already (to init or a subreaper): then
    // there is nobody to serve.
    const pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || parent == 1 || getppid() != parent) {
      std::cerr << "strata-node: --exit-with-parent: the parent is gone\n";
      return kExitError;
    }
  }

  // A connection flood must meet the largest descriptor budget the host allows.
  const std::string fd_limit = strata::RaiseOpenFileLimit();

  auto node = strata::Node::Start(options);
  if (!node.ok()) {
    std::cerr << "strata-node: " << node.status().message() << "\n";
    // INVALID_ARGUMENT names a flag or file the operator gave (e.g. an unreadable TLS key).
    return absl::IsInvalidArgument(node.status()) ? kExitUsage : kExitError;
  }
  std::cout << (*node)->Summary() << "  files     " << fd_limit << "\n" << std::flush;

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    if (!options.quotas.empty()) {
      absl::StatusOr<size_t> quotas = (*node)->ReloadQuotas();
      if (quotas.ok()) {
        std::cout << "strata-node: SIGHUP: " << *quotas << " quotas in force from "
                  << options.quotas << std::endl;
      } else {
        std::cerr << "strata-node: SIGHUP: quota file not reloaded, the previous quotas stay in "
                     "force: "
                  << quotas.status().message() << std::endl;
      }
    }
    if (options.auth_tokens.empty() && !options.quotas.empty()) continue;
    absl::StatusOr<size_t> reloaded = (*node)->ReloadAuthTokens();
    if (reloaded.ok()) {
      std::cout << "strata-node: SIGHUP: " << *reloaded << " tokens in force from "
                << options.auth_tokens << std::endl;
    } else {
      std::cerr << "strata-node: SIGHUP: token file not reloaded, the previous tokens stay in "
                   "force: "
                << reloaded.status().message() << std::endl;
    }
  }
  std::cout << "strata-node: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
            << ", finishing in-flight calls and flushing" << std::endl;
  absl::Status st = (*node)->Shutdown();
  if (!st.ok()) {
    std::cerr << "strata-node: shutdown: " << st.message() << "\n";
    return kExitError;
  }
  std::cout << "strata-node: stopped cleanly" << std::endl;
  return 0;
}
