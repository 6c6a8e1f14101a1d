// strata-bench compare: the results of one run, the ratios derived from them, and their output
// (one JSON object, or tables for a terminal).
//
// Ratio names (every one in the JSON's "ratios"; the headline ones also at the top level):
//   {op}_{block}_b{batch}_t{threads}_{s}_vs_{peer}: Strata path s (ucx = strata-ucx-tcp,
//       grpc = strata-grpc, shm = strata-ucx-shm) over redis or memcached, GB/s over GB/s, same
//       op, block size, batch and client threads; block as 64kib, 256kib, 1mib.
//   {op}_{block}_b{batch}_t1_{store}_vs_{limit}: a store's single-thread GB/s over a limit at the
//       same block size (perftest_tcp, perftest_shm, tcp_socket, memcpy).
//   prefix_{p50|p99}_{s}_vs_{peer}: prefix-fetch latency over the peer's (lower is better).
// Headline:
//   get_1mib_vs_redis / _vs_memcached: strata-ucx-tcp Get of 1 MiB blocks over the peer's at the
//       same client threads, each store at its best batch size for that thread count, the lowest
//       over the thread counts measured (a claim of "Nx" must hold at every concurrency; Redis
//       answers 16 GETs faster than one MGET of 16 here, and a Redis user would use that).
//       get_1mib_b16_vs_*: the same at batch 16 for both. put_1mib_*, get_1mib_grpc_*,
//       get_1mib_shm_* as get_1mib_vs_*.
//   prefix_p99_vs_redis (and _p50_, _vs_memcached, _grpc_, _shm_): strata-ucx-tcp over redis.
//   get_1mib_vs_limit: strata-ucx-tcp Get of 64 x 1 MiB, one thread, over the limit of its
//       transport at 1 MiB: the higher of ucx_perftest tag_bw over tcp and the loopback TCP socket
//       pair (both bound UCX over tcp; the JSON's get_1mib_limit says which it was, and
//       get_1mib_vs_perftest / get_1mib_vs_tcp_socket give both). get_1mib_vs_perftest_peer: the
//       same Get over ucx_perftest tag_bw with peer error handling (-e), the endpoint mode Strata
//       runs in; reported beside the limit, not instead of it. get_1mib_shm_vs_limit:
//       strata-ucx-shm over the higher of perftest on shm and single-thread memcpy.
// A ratio whose cases did not run or failed is null.
#ifndef STRATA_BENCH_COMPARE_REPORT_H_
#define STRATA_BENCH_COMPARE_REPORT_H_

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/compare/workloads.h"

namespace strata::bench {

struct StoreRow {
  std::string name;
  std::string address;
  std::string command;  // how it was started
};

struct CaseRow {
  std::string store;
  ThroughputCase c;
  Measurement m;
};

struct PrefixRow {
  std::string store;
  PrefixResult r;
};

struct LimitRow {
  size_t block_bytes = 0;
  double memcpy_gbps = 0;
  std::optional<double> tcp_socket_gbps;
  std::optional<double> perftest_tcp_gbps;
  // The same with peer error handling (-e), the endpoint mode Strata runs (see child_process.h).
  std::optional<double> perftest_tcp_peer_gbps;
  std::optional<double> perftest_shm_gbps;
};

struct Report {
  bool quick = false;
  double seconds_per_case = 0;
  uint64_t memory_bytes = 0;
  size_t prefix_block_bytes = 0;
  std::string perftest;  // the ucx_perftest binary; empty when missing or not run
  std::vector<StoreRow> stores;
  std::vector<CaseRow> cases;
  std::vector<PrefixRow> prefix;
  std::vector<LimitRow> limits;
  double elapsed_s = 0;
};

void PrintReportJson(const Report& report, FILE* out);
void PrintReportText(const Report& report, FILE* out);

}  // namespace strata::bench

#endif  // STRATA_BENCH_COMPARE_REPORT_H_
