// strata-bench transfer: the data plane between two processes on this host.
//
// The parent plays the cache node (it initiates every transfer); a child process -- this binary
// re-executed with --serve-peer -- plays the client: it registers a buffer, hands over its worker
// address and region descriptor on a pipe, and serves until its stdin closes. `op` is named from
// the client's side, as in the Strata API: a Get moves node memory into the client's buffer
// (TransferOp kPut), a Put moves client memory into the node's pool (kGet).
//
// Next to every case (just before and just after it) the same run measures the single-thread
// memcpy rate of the same blocks and, when `ucx_perftest` is installed, its tag_bw on the same
// transport (server and client processes on 127.0.0.1 with UCX_NET_DEVICES=lo, started and
// stopped by PID); see AdjacentBaselines.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "bench/child_process.h"
#include "bench/timed_loop.h"
#include "bench/transfer/node_cases.h"
#include "tests/testing/pipe_framing.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace strata::bench {
namespace {

using transfer::OpKind;
using transfer::TransferOp;
using transfer::UcxTransport;
using transfer::UcxTransportOptions;

constexpr size_t kMaxBatch = 64;
constexpr size_t kMaxBlock = 4 << 20;
constexpr size_t kPeerBytes = kMaxBatch * kMaxBlock;

struct Flags {
  bool json = false;
  bool serve_peer = false;
  bool perftest = true;
  std::optional<size_t> block_bytes;
  std::optional<size_t> batch;
  std::optional<std::string> tls;       // shm | tcp
  std::optional<std::string> op;        // get | put
  std::optional<std::string> path;      // transport | ucx | grpc
  std::optional<std::string> control;   // message | grpc: how ucx rows send their requests
  std::string protocol = "auto";        // auto | rma | am
  std::string progress = "event";       // event | busy: the node's progress thread
  std::string peer_progress = "event";  // event | busy: the client peer's
  double seconds_per_case = 0.5;
  std::optional<uint64_t> merge_max;  // UcxTransportOptions::merge_max_bytes of the node side
};

UcxTransportOptions Options(const std::string& tls, const std::string& protocol,
                            const std::string& progress) {
  UcxTransportOptions options;
  options.ucx_config = {{"TLS", UcxTls(tls)}, {"NET_DEVICES", "lo"}};
  options.name = "strata-bench";
  // Shared memory in UCX 1.13 needs endpoints without peer error handling (see the option).
  options.allow_endpoints_without_peer_error_handling = tls != "tcp";
  if (protocol == "rma") options.protocol = UcxTransportOptions::ProtocolPolicy::kRma;
  if (protocol == "am") options.protocol = UcxTransportOptions::ProtocolPolicy::kActiveMessage;
  if (progress == "busy") options.progress_mode = UcxTransportOptions::ProgressMode::kBusyPoll;
  return options;
}

// --- pipes ------------------------------------------------------------------------------------

using testing::ReadPeerRegion;
using testing::WritePeerRegion;

// --- the client peer (child process) ----------------------------------------------------------

int ServePeer(const Flags& flags) {
  BenchBuffer buffer(kPeerBytes);  // pre-faulted, like the node's pool; outlives the transport
  std::memset(buffer.data(), 7, buffer.size());
  auto transport = UcxTransport::Create(Options(flags.tls.value_or("shm"), "auto", flags.progress));
  if (!transport.ok()) {
    std::fprintf(stderr, "serve-peer: %s\n", transport.status().ToString().c_str());
    return 1;
  }
  auto region = (*transport)->RegisterMemory(buffer.data(), buffer.size());
  if (!region.ok()) return 1;
  if (!WritePeerRegion(1, (*transport)->LocalAddress(), region->descriptor)) return 1;
  pollfd pfd{0, POLLIN, 0};
  poll(&pfd, 1, 600000);  // until the parent closes our stdin (bounded: 10 min)
  return 0;
}

struct Peer {
  Child child;
  std::string address;
  transfer::RegionDescriptor descriptor;
};

std::optional<Peer> StartPeer(const std::string& tls, const std::string& progress) {
  auto child =
      Spawn("/proc/self/exe",
            {"strata-bench", "transfer", "--serve-peer", "--tls", tls, "--progress", progress},
            {"UCX_TLS=" + UcxTls(tls), "UCX_NET_DEVICES=lo"}, true, -1);
  if (!child) return std::nullopt;
  Peer peer;
  peer.child = *child;
  if (!ReadPeerRegion(child->out, &peer.address, &peer.descriptor, absl::Seconds(20))) {
    Reap(peer.child, absl::Seconds(1));
    return std::nullopt;
  }
  return peer;
}

// The baselines of BaselineHooks: memcpy of the same blocks and one ucx_perftest run just before
// a case and again just after it, each reported as the mean of the two. The run just after a case
// is also the "before" of the next case when that one has the same transport, block size and
// batch, so a sweep costs about one perftest run per case. (Measured once per sweep, at its end,
// a baseline was minutes away from its case; on this host single ucx_perftest runs of one case
// ranged 1.7-6.2 GB/s between sweeps minutes apart, while GetInto of the same case kept to
// 2.5-3.2 GB/s.)
//
// "Quiet" allows for the bench's own busy-polling progress threads (--progress busy,
// --peer-progress busy): each keeps a core at 100%, so a 2-core host with one of them is at most
// 50% idle, and waiting for 90% idle would time out (3 s) before every measurement.
class AdjacentBaselines {
 public:
  AdjacentBaselines(std::optional<std::string> perftest, int spinning_threads)
      : perftest_(std::move(perftest)), idle_fraction_(QuietIdleFraction(spinning_threads)) {}

