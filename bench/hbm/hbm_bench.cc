// strata-bench hbm [--json] [--runs N] [--total-mib N] [--blocks-kib a,b,...]
//
// HBM -> DRAM demotion throughput of HbmTier on CUDA device 0, against the pinned D2H bandwidth
// measured in the same run. For each block size (KV blocks of f16, 8 KV heads, head_dim 128, 16
// tokens: 64 KiB per layer, so 256 KiB = 4 layers, 2 MiB = 32), an HbmTier pool is filled with
// --total-mib of blocks, and each of these drains it into pinned host memory (medians of --runs):
//   d2h_gbps        one cudaMemcpyAsync of the whole pool (the link's best case: the baseline)
//   raw_gbps        HbmTier::CopyOut of every block as it is (one copy per block, one wait)
//   <codec>_gbps    HbmTier::CopyOut encoding every block on the GPU (int8, fp8-e4m3) and
//                   copying only the encoded bytes; GB/s of blocks drained (payload bytes)
// Ratios against the targets (docs/hbm.md): raw_vs_d2h >= 0.8; <codec>_vs_raw >= 0.8 (a codec
// costs at most 20% of raw demotion). Each codec's first block is also compared with the CPU
// codec's encoding ("agrees_with_cpu").
//
// Without CUDA or without a device it measures nothing: it says why (with --json as
// {"available": false, "reason": ...}) and exits with status 3, distinct from 0 (measured) and
// 1/2 (failed / usage).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "kernels/codec.h"
#include "kernels/codec_format.h"
#include "kernels/internal/quant_math.h"
#include "storage/device_memory.h"
#include "storage/hbm_tier.h"

