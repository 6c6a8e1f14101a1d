// strata-bench compare: Strata beside Redis and memcached on this host, in one run, with the
// limits of the hardware and transport measured in the same run.
//
// Stores (stores.h): redis (hiredis), memcached (libmemcached), strata-grpc (the client's Get/Put,
// bytes in gRPC), strata-ucx-tcp (GetInto/PutFrom on a registered buffer over UCX/tcp) and
// strata-ucx-shm (the same through a node whose data plane is shared memory: same-host clients
// only, labelled as such). Servers not given by address are started here (servers.h), each with
// the same memory (--memory), and stopped by PID at the end.
//
// Workloads (workloads.h): (a) Put/Get throughput over block size x batch x client threads;
// (b) the multi-turn prefix fetch, p50/p99. Limits: single-thread memcpy of the same blocks,
// ucx_perftest tag_bw on tcp and shm (when installed), and loopback TCP between two sockets;
// measured before and after the stores, reported as the mean of the two.
//
// Cases run store after store for the same (op, block, batch, threads), the first store rotating
// from case to case, so the host's drift hits every store alike.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "bench/child_process.h"
#include "bench/compare/limits.h"
#include "bench/compare/report.h"
#include "bench/compare/servers.h"
#include "bench/compare/stores.h"
#include "bench/compare/workloads.h"
#include "common/units.h"