  void Before(const std::string& tls, size_t block_bytes, size_t batch) {
    if (!last_ || last_->tls != tls || last_->block_bytes != block_bytes ||
        last_->batch != batch) {
      last_ = Measure(tls, block_bytes, batch);
    }
    before_ = *last_;
    Quiet();  // the case, too, starts on a quiet host
  }

  Baselines After(const std::string& tls, size_t block_bytes, size_t batch) {
    last_ = Measure(tls, block_bytes, batch);
    Baselines b;
    b.memcpy_gbps = (before_.memcpy_gbps + last_->memcpy_gbps) / 2;
    if (before_.perftest_gbps && last_->perftest_gbps) {
      b.perftest_gbps = (*before_.perftest_gbps + *last_->perftest_gbps) / 2;
    } else {
      b.perftest_gbps = last_->perftest_gbps ? last_->perftest_gbps : before_.perftest_gbps;
    }
    return b;
  }

  BaselineHooks Hooks() {
    return {[this](const std::string& tls, size_t block, size_t batch) {
              Before(tls, block, batch);
            },
            [this](const std::string& tls, size_t block, size_t batch) {
              return After(tls, block, batch);
            }};
  }

  // Summary for stderr: how often the host had to settle before a measurement.
  std::string QuietSummary() const {
    return absl::StrCat("waited for quiet CPUs before ", waits_, " of ", quiet_calls_,
                        " measurements (", absl::SixDigits(waited_s_), " s in all; ", timeouts_,
                        " never quiet within 3 s)");
  }

 private:
  struct Sample {
    std::string tls;
    size_t block_bytes = 0;
    size_t batch = 0;
    double memcpy_gbps = 0;
    std::optional<double> perftest_gbps;
  };

