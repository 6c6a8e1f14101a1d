// strata-bench gpu-client [--json] [--copier cuda|memory] [--block SIZE] [--batch N] [--runs N]
//
// Moves a batch of blocks between this process and a strata-node it starts on loopback
// (UCX_NET_DEVICES=lo), four ways, each the median GB/s (1e9 bytes/s) of --runs runs:
//   put_host / get_host      Client::PutFrom / GetInto with a registered host buffer,
//   put_device / get_device  GpuClient::PutFrom / GetInto with a device buffer (staged through
//                            pinned host memory, or direct when UCX reports CUDA memory),
// and, as the copy baseline of the same run, pinned cudaMemcpyAsync bandwidth device-to-host and
// host-to-device for the same batch. Ratios: device over host (what staging costs), and device
// Get/Put over the copy bandwidth. Without a CUDA device it says so and exits 0; --copier memory
// runs the same path with the in-memory twin (memcpy for the copies) to check the bench itself.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "client/client.h"
#include "client/gpu_client.h"
#include "common/units.h"
#include "tests/testing/process.h"

namespace strata::bench {
namespace {

struct Options {
  bool json = false;
  std::string copier = "cuda";
  uint64_t block = 4 << 20;
  size_t batch = 16;
  int runs = 5;
};

// Median GB/s of `runs` runs of `op` moving `bytes` each; -1 when a run failed (printed).
template <typename Op>
double Rate(const char* what, uint64_t bytes, int runs, Op op) {
  std::vector<double> rates;
  for (int r = 0; r < runs + 1; ++r) {  // the first run warms up and is not counted
    const double t0 = NowSeconds();
    absl::Status st = op();
    const double dt = NowSeconds() - t0;
    if (!st.ok()) {
      std::fprintf(stderr, "gpu-client: %s failed: %s\n", what, st.ToString().c_str());
      return -1;
    }
    if (r > 0) rates.push_back(bytes / dt / 1e9);
  }
  return Median(rates);
}

absl::Status AllOk(const absl::StatusOr<std::vector<absl::Status>>& r) {
  if (!r.ok()) return r.status();
  for (const absl::Status& st : *r)
    if (!st.ok()) return st;
  return absl::OkStatus();
}
absl::Status AllFound(const absl::StatusOr<std::vector<GetIntoResult>>& r) {
  if (!r.ok()) return r.status();
  for (const GetIntoResult& g : *r)
    if (!g.found()) return g.status;
  return absl::OkStatus();
}

int Run(const Options& opt) {
  std::unique_ptr<gpu::DeviceCopier> copier;
  if (opt.copier == "memory") {
    copier = std::make_unique<gpu::MemoryCopier>();
  } else {
    auto cuda = gpu::NewCudaCopier();
    if (!cuda.ok()) {
      const std::string reason(cuda.status().message());
      if (opt.json) {
        std::printf("{\"bench\": \"gpu-client\", \"gpu\": false, \"reason\": \"%s\"}\n",
                    reason.c_str());
      } else {
        std::printf("gpu-client: skipped, no GPU: %s\n", reason.c_str());
      }
      return 0;
    }
    copier = *std::move(cuda);
  }
  setenv("UCX_NET_DEVICES", "lo", 1);
  const uint64_t bytes = opt.block * opt.batch;
  const std::string dir = std::filesystem::temp_directory_path() /
                          absl::StrCat("strata-bench-gpu-client-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::NodeLaunch launch;
  launch.binary = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "strata-node";
  launch.metrics_listen = "off";
  launch.start_timeout = std::chrono::seconds(30);
  launch.args = {"--dram", absl::StrCat(2 * bytes + (64 << 20)), "--ssd", "0"};
  std::string error;
  auto node = testing::NodeProcess::Start(dir, launch, &error);
  if (node == nullptr) {
    std::fprintf(stderr, "gpu-client: strata-node did not start: %s\n", error.c_str());
    return 1;
  }
  int status = 1;
  {
    ClientOptions co;
    co.address = node->address();
    auto client = Client::Connect(co);
    if (!client.ok()) {
      std::fprintf(stderr, "gpu-client: %s\n", client.status().ToString().c_str());
      node->Stop(SIGTERM, std::chrono::seconds(10));
      return 1;
    }
    GpuClientOptions go;
    go.chunk_bytes = std::max<uint64_t>(opt.block, std::min<uint64_t>(bytes / 4, (*client)->limits().max_payload_bytes));
    auto gpu_client = GpuClient::Create(client->get(), copier.get(), go);
    if (!gpu_client.ok()) {
      std::fprintf(stderr, "gpu-client: %s\n", gpu_client.status().ToString().c_str());
      node->Stop(SIGTERM, std::chrono::seconds(10));
      return 1;
    }
    GpuClient& gpu = **gpu_client;
    BenchBuffer host(bytes);
    for (size_t i = 0; i < bytes; i += 4096) host.data()[i] = static_cast<char>(i >> 12);
    auto device = copier->AllocDevice(bytes);
    auto pinned = copier->AllocPinned(bytes);
    auto stream = copier->NewStream();
    if (!device.ok() || !pinned.ok() || !stream.ok()) {
      std::fprintf(stderr, "gpu-client: allocation failed\n");
      node->Stop(SIGTERM, std::chrono::seconds(10));
      return 1;
    }
    std::memcpy((*pinned)->data(), host.data(), bytes);
    (void)(*stream)->CopyToDevice((*device)->data(), (*pinned)->data(), bytes);
    (void)(*stream)->Synchronize();
    auto host_buf = (*client)->RegisterBuffer(host.data(), bytes);
    auto dev_buf = gpu.RegisterDeviceBuffer((*device)->data(), bytes);
    if (!host_buf.ok() || !dev_buf.ok()) {
      std::fprintf(stderr, "gpu-client: register: %s %s\n", host_buf.status().ToString().c_str(),
                   dev_buf.status().ToString().c_str());
      node->Stop(SIGTERM, std::chrono::seconds(10));
      return 1;
    }
    std::vector<std::string> hkeys, dkeys;
    std::vector<PutFromBlock> hblocks, dblocks;
    std::vector<uint64_t> offsets, caps;
    for (size_t i = 0; i < opt.batch; ++i) {
      hkeys.push_back(absl::StrCat("host-", i));
      dkeys.push_back(absl::StrCat("device-", i));
      offsets.push_back(i * opt.block);
      caps.push_back(opt.block);
    }
    for (size_t i = 0; i < opt.batch; ++i) {
      hblocks.push_back({hkeys[i], "", {}, offsets[i], opt.block});
      dblocks.push_back({dkeys[i], "", {}, offsets[i], opt.block});
    }
    const std::string ns = "bench/gpu";
    Client& c = **client;
    auto copy = [&](bool to_host) {
      return [&, to_host]() -> absl::Status {
        absl::Status st = to_host ? (*stream)->CopyToHost((*pinned)->data(), (*device)->data(), bytes)
                                  : (*stream)->CopyToDevice((*device)->data(), (*pinned)->data(), bytes);
        if (!st.ok()) return st;
        return (*stream)->Synchronize();
      };
    };
    const double d2h = Rate("cudaMemcpy D2H", bytes, opt.runs, copy(true));
    const double h2d = Rate("cudaMemcpy H2D", bytes, opt.runs, copy(false));
    (void)WaitForQuietCpus();
    const double put_host = Rate("put_host", bytes, opt.runs,
                                 [&] { return AllOk(c.PutFrom(ns, **host_buf, hblocks)); });
    (void)WaitForQuietCpus();
    const double put_device = Rate("put_device", bytes, opt.runs,
                                   [&] { return AllOk(gpu.PutFrom(ns, **dev_buf, dblocks)); });
    (void)WaitForQuietCpus();
    const double get_host = Rate("get_host", bytes, opt.runs, [&] {
      return AllFound(c.GetInto(ns, hkeys, **host_buf, offsets, caps));
    });
    (void)WaitForQuietCpus();
    const double get_device = Rate("get_device", bytes, opt.runs, [&] {
      return AllFound(gpu.GetInto(ns, dkeys, **dev_buf, offsets, caps));
    });
    // The device Get must have landed the device Put's bytes: check one block end to end.
    (void)(*stream)->CopyToHost((*pinned)->data(), (*device)->data(), opt.block);
    (void)(*stream)->Synchronize();
    const bool exact = std::memcmp((*pinned)->data(), host.data(), opt.block) == 0;

    auto ratio = [](double a, double b) { return a > 0 && b > 0 ? a / b : 0.0; };
    const std::string copier_desc = copier->Describe();
    if (opt.json) {
      std::printf(
          "{\"bench\": \"gpu-client\", \"gpu\": %s, \"copier\": \"%s\", \"device\": \"%s\", "
          "\"mode\": \"%s\", \"data_path\": \"%s\", \"block_bytes\": %llu, \"batch\": %zu, "
          "\"chunk_bytes\": %llu, \"runs\": %d, \"bytes_exact\": %s, \"gbps\": {\"memcpy_d2h\": "
          "%.3f, \"memcpy_h2d\": %.3f, \"put_host\": %.3f, \"put_device\": %.3f, \"get_host\": "
          "%.3f, \"get_device\": %.3f}, \"ratios\": {\"put_device_over_host\": %.3f, "
          "\"get_device_over_host\": %.3f, \"put_device_over_d2h\": %.3f, "
          "\"get_device_over_h2d\": %.3f}}\n",
          opt.copier == "cuda" ? "true" : "false", opt.copier.c_str(), copier_desc.c_str(),
          std::string(gpu.mode()).c_str(), std::string(c.data_path()).c_str(),
          static_cast<unsigned long long>(opt.block), opt.batch,
          static_cast<unsigned long long>(gpu.chunk_bytes()), opt.runs, exact ? "true" : "false",
          d2h, h2d, put_host, put_device, get_host, get_device, ratio(put_device, put_host),
          ratio(get_device, get_host), ratio(put_device, d2h), ratio(get_device, h2d));
    } else {
      std::printf("gpu-client: %s; mode %s over %s; %zu x %llu-byte blocks, %llu-byte chunks, "
                  "median of %d runs (GB/s)\n",
                  copier_desc.c_str(), std::string(gpu.mode()).c_str(),
                  std::string(c.data_path()).c_str(), opt.batch,
                  static_cast<unsigned long long>(opt.block),
                  static_cast<unsigned long long>(gpu.chunk_bytes()), opt.runs);
      std::printf("  pinned copy   D2H %8.2f   H2D %8.2f\n", d2h, h2d);
      std::printf("  put   host %8.2f   device %8.2f   device/host %.2f   device/D2H %.2f\n",
                  put_host, put_device, ratio(put_device, put_host), ratio(put_device, d2h));
      std::printf("  get   host %8.2f   device %8.2f   device/host %.2f   device/H2D %.2f\n",
                  get_host, get_device, ratio(get_device, get_host), ratio(get_device, h2d));
      std::printf("  bytes exact after the device round trip: %s\n", exact ? "yes" : "NO");
    }
    status = (exact && put_device > 0 && get_device > 0 && put_host > 0 && get_host > 0) ? 0 : 1;
  }
  node->Stop(SIGTERM, std::chrono::seconds(10));
  std::filesystem::remove_all(dir);
  return status;
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gpu-client: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") {
      opt.json = true;
    } else if (a == "--copier") {
      opt.copier = value("--copier");
      if (opt.copier != "cuda" && opt.copier != "memory") {
        std::fprintf(stderr, "gpu-client: --copier: cuda or memory, not '%s'\n", opt.copier.c_str());
        return 2;
      }
    } else if (a == "--block") {
      auto size = ParseSize(value("--block"));
      if (!size.ok() || *size == 0) {
        std::fprintf(stderr, "gpu-client: --block: a size such as 4MiB\n");
        return 2;
      }
      opt.block = *size;
    } else if (a == "--batch") {
      opt.batch = std::max(1, std::atoi(value("--batch")));
    } else if (a == "--runs") {
      opt.runs = std::max(1, std::atoi(value("--runs")));
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: strata-bench gpu-client [--json] [--copier cuda|memory] [--block SIZE]\n"
          "                               [--batch N] [--runs N]\n"
          "  device buffers (GpuClient) vs host buffers vs pinned cudaMemcpy, against a node\n"
          "  started on loopback; defaults: cuda, 4MiB blocks, batch 16, 5 runs\n");
      return 0;
    } else {
      std::fprintf(stderr, "gpu-client: unknown option '%s' (--help)\n", argv[i]);
      return 2;
    }
  }
  return Run(opt);
}

}  // namespace

STRATA_BENCH_COMMAND("gpu-client", "device buffers through the client vs host buffers vs cudaMemcpy", Main);

}  // namespace strata::bench