namespace strata::bench {
namespace {

const std::vector<std::string> kAllStores = {"redis", "memcached", "strata-grpc", "strata-ucx-tcp",
                                             "strata-ucx-shm"};

struct Flags {
  bool json = false;
  bool quick = false;
  bool perftest = true;
  std::map<std::string, std::string> addresses;  // store -> HOST:PORT given
  std::vector<std::string> stores = kAllStores;
  uint64_t memory_bytes = 1ull << 30;
  uint64_t staging_bytes = 256ull << 20;
  std::optional<std::vector<size_t>> blocks, batches, threads;
  std::optional<std::vector<std::string>> ops;
  std::optional<double> seconds;
  size_t prefix_block = 256 << 10;
  std::optional<size_t> prefix_calls;
};

bool ParseList(const std::string& text, std::vector<size_t>* out, bool sizes) {
  out->clear();
  for (const std::string& part :
       std::vector<std::string>(absl::StrSplit(text, ',', absl::SkipEmpty()))) {
    uint64_t v = 0;
    if (sizes) {
      auto s = ParseSize(part);
      if (!s.ok()) return false;
      v = *s;
    } else if (!absl::SimpleAtoi(part, &v)) {
      return false;
    }
    if (v == 0) return false;
    out->push_back(v);
  }
  return !out->empty();
}

void Usage() {
  std::printf(
      "usage: strata-bench compare [--json] [--quick] [--memory SIZE] [--stores LIST]\n"
      "         [--redis HOST:PORT] [--memcached HOST:PORT] [--node HOST:PORT]\n"
      "         [--shm-node HOST:PORT] [--blocks SIZES] [--batches N,..] [--threads N,..]\n"
      "         [--ops get,put] [--seconds S] [--prefix-block SIZE] [--prefix-calls N]\n"
      "         [--no-perftest]\n"
      "Strata beside Redis and memcached: Put/Get throughput (blocks x batches x client\n"
      "threads), the multi-turn prefix fetch (p50/p99), and the limits (memcpy, ucx_perftest,\n"
      "loopback TCP) in one run. Servers not given are started on 127.0.0.1 with --memory each\n"
      "(default 1GiB) and stopped at the end. --node: a node with --data-plane tcp; --shm-node:\n"
      "one with --data-plane shm. Stores: %s.\n"
      "Default grid: blocks 64KiB,256KiB,1MiB x batches 1,16,64 x threads 1,2,4, 0.5 s a case,\n"
      "800 prefix fetches; --quick: blocks 64KiB,1MiB x threads 1,4, 0.25 s, 160 fetches.\n",
      "redis,memcached,strata-grpc,strata-ucx-tcp,strata-ucx-shm");
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    std::string v;
    auto value = [&]() {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    std::vector<size_t> list;
    if (a == "--json") {
      f->json = true;
    } else if (a == "--quick") {
      f->quick = true;
    } else if (a == "--no-perftest") {
      f->perftest = false;
    } else if ((a == "--redis" || a == "--memcached") && value()) {
      f->addresses[std::string(a.substr(2))] = v;
    } else if (a == "--node" && value()) {
      f->addresses["strata-grpc"] = v;
      f->addresses["strata-ucx-tcp"] = v;
    } else if (a == "--shm-node" && value()) {
      f->addresses["strata-ucx-shm"] = v;
    } else if (a == "--stores" && value()) {
      f->stores = absl::StrSplit(v, ',', absl::SkipEmpty());
      for (const std::string& s : f->stores) {
        if (std::find(kAllStores.begin(), kAllStores.end(), s) == kAllStores.end()) return false;
      }
    } else if (a == "--memory" && value()) {
      auto s = ParseSize(v);
      if (!s.ok() || *s < (64ull << 20)) return false;
      f->memory_bytes = *s;
    } else if (a == "--blocks" && value() && ParseList(v, &list, true)) {
      for (size_t b : list) {
        if (b % 8 != 0 || b > (4u << 20)) return false;
      }
      f->blocks = list;
    } else if (a == "--batches" && value() && ParseList(v, &list, false)) {
      if (*std::max_element(list.begin(), list.end()) > kMaxBatch) return false;
      f->batches = list;
    } else if (a == "--threads" && value() && ParseList(v, &list, false)) {
      if (*std::max_element(list.begin(), list.end()) > 16) return false;
      f->threads = list;
    } else if (a == "--ops" && value()) {
      std::vector<std::string> ops = absl::StrSplit(v, ',', absl::SkipEmpty());
      for (const std::string& op : ops) {
        if (op != "get" && op != "put") return false;
      }
      if (ops.empty()) return false;
      f->ops = ops;
    } else if (a == "--seconds" && value()) {
      double s = 0;
      if (!absl::SimpleAtod(v, &s) || s <= 0 || s > 30) return false;
      f->seconds = s;
    } else if (a == "--prefix-block" && value()) {
      auto s = ParseSize(v);
      if (!s.ok() || *s == 0 || *s % 8 != 0 || *s > (1u << 20)) return false;
      f->prefix_block = *s;
    } else if (a == "--prefix-calls" && value()) {
      size_t n = 0;
      if (!absl::SimpleAtoi(v, &n) || n == 0 || n > 100'000) return false;
      f->prefix_calls = n;
    } else {
      return false;
    }
  }
  return true;
}

// Limits at each block size; measured twice, reported as the mean.
LimitRow MeasureLimits(size_t block_bytes, const std::optional<std::string>& perftest) {
  LimitRow l;
  l.block_bytes = block_bytes;
  l.memcpy_gbps = MeasureMemcpyGbps(block_bytes, kMaxBatch, 3, 128ull << 20);
  l.tcp_socket_gbps = TcpSocketPairGbps(block_bytes, 0.5);
  if (perftest) {
    l.perftest_tcp_gbps = PerftestTagBwOnce(*perftest, "tcp", block_bytes);
    l.perftest_tcp_peer_gbps = PerftestTagBwOnce(*perftest, "tcp", block_bytes, true);
    l.perftest_shm_gbps = PerftestTagBwOnce(*perftest, "shm", block_bytes);
  }
  return l;
}

std::optional<double> Mean(std::optional<double> a, std::optional<double> b) {
  if (a && b) return (*a + *b) / 2;
  return a ? a : b;
}

int RunCompareBench(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      Usage();
      return 0;
    }
  }
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const double run_start = NowSeconds();
  const std::vector<size_t> blocks =
      flags.blocks.value_or(flags.quick ? std::vector<size_t>{64 << 10, 1 << 20}
                                        : std::vector<size_t>{64 << 10, 256 << 10, 1 << 20});
  const std::vector<size_t> batches = flags.batches.value_or(std::vector<size_t>{1, 16, 64});
  const std::vector<size_t> thread_counts = flags.threads.value_or(
      flags.quick ? std::vector<size_t>{1, 4} : std::vector<size_t>{1, 2, 4});
  const std::vector<std::string> ops = flags.ops.value_or(std::vector<std::string>{"get", "put"});
  const double seconds = flags.seconds.value_or(flags.quick ? 0.25 : 0.5);
  const size_t prefix_calls = flags.prefix_calls.value_or(flags.quick ? 160 : 800);
  const size_t max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
  const size_t max_block =
      std::max(*std::max_element(blocks.begin(), blocks.end()), flags.prefix_block);
  auto log = [&](const std::string& line) {
    std::fprintf(stderr, "[compare %5.1f s] %s\n", NowSeconds() - run_start, line.c_str());
  };

