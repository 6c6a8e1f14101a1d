#include "bench/transfer/node_cases.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "bench/timed_loop.h"
#include "client/client.h"
#include "tests/testing/process.h"

namespace strata::bench {
namespace {

constexpr size_t kMaxBatch = 64;
constexpr size_t kMaxBlock = 4 << 20;

// A strata-node child process on a free loopback port, in a temp dir of its own (removed with
// it); stopped with SIGTERM (SIGKILL after 10 s).
class NodeChild {
 public:
  static std::unique_ptr<NodeChild> Start(const std::string& tls, const std::string& progress,
                                          std::string* error) {
    auto node = std::unique_ptr<NodeChild>(new NodeChild());
    node->dir_ = std::filesystem::temp_directory_path() /
                 absl::StrCat("strata-bench-node-", getpid(), "-", tls);
    std::filesystem::remove_all(node->dir_);
    std::filesystem::create_directories(node->dir_);
    const std::string config = node->dir_ + "/node.yaml";
    std::ofstream(config) << "data_plane:\n  tls: " << tls << "\n  staging_bytes: 288MiB\n";
    testing::NodeLaunch launch;
    launch.binary = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "strata-node";
    launch.metrics_listen = "off";
    launch.start_timeout = std::chrono::seconds(20);
    launch.args = {"--dram", "640MiB",   "--ssd", "0", "--data-plane-progress",
                   progress, "--config", config};
    node->process_ = testing::NodeProcess::Start(node->dir_, launch, error);
    if (node->process_ == nullptr) return nullptr;
    return node;
  }
  ~NodeChild() {
    if (process_ != nullptr) process_->Stop(SIGTERM, std::chrono::seconds(10));
    std::filesystem::remove_all(dir_);
  }
  std::string address() const { return process_->address(); }