namespace strata::bench {
namespace {

constexpr int kNoDevice = 3;
constexpr const char* kCodecs[] = {"int8", "fp8-e4m3"};

struct Options {
  bool json = false;
  int runs = 5;
  uint64_t total_mib = 2048;
  std::vector<uint64_t> blocks_kib = {256, 1024, 2048};
};

struct Row {
  uint64_t block_bytes = 0;
  uint64_t blocks = 0;
  double d2h_gbps = 0, raw_gbps = 0;
  double codec_gbps[std::size(kCodecs)] = {};
  double codec_ratio[std::size(kCodecs)] = {};  // encoded / payload bytes
  bool agrees[std::size(kCodecs)] = {};
};

BlockLayout KvBlock(uint64_t block_bytes) {
  // 64 KiB per layer: 2 x 16 tokens x 8 heads x 128 dims x 2 bytes.
  const auto layers = static_cast<uint32_t>(std::max<uint64_t>(1, block_bytes / (64 << 10)));
  return BlockLayout::Kv(DType::kF16, layers, 8, 128, 16);
}

std::string KvPayload(const BlockLayout& l, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::string out(l.Bytes(), '\0');
  auto* h = reinterpret_cast<uint16_t*>(out.data());
  for (uint64_t i = 0; i < l.Elements(); ++i) {
    h[i] = quant::FloatToHalf(n(rng) * (i % l.head_dim < 4 ? 6.f : 1.f));
  }
  return out;
}

template <typename Fn>
double MedianGbps(int runs, uint64_t bytes, Fn&& fn, bool* ok) {
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const double t0 = NowSeconds();
    if (!fn()) {
      *ok = false;
      return 0;
    }
    rates.push_back(static_cast<double>(bytes) / (NowSeconds() - t0) / 1e9);
  }
  return Median(rates);
}

absl::StatusOr<Row> Measure(const Options& opt, uint64_t block_bytes) {
  Row row;
  const BlockLayout layout = KvBlock(block_bytes);
  row.block_bytes = layout.Bytes();
  row.blocks = std::max<uint64_t>(1, (opt.total_mib << 20) / row.block_bytes);
  const uint64_t total = row.blocks * row.block_bytes;
  auto device = NewCudaDeviceMemory(0);
  if (!device.ok()) return device.status();
  DeviceMemory* dev = device->get();
  auto tier = HbmTier::Create({.capacity_bytes = total, .page_bytes = 64 << 10}, *std::move(device));
  if (!tier.ok()) return tier.status();
  auto pinned = dev->MallocHost(total + row.blocks * EncodedHeader::kSize);
  if (!pinned.ok()) return pinned.status();
  char* host = static_cast<char*>(*pinned);
  const uint64_t dst_stride = row.block_bytes + EncodedHeader::kSize;

  constexpr int kDistinct = 8;
  std::vector<std::string> payloads;
  for (int i = 0; i < kDistinct; ++i) payloads.push_back(KvPayload(layout, 1 + i));
  std::vector<HbmTier::CopyOutItem> items;
  BlockRecord record;
  record.layout = layout;
  record.payload_bytes = record.stored_bytes = row.block_bytes;
  for (uint64_t b = 0; b < row.blocks; ++b) {
    auto slot = (*tier)->Write("bench", b, record, payloads[b % kDistinct]);
    if (!slot.ok()) return slot.status();
    items.push_back({*slot, nullptr, layout, host + b * dst_stride, dst_stride, 0});
  }
  auto stream = dev->NewStream();
  if (!stream.ok()) return stream.status();
  bool ok = true;
  absl::Status failure;
  // The pool is one allocation: copy it whole (into the same pinned buffer).
  void* pool = (*tier)->TEST_pool();
  auto d2h = [&] {
    absl::Status s = (*stream)->CopyToHost(host, pool, total);
    if (s.ok()) s = (*stream)->Synchronize();
    if (!s.ok()) failure = s;
    return s.ok();
  };
  auto copy_out = [&](const Codec* codec) {
    for (auto& it : items) it.codec = codec;
    return [&, codec] {
      for (auto& it : items) it.codec = codec;
      absl::Status s = (*tier)->CopyOut(absl::MakeSpan(items));
      if (!s.ok()) failure = s;
      return s.ok();
    };
  };
  d2h();  // warm-up: first touches of the pinned pages and the copy engines
  row.d2h_gbps = MedianGbps(opt.runs, total, d2h, &ok);
  auto raw = copy_out(nullptr);
  raw();
  row.raw_gbps = MedianGbps(opt.runs, total, raw, &ok);
  for (size_t c = 0; c < std::size(kCodecs); ++c) {
    const Codec* codec = FindCodec(kCodecs[c]);
    auto run = copy_out(codec);
    run();
    row.codec_gbps[c] = MedianGbps(opt.runs, total, run, &ok);
    row.codec_ratio[c] = static_cast<double>(items[0].bytes) / row.block_bytes;
    auto cpu = codec->Encode(layout, payloads[0]);
    row.agrees[c] = ok && cpu.ok() && cpu->size() == items[0].bytes &&
                    std::memcmp(cpu->data(), items[0].dst, items[0].bytes) == 0;
  }
  stream->reset();
  dev->FreeHost(host);
  if (!ok) return failure;
  return row;
}

int Run(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--json") {
      opt.json = true;
    } else if (a == "--runs") {
      const char* v = value();
      if (v == nullptr || !absl::SimpleAtoi(v, &opt.runs) || opt.runs < 1) {
        std::fprintf(stderr, "strata-bench hbm: --runs needs a positive count\n");
        return 2;
      }
    } else if (a == "--total-mib") {
      const char* v = value();
      if (v == nullptr || !absl::SimpleAtoi(v, &opt.total_mib) || opt.total_mib < 1) {
        std::fprintf(stderr, "strata-bench hbm: --total-mib needs a positive size\n");
        return 2;
      }
    } else if (a == "--blocks-kib") {
      const char* v = value();
      opt.blocks_kib.clear();
      for (absl::string_view s : absl::StrSplit(v == nullptr ? "" : v, ',')) {
        uint64_t k = 0;
        if (!absl::SimpleAtoi(s, &k) || k < 64) {
          std::fprintf(stderr, "strata-bench hbm: --blocks-kib needs sizes >= 64, e.g. 256,2048\n");
          return 2;
        }
        opt.blocks_kib.push_back(k);
      }
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: strata-bench hbm [--json] [--runs N] [--total-mib N] [--blocks-kib a,b]\n"
          "HBM -> DRAM demotion (raw, int8, fp8-e4m3) vs pinned D2H on CUDA device 0.\n"
          "Exit status 3 (and {\"available\": false} with --json) when there is no device.\n");
      return 0;
    } else {
      std::fprintf(stderr, "strata-bench hbm: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  auto probe = NewCudaDeviceMemory(0);
  if (!probe.ok()) {
    const std::string reason(probe.status().message());
    if (opt.json) {
      std::printf("{\"available\": false, \"reason\": \"%s\"}\n", reason.c_str());
    } else {
      std::printf("strata-bench hbm: nothing measured: %s\n", reason.c_str());
    }
    return kNoDevice;
  }
  const std::string device = (*probe)->Describe();
  probe->reset();

  std::vector<Row> rows;
  for (uint64_t kib : opt.blocks_kib) {
    auto row = Measure(opt, kib << 10);
    if (!row.ok()) {
      std::fprintf(stderr, "strata-bench hbm: %s\n", std::string(row.status().message()).c_str());
      return 1;
    }
    rows.push_back(*row);
  }
  bool met = true;
  if (opt.json) {
    std::printf("{\"available\": true, \"device\": \"%s\", \"runs\": %d, \"rows\": [", device.c_str(),
                opt.runs);
  } else {
    std::printf("HBM -> DRAM demotion on %s, medians of %d runs (GB/s of blocks drained)\n",
                device.c_str(), opt.runs);
    std::printf("%10s %7s %9s %9s %11s", "block", "blocks", "d2h", "raw", "raw/d2h");
    for (const char* c : kCodecs) std::printf(" %9s %11s %6s", c, "/raw", "ratio");
    std::printf("\n");
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    const double raw_vs_d2h = row.raw_gbps / row.d2h_gbps;
    met &= raw_vs_d2h >= 0.8;
    if (opt.json) {
      std::printf("%s{\"block_bytes\": %llu, \"blocks\": %llu, \"d2h_gbps\": %.2f, \"raw_gbps\": %.2f, "
                  "\"raw_vs_d2h\": %.3f",
                  r ? ", " : "", static_cast<unsigned long long>(row.block_bytes),
                  static_cast<unsigned long long>(row.blocks), row.d2h_gbps, row.raw_gbps,
                  raw_vs_d2h);
    } else {
      std::printf("%9lluK %7llu %9.2f %9.2f %10.3f%s",
                  static_cast<unsigned long long>(row.block_bytes >> 10),
                  static_cast<unsigned long long>(row.blocks), row.d2h_gbps, row.raw_gbps,
                  raw_vs_d2h, raw_vs_d2h >= 0.8 ? " " : "!");
    }
    for (size_t c = 0; c < std::size(kCodecs); ++c) {
      const double vs_raw = row.codec_gbps[c] / row.raw_gbps;
      met &= vs_raw >= 0.8 && row.agrees[c];
      if (opt.json) {
        std::printf(", \"%s\": {\"gbps\": %.2f, \"vs_raw\": %.3f, \"vs_d2h\": %.3f, "
                    "\"encoded_ratio\": %.3f, \"agrees_with_cpu\": %s}",
                    kCodecs[c], row.codec_gbps[c], vs_raw, row.codec_gbps[c] / row.d2h_gbps,
                    row.codec_ratio[c], row.agrees[c] ? "true" : "false");
      } else {
        std::printf(" %9.2f %10.3f%s %6.3f%s", row.codec_gbps[c], vs_raw, vs_raw >= 0.8 ? " " : "!",
                    row.codec_ratio[c], row.agrees[c] ? "" : " (DIFFERS FROM CPU)");
      }
    }
    std::printf(opt.json ? "}" : "\n");
  }
  if (opt.json) {
    std::printf("], \"targets\": {\"raw_vs_d2h_min\": 0.8, \"codec_vs_raw_min\": 0.8}, "
                "\"targets_met\": %s}\n",
                met ? "true" : "false");
  } else {
    std::printf("targets (raw >= 0.8 x d2h; codec >= 0.8 x raw; GPU encode == CPU encode): %s\n",
                met ? "met" : "MISSED (marked !)");
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("hbm", "HBM -> DRAM demotion (raw, int8, fp8) vs pinned D2H (needs a GPU)",
                     Run);

}  // namespace strata::bench