  Report report;
  report.quick = flags.quick;
  report.seconds_per_case = seconds;
  report.memory_bytes = flags.memory_bytes;
  report.prefix_block_bytes = flags.prefix_block;

  // Servers first (fork before any client thread exists).
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::pair<size_t, ServerProcess*>> started;  // index in specs, its server
  std::vector<StoreSpec> specs;
  for (const std::string& name : flags.stores) {
    StoreSpec spec{name, ""};
    auto given = flags.addresses.find(name);
    if (given != flags.addresses.end()) {
      spec.address = given->second;
      report.stores.push_back({name, spec.address, "(given)"});
      specs.push_back(spec);
      continue;
    }
    // strata-grpc and strata-ucx-tcp share the tcp node.
    if (name == "strata-grpc" || name == "strata-ucx-tcp") {
      const std::string other = name == "strata-grpc" ? "strata-ucx-tcp" : "strata-grpc";
      auto same = std::find_if(specs.begin(), specs.end(),
                               [&](const StoreSpec& s) { return s.name == other; });
      if (same != specs.end()) {  // its address is filled in once that node serves
        spec.address = same->address;
        report.stores.push_back({name, spec.address, "(the same node)"});
        specs.push_back(spec);
        continue;
      }
    }
    absl::StatusOr<std::unique_ptr<ServerProcess>> server;
    if (name == "redis") server = ServerProcess::StartRedis(flags.memory_bytes);
    if (name == "memcached") server = ServerProcess::StartMemcached(flags.memory_bytes);
    if (name == "strata-grpc" || name == "strata-ucx-tcp") {
      server = ServerProcess::StartStrataNode(flags.memory_bytes, "tcp", flags.staging_bytes);
    }
    if (name == "strata-ucx-shm") {
      server = ServerProcess::StartStrataNode(flags.memory_bytes, "shm", flags.staging_bytes);
    }
    if (!server.ok()) {
      std::fprintf(stderr, "strata-bench compare: %s: %s\n", name.c_str(),
                   server.status().ToString().c_str());
      return 1;
    }
    report.stores.push_back({name, "", (*server)->command()});
    servers.push_back(*std::move(server));
    started.push_back({specs.size(), servers.back().get()});
    specs.push_back(spec);
  }
  for (const auto& [i, server] : started) {
    absl::Status st = server->WaitUntilServing();
    if (!st.ok()) {
      std::fprintf(stderr, "strata-bench compare: %s: %s\n", specs[i].name.c_str(),
                   st.ToString().c_str());
      return 1;
    }
    specs[i].address = server->address();
    report.stores[i].address = server->address();
    log(absl::StrCat("started ", specs[i].name, " at ", server->address(), " (pid ", server->pid(),
                     ")"));
  }
  for (size_t i = 0; i < specs.size(); ++i) {  // the strata-grpc / strata-ucx-tcp sharing a node
    if (!specs[i].address.empty()) continue;
    for (const StoreSpec& other : specs) {
      if (&other != &specs[i] && !other.address.empty() &&
          (other.name == "strata-grpc" || other.name == "strata-ucx-tcp")) {
        specs[i].address = other.address;
        report.stores[i].address = other.address;
      }
    }
  }