  // 90% idle of the CPUs the spinning threads leave; nothing to wait for when they take them all.
  static double QuietIdleFraction(int spinning_threads) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= spinning_threads) return 0;
    return 0.9 * static_cast<double>(cpus - spinning_threads) / static_cast<double>(cpus);
  }

  void Quiet() {
    const double waited = idle_fraction_ > 0 ? WaitForQuietCpus(3.0, idle_fraction_) : 0;
    ++quiet_calls_;
    if (waited > 0.15) ++waits_;  // more than the one 100 ms window
    if (waited >= 3.0) ++timeouts_;
    waited_s_ += waited;
  }

  Sample Measure(const std::string& tls, size_t block_bytes, size_t batch) {
    Quiet();
    Sample s{tls, block_bytes, batch, MeasureMemcpyGbps(block_bytes, batch, 5, 128ull << 20),
             std::nullopt};
    if (perftest_) s.perftest_gbps = PerftestTagBwOnce(*perftest_, tls, block_bytes);
    return s;
  }

  const std::optional<std::string> perftest_;
  const double idle_fraction_;
  std::optional<Sample> last_;
  Sample before_;
  int quiet_calls_ = 0;
  int waits_ = 0;
  int timeouts_ = 0;
  double waited_s_ = 0;
};

// --- the cases --------------------------------------------------------------------------------

struct Case {
  std::string path = "transport";  // transport (two processes, no node) | ucx | grpc (a node)
  std::string tls;
  std::string protocol;  // as requested: auto | rma | am
  size_t block_bytes = 0;
  size_t batch = 0;
  std::string op;       // get | put (client's view)
  std::string control;  // ucx node rows: message | grpc (NodeCase::control); "" otherwise
};

struct Result {
  Case c;
  std::string chosen;  // protocol the endpoint used
  double gbps = 0;
  double p50_us = 0;
  double p99_us = 0;
  double memcpy_gbps = 0;
  std::optional<double> perftest_gbps;
  bool ok = false;
  std::string error;
};

struct Node {
  std::unique_ptr<BenchBuffer> pool;  // declared first: outlives the transport that may touch it
  std::unique_ptr<UcxTransport> transport;
  transfer::LocalRegion region;
  transfer::RemoteRegionHandle remote;
  std::string chosen;
};

std::optional<Node> MakeNode(const Peer& peer, const std::string& tls, const std::string& protocol,
                             const std::string& progress, std::optional<uint64_t> merge_max,
                             std::string* error) {
  UcxTransportOptions options = Options(tls, protocol, progress);
  if (merge_max) options.merge_max_bytes = *merge_max;
  auto transport = UcxTransport::Create(options);
  if (!transport.ok()) {
    *error = transport.status().ToString();
    return std::nullopt;
  }
  Node node;
  node.transport = std::move(*transport);
  node.pool = std::make_unique<BenchBuffer>(kPeerBytes);
  std::memset(node.pool->data(), 3, node.pool->size());
  auto region = node.transport->RegisterMemory(node.pool->data(), node.pool->size());
  auto handle = node.transport->Connect("bench-client", peer.address);
  if (!region.ok() || !handle.ok()) {
    *error = !region.ok() ? region.status().ToString() : handle.status().ToString();
    return std::nullopt;
  }
  node.region = *region;
  auto remote = node.transport->AddRemoteRegion(*handle, peer.descriptor);
  auto info = node.transport->DescribePeer(*handle);
  if (!remote.ok() || !info.ok()) {
    *error = !remote.ok() ? remote.status().ToString() : info.status().ToString();
    return std::nullopt;
  }
  node.remote = *remote;
  node.chosen = transfer::ProtocolName(info->protocol);
  return node;
}

Result RunCase(Node& node, const Case& c, double seconds) {
  Result r;
  r.c = c;
  r.chosen = node.chosen;
  std::vector<TransferOp> ops;
  for (size_t i = 0; i < c.batch; ++i) {
    TransferOp op;
    op.kind = c.op == "get" ? OpKind::kPut : OpKind::kGet;
    op.local_region = node.region.id;
    op.local_offset = i * c.block_bytes;
    op.remote_region = node.remote;
    op.remote_offset = i * c.block_bytes;
    op.length = c.block_bytes;
    ops.push_back(op);
  }
  // Three warm-up batches: connection wireup, registration caches.
  TimedLoop loop =
      RunTimedLoop([&] { return node.transport->Run(ops, absl::Seconds(10)); }, 3, seconds, 10);
  if (!loop.status.ok()) {
    r.error = loop.status.ToString();
    return r;
  }
  r.gbps = static_cast<double>(loop.iterations * c.batch * c.block_bytes) / loop.elapsed_s / 1e9;
  r.p50_us = Median(loop.latencies_us);
  r.p99_us = Percentile(loop.latencies_us, 0.99);
  r.ok = true;
  return r;
}

