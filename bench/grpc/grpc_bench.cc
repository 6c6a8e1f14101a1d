// strata-bench grpc: Put and Get throughput of KV blocks over the gRPC-bytes path against an
// in-process node on loopback, with single-thread memcpy of the same bytes measured in the same
// run as the baseline. This is the figure the UCX data plane must beat.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "cachenode/node.h"
#include "client/client.h"
#include "common/units.h"

namespace strata::bench {
namespace {

struct Case {
  size_t block_bytes;
  size_t batch;
  std::string op;
  double gbps = 0, p50_us = 0, p99_us = 0, memcpy_gbps = 0;
};

// Runs `runs` rounds of `op` over `blocks` blocks in calls of `batch`; returns per-round GB/s and
// fills per-call latencies.
absl::Status Measure(Client& client, Case& c, size_t blocks, int runs) {
  std::mt19937_64 rng(7);
  std::string payload(c.block_bytes, '\0');
  for (auto& ch : payload) ch = static_cast<char>(rng());
  std::vector<std::string> keys;
  for (size_t i = 0; i < blocks; ++i) keys.push_back(absl::StrCat("b", c.block_bytes, "-", i));
  const std::string ns = "bench/grpc";
  std::vector<double> rates, latencies;
  for (int r = 0; r < runs + 1; ++r) {  // round 0 warms up (and stores the blocks for get)
    const double t0 = NowSeconds();
    for (size_t i = 0; i < blocks; i += c.batch) {
      const size_t n = std::min(c.batch, blocks - i);
      const double s = NowSeconds();
      if (c.op == "put" || r == 0) {
        std::vector<PutBlock> batch;
        for (size_t k = i; k < i + n; ++k) batch.push_back({keys[k], "", {}, payload});
        auto res = client.Put(ns, batch);
        if (!res.ok()) return res.status();
        for (const auto& st : *res) {
          if (!st.ok()) return st;
        }
      } else {
        auto res = client.Get(ns, absl::MakeConstSpan(keys).subspan(i, n));
        if (!res.ok()) return res.status();
        for (const auto& g : *res) {
          if (!g.found() || g.payload.size() != c.block_bytes) {
            return absl::InternalError("get returned a miss or a short block");
          }
        }
      }
      if (r > 0) latencies.push_back((NowSeconds() - s) * 1e6);
    }
    if (r > 0)
      rates.push_back(static_cast<double>(blocks * c.block_bytes) / (NowSeconds() - t0) / 1e9);
  }
  c.gbps = Median(rates);
  c.p50_us = Percentile(latencies, 0.5);
  c.p99_us = Percentile(latencies, 0.99);
  return absl::OkStatus();
}

int RunGrpcBench(int argc, char** argv) {
  CLI::App app{"strata-bench grpc: Put/Get GB/s over gRPC bytes vs single-thread memcpy"};
  bool json_out = false;
  std::vector<size_t> sizes = {256 * 1024, 1024 * 1024};
  size_t batch = 16;
  std::string total = "128MiB";
  int runs = 5;
  app.add_flag("--json", json_out, "print one JSON object");
  app.add_option("--block-bytes", sizes, "block sizes (default 262144 1048576)");
  app.add_option("--batch", batch, "blocks per call (default 16)");
  app.add_option("--bytes", total, "bytes moved per round (default 128MiB)");
  app.add_option("--runs", runs, "measured rounds; the median is reported (default 5)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto bytes = ParseSize(total);
  if (!bytes.ok() || batch == 0 || runs <= 0) {
    std::cerr << "strata-bench grpc: bad --bytes, --batch or --runs\n";
    return 2;
  }

  NodeOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "off";
  options.ssd_bytes = 0;
  options.dram_bytes = *bytes + (64ull << 20);
  auto node = Node::Start(options);
  if (!node.ok()) {
    std::cerr << "strata-bench grpc: " << node.status().message() << "\n";
    return 1;
  }
  ClientOptions co;
  co.address = (*node)->address();
  auto client = Client::Connect(co);
  if (!client.ok()) {
    std::cerr << "strata-bench grpc: " << client.status().message() << "\n";
    return 1;
  }

  std::vector<Case> cases;
  for (size_t size : sizes) {
    for (const char* op : {"put", "get"}) {
      Case c{size, batch, op};
      const size_t blocks = std::max<size_t>(batch, *bytes / size);
      if (absl::Status st = Measure(**client, c, blocks, runs); !st.ok()) {
        std::cerr << "strata-bench grpc: " << st.message() << "\n";
        return 1;
      }
      c.memcpy_gbps = MeasureMemcpyGbps(size, batch);
      cases.push_back(c);
      (void)(*client)->Evict("bench/grpc");  // each size starts from an empty tier
    }
  }
  if (json_out) {
    nlohmann::json j;
    j["cases"] = nlohmann::json::array();
    for (const Case& c : cases) {
      j["cases"].push_back({{"path", "grpc"},
                            {"block_bytes", c.block_bytes},
                            {"batch", c.batch},
                            {"op", c.op},
                            {"gbps", c.gbps},
                            {"p50_us", c.p50_us},
                            {"p99_us", c.p99_us},
                            {"memcpy_gbps", c.memcpy_gbps},
                            {"ratio_to_memcpy", c.gbps / c.memcpy_gbps}});
    }
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%-6s %10s %6s %10s %10s %10s %12s %8s\n", "op", "block", "batch", "GB/s", "p50 us",
                "p99 us", "memcpy GB/s", "ratio");
    for (const Case& c : cases) {
      std::printf("%-6s %10zu %6zu %10.3f %10.0f %10.0f %12.2f %8.3f\n", c.op.c_str(),
                  c.block_bytes, c.batch, c.gbps, c.p50_us, c.p99_us, c.memcpy_gbps,
                  c.gbps / c.memcpy_gbps);
    }
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("grpc", "Put/Get throughput over gRPC bytes vs memcpy", RunGrpcBench);

}  // namespace strata::bench