  // One buffer per client thread, shared by the stores (one store runs at a time).
  const size_t capacity = kMaxBatch * max_block;
  std::vector<std::unique_ptr<BenchBuffer>> buffers;
  for (size_t t = 0; t < max_threads; ++t)
    buffers.push_back(std::make_unique<BenchBuffer>(capacity));
  std::map<std::string, std::vector<std::unique_ptr<StoreSession>>> sessions;
  for (const StoreSpec& spec : specs) {
    for (size_t t = 0; t < max_threads; ++t) {
      auto s = ConnectStore(spec, buffers[t]->data(), capacity);
      if (!s.ok()) {
        std::fprintf(stderr, "strata-bench compare: %s: %s\n", spec.name.c_str(),
                     s.status().ToString().c_str());
        return 1;
      }
      sessions[spec.name].push_back(*std::move(s));
    }
  }
  auto raw = [&](const std::string& name) {
    std::vector<StoreSession*> out;
    for (auto& s : sessions[name]) out.push_back(s.get());
    return out;
  };

  const std::optional<std::string> perftest = flags.perftest ? FindPerftest() : std::nullopt;
  report.perftest = perftest.value_or("");
  if (flags.perftest && !perftest) {
    log("ucx_perftest not found (ucx-utils): its limits are left out (null in the JSON)");
  }
  std::vector<LimitRow> before;
  for (size_t b : blocks) before.push_back(MeasureLimits(b, perftest));
  log("limits measured (before)");

  int failures = 0;
  size_t rotation = 0;
  for (size_t b : blocks) {
    for (const StoreSpec& spec : specs) {
      absl::Status st = SeedBlocks(raw(spec.name), b);
      if (!st.ok()) {
        std::fprintf(stderr, "strata-bench compare: seeding %s: %s\n", spec.name.c_str(),
                     st.ToString().c_str());
        return 1;
      }
    }
    for (const std::string& op : ops) {
      for (size_t batch : batches) {
        for (size_t threads : thread_counts) {
          const ThroughputCase c{op, b, batch, threads};
          for (size_t k = 0; k < specs.size(); ++k) {
            const StoreSpec& spec = specs[(k + rotation) % specs.size()];
            CaseRow row{spec.name, c,
                        RunThroughput(raw(spec.name), c, seconds, flags.quick ? 20 : 50)};
            if (!row.m.ok) ++failures;
            log(absl::StrCat(spec.name, " ", op, " ", b, " x ", batch, " t", threads, ": ",
                             row.m.ok ? absl::StrCat(absl::SixDigits(row.m.gbps), " GB/s")
                                      : "error " + row.m.error));
            report.cases.push_back(std::move(row));
          }
          ++rotation;
        }
      }
    }
  }
  for (const StoreSpec& spec : specs) {
    PrefixRow row{spec.name,
                  RunPrefix(*sessions[spec.name][0], flags.prefix_block, prefix_calls, 30.0)};
    if (!row.r.m.ok) ++failures;
    log(absl::StrCat(spec.name, " prefix: ",
                     row.r.m.ok ? absl::StrCat("p50 ", absl::SixDigits(row.r.m.p50_us), " us p99 ",
                                               absl::SixDigits(row.r.m.p99_us), " us")
                                : "error " + row.r.m.error));
    report.prefix.push_back(std::move(row));
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    LimitRow after = MeasureLimits(blocks[i], perftest);
    LimitRow l = before[i];
    l.memcpy_gbps = (l.memcpy_gbps + after.memcpy_gbps) / 2;
    l.tcp_socket_gbps = Mean(l.tcp_socket_gbps, after.tcp_socket_gbps);
    l.perftest_tcp_gbps = Mean(l.perftest_tcp_gbps, after.perftest_tcp_gbps);
    l.perftest_tcp_peer_gbps = Mean(l.perftest_tcp_peer_gbps, after.perftest_tcp_peer_gbps);
    l.perftest_shm_gbps = Mean(l.perftest_shm_gbps, after.perftest_shm_gbps);
    report.limits.push_back(l);
  }
  log("limits measured (after)");
  sessions.clear();  // clients before their servers
  servers.clear();
  report.elapsed_s = NowSeconds() - run_start;
  if (flags.json) {
    PrintReportJson(report, stdout);
  } else {
    PrintReportText(report, stdout);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

STRATA_BENCH_COMMAND("compare", "Strata beside Redis and memcached, with the limits, in one run",
                     RunCompareBench);

}  // namespace strata::bench