// --- output -----------------------------------------------------------------------------------

void PrintJson(const std::vector<Result>& results) {
  std::printf("{\"cases\": [");
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    std::printf(
        "%s\n  {\"path\": \"%s\", \"tls\": \"%s\", \"block_bytes\": %zu, \"batch\": %zu, "
        "\"op\": \"%s\", \"protocol\": \"%s\", \"control\": %s, ",
        i == 0 ? "" : ",", r.c.path.c_str(), r.c.tls.c_str(), r.c.block_bytes, r.c.batch,
        r.c.op.c_str(), r.chosen.c_str(),
        r.c.control.empty() ? "null" : ("\"" + r.c.control + "\"").c_str());
    if (r.ok) {
      std::printf("\"gbps\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f, ", r.gbps, r.p50_us,
                  r.p99_us);
    } else {
      std::printf("\"gbps\": null, \"p50_us\": null, \"p99_us\": null, \"error\": \"%s\", ",
                  r.error.c_str());
    }
    std::printf("\"memcpy_gbps\": %.3f, \"perftest_gbps\": ", r.memcpy_gbps);
    if (r.perftest_gbps) {
      std::printf("%.3f}", *r.perftest_gbps);
    } else {
      std::printf("null}");
    }
  }
  std::printf("\n]}\n");
}

// The table's proto column: the protocol chosen, or for node rows how the requests travelled.
std::string ProtoColumn(const Result& r) {
  if (r.c.control.empty()) return r.chosen;
  return r.c.control == "message" ? "msg" : "rpc";
}

void PrintTable(const std::vector<Result>& results) {
  std::printf("%-9s %-4s %-5s %9s %5s %4s %8s %9s %9s %8s %9s %7s %7s\n", "path", "tls", "proto",
              "block", "batch", "op", "GB/s", "p50_us", "p99_us", "memcpy", "perftest", "x_mcpy",
              "x_perf");
  for (const Result& r : results) {
    if (!r.ok) {
      std::printf("%-9s %-4s %-5s %9zu %5zu %4s  error: %s\n", r.c.path.c_str(), r.c.tls.c_str(),
                  ProtoColumn(r).c_str(), r.c.block_bytes, r.c.batch, r.c.op.c_str(),
                  r.error.c_str());
      continue;
    }
    std::printf(
        "%-9s %-4s %-5s %9zu %5zu %4s %8.2f %9.1f %9.1f %8.2f %9s %7.2f %7s\n", r.c.path.c_str(),
        r.c.tls.c_str(), ProtoColumn(r).c_str(), r.c.block_bytes, r.c.batch, r.c.op.c_str(), r.gbps,
        r.p50_us, r.p99_us, r.memcpy_gbps,
        r.perftest_gbps ? std::to_string(*r.perftest_gbps).substr(0, 6).c_str() : "-",
        r.gbps / r.memcpy_gbps,
        r.perftest_gbps ? std::to_string(r.gbps / *r.perftest_gbps).substr(0, 5).c_str() : "-");
  }
}

