// strata-bench cluster: what routing over a cluster costs and buys.
//  - fan-out: how many nodes one 64-block prefix Lookup touches under per-block rendezvous
//    placement (R=1), for several cluster sizes, next to chain-segment placement (S consecutive
//    blocks share the owner of the segment's first block) computed from the same placement
//    function. Pure computation, no nodes.
//  - load: N in-process nodes on loopback (gRPC bytes, no SSD) behind one strata::Client:
//    aggregate Get GB/s from several client threads, and the latency of a 64-block prefix
//    Lookup (p50/p99), for each N asked. The 1-node case is the single-node client, the
//    baseline measured in the same run.
#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "cachenode/node.h"
#include "client/client.h"
#include "cluster/placement.h"
#include "common/units.h"

namespace strata::bench {
namespace {

struct Fanout {
  size_t nodes;
  size_t segment;  // 1: per-block placement
  double mean = 0, max = 0;
};

std::string RandomKey(std::mt19937_64& rng) {
  std::string k(16, '\0');
  for (char& c : k) c = static_cast<char>(rng());
  return k;
}

Fanout MeasureFanout(size_t nodes, size_t segment, size_t chain, size_t chains) {
  cluster::ClusterView view;
  for (size_t n = 0; n < nodes; ++n) {
    cluster::NodeRecord r;
    r.id = absl::StrCat("node-", n);
    r.address = r.id;
    view.nodes.push_back(r);
  }
  std::mt19937_64 rng(11);
  Fanout f{nodes, segment};
  double sum = 0;
  for (size_t c = 0; c < chains; ++c) {
    std::set<std::string> touched;
    std::string segment_key;
    for (size_t i = 0; i < chain; ++i) {
      const std::string key = RandomKey(rng);
      if (i % segment == 0) segment_key = key;
      touched.insert(cluster::Owners(view, "bench/fanout", segment_key, 1)[0]->id);
    }
    sum += touched.size();
    f.max = std::max<double>(f.max, touched.size());
  }
  f.mean = sum / chains;
  return f;
}

struct Load {
  size_t nodes;
  double get_gbps = 0;
  double lookup_p50_us = 0, lookup_p99_us = 0;
  size_t lookups = 0;
};

absl::Status MeasureLoad(Load& load, size_t block_bytes, size_t blocks, size_t batch,
                         int threads, double seconds, size_t lookups) {
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::string> addresses;
  for (size_t n = 0; n < load.nodes; ++n) {
    NodeOptions o;
    o.listen = "127.0.0.1:0";
    o.metrics_listen = "off";
    o.ssd_bytes = 0;
    o.data_plane.enabled = false;
    o.dram_bytes = blocks * block_bytes + (256ull << 20);
    auto node = Node::Start(o);
    if (!node.ok()) return node.status();
    addresses.push_back((*node)->address());
    nodes.push_back(*std::move(node));
  }
  ClientOptions co;
  co.nodes = addresses;
  auto client = Client::Connect(co);
  if (!client.ok()) return client.status();
  Client& c = **client;
  // Blocks for the Get phase.
  std::mt19937_64 rng(7);
  std::string payload(block_bytes, '\0');
  for (char& ch : payload) ch = static_cast<char>(rng());
  std::vector<std::string> keys;
  for (size_t i = 0; i < blocks; ++i) keys.push_back(absl::StrCat("get-", i));
  for (size_t i = 0; i < blocks; i += batch) {
    std::vector<PutBlock> part;
    for (size_t k = i; k < std::min(blocks, i + batch); ++k) part.push_back({keys[k], "", {}, payload});
    auto put = c.Put("bench/cluster", part);
    if (!put.ok()) return put.status();
  }
  // Aggregate Get throughput.
  WaitForQuietCpus();
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  const double t0 = NowSeconds();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 r(100 + t);
      while (NowSeconds() - t0 < seconds) {
        std::vector<std::string> part;
        for (size_t k = 0; k < batch; ++k) part.push_back(keys[r() % blocks]);
        auto got = c.Get("bench/cluster", part);
        if (!got.ok()) {
          failed.store(true);
          return;
        }
        for (const GetResult& g : *got) {
          if (!g.found()) failed.store(true);
          bytes.fetch_add(g.payload.size());
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  if (failed.load()) return absl::InternalError("a Get missed or failed");
  load.get_gbps = bytes.load() / (NowSeconds() - t0) / 1e9;
  // Prefix lookups: chains of 64 small blocks, all present.
  const size_t kChain = 64, kChains = 32;
  std::vector<std::vector<std::string>> chains(kChains);
  const std::string small(4096, 'x');
  for (size_t ch = 0; ch < kChains; ++ch) {
    std::vector<PutBlock> part;
    for (size_t i = 0; i < kChain; ++i) chains[ch].push_back(RandomKey(rng));
    for (size_t i = 0; i < kChain; ++i) {
      part.push_back({chains[ch][i], i ? std::string_view(chains[ch][i - 1]) : "", {}, small});
    }
    auto put = c.Put("bench/lookup", part);
    if (!put.ok()) return put.status();
  }
  WaitForQuietCpus();
  std::vector<double> us;
  for (size_t i = 0; i < lookups; ++i) {
    const double s = NowSeconds();
    auto run = c.Lookup("bench/lookup", chains[i % kChains]);
    if (!run.ok()) return run.status();
    if (*run != kChain) return absl::InternalError("a stored chain did not match in full");
    us.push_back((NowSeconds() - s) * 1e6);
  }
  load.lookups = lookups;
  load.lookup_p50_us = Percentile(us, 0.5);
  load.lookup_p99_us = Percentile(us, 0.99);
  return absl::OkStatus();
}

int RunClusterBench(int argc, char** argv) {
  CLI::App app{"strata-bench cluster: prefix-lookup fan-out, and Get/Lookup over 1..N nodes"};
  bool json_out = false;
  std::vector<size_t> fanout_nodes = {1, 3, 8};
  std::vector<size_t> segments = {1, 8, 64};
  std::vector<size_t> load_nodes = {1, 3};
  std::string block_bytes = "256KiB";
  size_t blocks = 256, batch = 16, lookups = 2000, chains = 10000;
  int threads = 4;
  double seconds = 3;
  app.add_flag("--json", json_out, "print one JSON object");
  app.add_option("--fanout-nodes", fanout_nodes, "cluster sizes for fan-out (default 1 3 8)");
  app.add_option("--segments", segments, "segment lengths S (1: per block; default 1 8 64)");
  app.add_option("--chains", chains, "chains sampled for fan-out (default 10000)");
  app.add_option("--nodes", load_nodes, "cluster sizes to load (default 1 3; empty: none)");
  app.add_option("--block-bytes", block_bytes, "Get phase block size (default 256KiB)");
  app.add_option("--blocks", blocks, "Get phase blocks (default 256)");
  app.add_option("--batch", batch, "keys per Get (default 16)");
  app.add_option("--threads", threads, "client threads in the Get phase (default 4)");
  app.add_option("--seconds", seconds, "Get phase length (default 3)");
  app.add_option("--lookups", lookups, "64-block Lookups timed (default 2000)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto size = ParseSize(block_bytes);
  if (!size.ok() || batch == 0 || blocks == 0 || threads < 1 || lookups == 0) {
    std::cerr << "strata-bench cluster: bad --block-bytes, --blocks, --batch, --threads or "
                 "--lookups\n";
    return 2;
  }
  std::vector<Fanout> fanouts;
  for (size_t n : fanout_nodes) {
    for (size_t s : segments) fanouts.push_back(MeasureFanout(n, std::max<size_t>(s, 1), 64, chains));
  }
  std::vector<Load> loads;
  for (size_t n : load_nodes) {
    Load l{n};
    if (absl::Status st = MeasureLoad(l, *size, blocks, batch, threads, seconds, lookups);
        !st.ok()) {
      std::cerr << "strata-bench cluster: " << n << " nodes: " << st.message() << "\n";
      return 1;
    }
    loads.push_back(l);
  }
  if (json_out) {
    nlohmann::json j = {{"fanout", nlohmann::json::array()}, {"load", nlohmann::json::array()}};
    for (const Fanout& f : fanouts) {
      j["fanout"].push_back({{"nodes", f.nodes},
                             {"segment", f.segment},
                             {"chain", 64},
                             {"mean_nodes_touched", f.mean},
                             {"max_nodes_touched", f.max}});
    }
    for (const Load& l : loads) {
      j["load"].push_back({{"nodes", l.nodes},
                           {"block_bytes", *size},
                           {"batch", batch},
                           {"threads", threads},
                           {"get_gbps", l.get_gbps},
                           {"lookup64_p50_us", l.lookup_p50_us},
                           {"lookup64_p99_us", l.lookup_p99_us}});
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("fan-out of a 64-block prefix lookup (R=1, %zu chains)\n", chains);
  std::printf("%6s %8s %12s %10s\n", "nodes", "segment", "mean nodes", "max nodes");
  for (const Fanout& f : fanouts) {
    std::printf("%6zu %8zu %12.2f %10.0f\n", f.nodes, f.segment, f.mean, f.max);
  }
  if (!loads.empty()) {
    std::printf("\nloopback, %s blocks, batch %zu, %d client threads\n",
                FormatSize(*size).c_str(), batch, threads);
    std::printf("%6s %10s %16s %16s\n", "nodes", "get GB/s", "lookup64 p50 us", "lookup64 p99 us");
    for (const Load& l : loads) {
      std::printf("%6zu %10.3f %16.0f %16.0f\n", l.nodes, l.get_gbps, l.lookup_p50_us,
                  l.lookup_p99_us);
    }
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("cluster", "prefix-lookup fan-out; Get/Lookup over 1 and N nodes",
                     RunClusterBench);

}  // namespace strata::bench