 private:
  std::string dir_;
  std::unique_ptr<testing::NodeProcess> process_;
};

NodeCaseResult RunOne(Client& client, RegisteredBuffer& buf, const NodeCase& c, double seconds) {
  NodeCaseResult r;
  r.c = c;
  const std::string ns = "bench/transfer";
  std::vector<std::string> keys;
  std::vector<uint64_t> offsets, sizes;
  std::vector<PutFromBlock> put_from;
  std::vector<PutBlock> puts;
  for (size_t i = 0; i < c.batch; ++i) {
    keys.push_back(absl::StrCat("b", c.block_bytes, "-", i));
    offsets.push_back(i * c.block_bytes);
    sizes.push_back(c.block_bytes);
  }
  for (size_t i = 0; i < c.batch; ++i) {
    put_from.push_back({keys[i], "", {}, offsets[i], sizes[i]});
    puts.push_back({keys[i], "", {}, std::string_view(buf.data() + offsets[i], sizes[i])});
  }
  auto once = [&]() -> absl::Status {
    if (c.op == "put") {
      auto st = c.path == "ucx" ? client.PutFrom(ns, buf, put_from) : client.Put(ns, puts);
      if (!st.ok()) return st.status();
      for (const absl::Status& s : *st) {
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (c.path == "ucx") {
      auto got = client.GetInto(ns, keys, buf, offsets, sizes);
      if (!got.ok()) return got.status();
      for (const GetIntoResult& g : *got) {
        if (!g.status.ok()) return g.status;
      }
      return absl::OkStatus();
    }
    auto got = client.Get(ns, keys);
    if (!got.ok()) return got.status();
    for (size_t i = 0; i < got->size(); ++i) {  // the bytes land in the same buffer
      if (!(*got)[i].status.ok()) return (*got)[i].status;
      std::memcpy(buf.data() + offsets[i], (*got)[i].payload.data(), (*got)[i].payload.size());
    }
    return absl::OkStatus();
  };
  // Store the blocks (a Get needs them), then warm up.
  auto seeded = client.Put(ns, puts);
  if (!seeded.ok()) {
    r.error = seeded.status().ToString();
    return r;
  }
  // Warm up with ~64 MiB (2 to 50 calls): gRPC's flow-control windows grow with traffic, and a
  // cold channel moved 1 MiB blocks at a third of its warm rate here -- the baseline must be the
  // warm one.
  const size_t warmups =
      std::clamp<size_t>((64ull << 20) / std::max<size_t>(1, c.batch * c.block_bytes), 2, 50);
  TimedLoop loop = RunTimedLoop(once, static_cast<int>(warmups), seconds, 5);
  if (!loop.status.ok()) {
    r.error = loop.status.ToString();
    return r;
  }
  (void)client.Evict(ns);
  r.gbps = static_cast<double>(loop.iterations * c.batch * c.block_bytes) / loop.elapsed_s / 1e9;
  r.p50_us = Median(loop.latencies_us);
  r.p99_us = Percentile(loop.latencies_us, 0.99);
  r.ok = true;
  return r;
}

}  // namespace

std::vector<NodeCaseResult> RunNodeCases(const std::vector<NodeCase>& cases, double seconds,
                                         const NodeProgress& progress,
                                         const BaselineHooks& baselines) {
  std::vector<NodeCaseResult> results;
  std::vector<std::string> tls_seen;
  for (const NodeCase& c : cases) {
    if (std::find(tls_seen.begin(), tls_seen.end(), c.tls) == tls_seen.end()) {
      tls_seen.push_back(c.tls);
    }
  }
  // One buffer for every case, pre-faulted with varied bytes.
  BenchBuffer memory(kMaxBatch * kMaxBlock);
  for (size_t i = 0; i < memory.size(); ++i)
    memory.data()[i] = static_cast<char>(i * 131 + (i >> 12));
  // Clients: UCX with message calls, UCX with gRPC calls, gRPC bytes.
  auto which = [](const NodeCase& c) { return c.path != "ucx" ? 2 : c.control == "grpc" ? 1 : 0; };
  for (const std::string& tls : tls_seen) {
    std::string error;
    auto node = NodeChild::Start(tls, progress.node, &error);
    std::unique_ptr<Client> clients[3];
    std::unique_ptr<RegisteredBuffer> buffers[3];
    for (int k = 0; node && k < 3; ++k) {
      ClientOptions o;
      o.address = node->address();
      o.data_path = k < 2 ? ClientOptions::DataPath::kUcx : ClientOptions::DataPath::kGrpc;
      o.ucx_messages = k == 0;
      o.ucx_busy_poll = progress.client == "busy" && k < 2;
      o.ucx_attempts = 1;  // a benchmark reports failures, it does not hide them
      auto client = Client::Connect(o);
      if (!client.ok()) {
        error = client.status().ToString();
        node.reset();
        break;
      }
      clients[k] = *std::move(client);
      auto buf = clients[k]->RegisterBuffer(memory.data(), memory.size());
      if (!buf.ok()) {
        error = buf.status().ToString();
        node.reset();
        break;
      }
      buffers[k] = *std::move(buf);
    }
    for (const NodeCase& c : cases) {
      if (c.tls != tls) continue;
      NodeCaseResult r;
      if (!node) {
        r.c = c;
        r.error = error;
      } else {
        const int k = which(c);
        const uint64_t before = clients[k]->data_path_counters().message_calls;
        baselines.before(c.tls, c.block_bytes, c.batch);
        r = RunOne(*clients[k], *buffers[k], c, seconds);
        r.baselines = baselines.after(c.tls, c.block_bytes, c.batch);
        r.protocol = c.path == "ucx" ? "node" : "-";
        // A message row whose calls went over gRPC (the node did not offer messages) would
        // measure the wrong thing: report it.
        if (r.ok && k == 0 && clients[k]->data_path_counters().message_calls == before) {
          r.ok = false;
          r.error = "the calls did not go as UCX messages";
        }
      }
      std::fprintf(stderr, "  node %s%s %s %zu x %zu %s: %.2f GB/s%s\n", c.path.c_str(),
                   c.path == "ucx" ? ("/" + c.control).c_str() : "", c.tls.c_str(), c.batch,
                   c.block_bytes, c.op.c_str(), r.gbps, r.ok ? "" : (" error: " + r.error).c_str());
      results.push_back(std::move(r));
    }
    for (int k = 0; k < 3; ++k) {
      buffers[k].reset();
      clients[k].reset();
    }
  }
  return results;
}

}  // namespace strata::bench