void Usage() {
  std::printf(
      "usage: strata-bench transfer [--json] [--block-bytes N] [--batch N]\n"
      "                             [--path transport|ucx|grpc]\n"
      "                             [--tls shm|tcp] [--op get|put] [--protocol auto|rma|am]\n"
      "                             [--progress event|busy] [--peer-progress event|busy]\n"
      "                             [--control message|grpc]\n"
      "                             [--seconds S] [--no-perftest] [--merge-max BYTES]\n"
      "Without case flags, sweeps block {64KiB,256KiB,1MiB,4MiB} x batch {1,16,64} x tls\n"
      "{shm,tcp} x op {get,put} with the protocol each endpoint picks (auto), plus the other\n"
      "protocol at batch 16 for comparison. `op` is the client's view: get = node writes into\n"
      "the client's buffer. path transport: the Transport between two processes, no node;\n"
      "ucx: a strata-node process and the client's GetInto/PutFrom, their requests as UCX\n"
      "messages (--control message, the default) or as gRPC calls (--control grpc; the sweep\n"
      "adds these rows at batch 1); grpc: the same node, Get/Put. --progress is the node's UCX\n"
      "progress (transport rows: this process's), --peer-progress the client's.\n");
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    size_t n = 0;
    if (a == "--json") {
      flags->json = true;
    } else if (a == "--serve-peer") {
      flags->serve_peer = true;
    } else if (a == "--no-perftest") {
      flags->perftest = false;
    } else if (a == "--block-bytes" && value(&v) && absl::SimpleAtoi(v, &n) && n > 0 &&
               n <= kMaxBlock) {
      flags->block_bytes = n;
    } else if (a == "--batch" && value(&v) && absl::SimpleAtoi(v, &n) && n > 0 && n <= kMaxBatch) {
      flags->batch = n;
    } else if (a == "--path" && value(&v) && (v == "transport" || v == "ucx" || v == "grpc")) {
      flags->path = v;
    } else if (a == "--tls" && value(&v) && (v == "shm" || v == "tcp")) {
      flags->tls = v;
    } else if (a == "--op" && value(&v) && (v == "get" || v == "put")) {
      flags->op = v;
    } else if (a == "--protocol" && value(&v) && (v == "auto" || v == "rma" || v == "am")) {
      flags->protocol = v;
    } else if (a == "--control" && value(&v) && (v == "message" || v == "grpc")) {
      flags->control = v;
    } else if (a == "--progress" && value(&v) && (v == "event" || v == "busy")) {
      flags->progress = v;
    } else if (a == "--peer-progress" && value(&v) && (v == "event" || v == "busy")) {
      flags->peer_progress = v;
    } else if (a == "--merge-max" && value(&v) && absl::SimpleAtoi(v, &n)) {
      flags->merge_max = n;
    } else if (a == "--seconds" && value(&v) && absl::SimpleAtod(v, &flags->seconds_per_case) &&
               flags->seconds_per_case > 0 && flags->seconds_per_case <= 30) {
    } else {
      return false;
    }
  }
  return true;
}

int RunTransferBench(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  if (flags.serve_peer) return ServePeer(flags);
  signal(SIGPIPE, SIG_IGN);

  const bool single = flags.block_bytes || flags.batch || flags.tls || flags.op || flags.path;
  const bool transport_rows = !flags.path || *flags.path == "transport";
  std::vector<Case> cases;
  const std::vector<std::string> tls_list =
      flags.tls ? std::vector<std::string>{*flags.tls} : std::vector<std::string>{"shm", "tcp"};
  const std::vector<size_t> blocks =
      flags.block_bytes ? std::vector<size_t>{*flags.block_bytes}
                        : std::vector<size_t>{64 << 10, 256 << 10, 1 << 20, 4 << 20};
  const std::vector<size_t> batches =
      flags.batch ? std::vector<size_t>{*flags.batch} : std::vector<size_t>{1, 16, 64};
  const std::vector<std::string> ops =
      flags.op ? std::vector<std::string>{*flags.op} : std::vector<std::string>{"get", "put"};
  std::vector<NodeCase> node_cases;
  const std::vector<std::string> node_paths =
      !flags.path ? std::vector<std::string>{"ucx", "grpc"}
                  : (*flags.path == "transport" ? std::vector<std::string>{}
                                                : std::vector<std::string>{*flags.path});
  for (const auto& tls : tls_list) {
    for (size_t block : blocks) {
      for (size_t batch : batches) {
        for (const auto& op : ops) {
          if (transport_rows)
            cases.push_back({"transport", tls, flags.protocol, block, batch, op, ""});
          for (const auto& path : node_paths) {
            const std::string control = flags.control.value_or("message");
            node_cases.push_back({path, tls, block, batch, op, control});
            // Without --control the sweep shows what the requests cost as gRPC calls where it
            // matters most, single blocks.
            if (path == "ucx" && !flags.control && !single && batch == 1) {
              node_cases.push_back({path, tls, block, batch, op, "grpc"});
            }
          }
        }
      }
    }
    if (!single) {
      // The protocol auto did not pick, for comparison (get, batch 16); "other" is resolved once
      // the auto endpoint has chosen.
      for (size_t block : blocks)
        cases.push_back({"transport", tls, "other", block, 16, "get", ""});
    }
  }

  AdjacentBaselines baselines(flags.perftest ? FindPerftest() : std::nullopt,
                              (flags.progress == "busy") + (flags.peer_progress == "busy"));
  std::vector<Result> results;
  for (const auto& tls : tls_list) {
    if (!transport_rows) break;
    std::optional<Peer> peer = StartPeer(tls, flags.peer_progress);
    if (!peer) {
      std::fprintf(stderr, "strata-bench transfer: could not start the peer process (%s)\n",
                   tls.c_str());
      return 1;
    }
    std::map<std::string, Node> nodes;  // by requested protocol
    for (Case c : cases) {
      if (c.tls != tls) continue;
      if (c.protocol == "other") {
        auto chosen = nodes.find("auto");
        c.protocol = chosen != nodes.end() && chosen->second.chosen == "rma" ? "am" : "rma";
      }
      Result r;
      auto it = nodes.find(c.protocol);
      if (it == nodes.end()) {
        std::string error;
        std::optional<Node> node =
            MakeNode(*peer, tls, c.protocol, flags.progress, flags.merge_max, &error);
        if (!node) {
          r.c = c;
          r.error = error;
          results.push_back(r);
          continue;
        }
        it = nodes.emplace(c.protocol, std::move(*node)).first;
      }
      baselines.Before(tls, c.block_bytes, c.batch);
      r = RunCase(it->second, c, flags.seconds_per_case);
      const Baselines b = baselines.After(tls, c.block_bytes, c.batch);
      r.memcpy_gbps = b.memcpy_gbps;
      r.perftest_gbps = b.perftest_gbps;
      results.push_back(r);
      if (!flags.json) {
        std::fprintf(stderr, "  %s %s %zu x %zu %s: %.2f GB/s\n", tls.c_str(), r.chosen.c_str(),
                     c.batch, c.block_bytes, c.op.c_str(), r.gbps);
      }
    }
    nodes.clear();  // close endpoints before the peer goes away
    Reap(peer->child, absl::Seconds(5));
  }
  const NodeProgress node_progress{flags.progress, flags.peer_progress};
  for (const NodeCaseResult& n :
       RunNodeCases(node_cases, flags.seconds_per_case, node_progress, baselines.Hooks())) {
    Result r;
    r.c = Case{n.c.path,
               n.c.tls,
               "-",
               n.c.block_bytes,
               n.c.batch,
               n.c.op,
               n.c.path == "ucx" ? n.c.control : ""};
    r.chosen = n.protocol;
    r.ok = n.ok;
    r.error = n.error;
    r.gbps = n.gbps;
    r.p50_us = n.p50_us;
    r.p99_us = n.p99_us;
    r.memcpy_gbps = n.baselines.memcpy_gbps;
    r.perftest_gbps = n.baselines.perftest_gbps;
    results.push_back(r);
  }
  std::fprintf(stderr, "strata-bench transfer: %s\n", baselines.QuietSummary().c_str());
  if (flags.json) {
    PrintJson(results);
  } else {
    PrintTable(results);
  }
  for (const Result& r : results) {
    if (!r.ok) return 1;
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("transfer", "UCX data plane: GB/s and latency vs memcpy and ucx_perftest",
                     RunTransferBench);

}  // namespace strata::bench
