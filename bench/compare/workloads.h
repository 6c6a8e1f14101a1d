// strata-bench compare: the workloads, run the same way against every store.
//
// Throughput (workload a): `threads` client threads, each with its own session and its own keys
// (64 per block size, stored once by SeedBlocks), call Put or Get of `batch` blocks back to back:
// warm-up calls, then all threads start together and run for `seconds` (and at most
// kMaxCallsPerThread calls). GB/s = the bytes of all threads / the wall time from the common
// start to the last thread's end. Every Put first stamps a new version into each block's first 8
// bytes, so no store can skip a write of unchanged bytes. Before a Get case is timed, each thread
// zeroes its buffer, gets its blocks once and checks every byte past the stamp.
//
// Multi-turn prefix fetch (workload b): 8 conversations, chains of 64 keys of which the first
// 8, 16, ..., 64 blocks are stored (turn n of a chat re-sends turns 1..n-1). Each call asks the
// store for the longest stored prefix of one chain's 64 keys and fetches it (StoreSession::
// PrefixFetch), cycling through the conversations, one thread; the first call of each
// conversation is checked (count and bytes). Latency per call: p50, p99.
#ifndef STRATA_BENCH_COMPARE_WORKLOADS_H_
#define STRATA_BENCH_COMPARE_WORKLOADS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/compare/stores.h"

namespace strata::bench {

inline constexpr size_t kMaxBatch = 64;
inline constexpr size_t kMaxCallsPerThread = 200'000;

// Writes the bytes of key `index` of `thread` at `block_bytes` into `out`: an 8-byte version
// stamp (0) and a pattern that differs per key. CheckBlock compares all but the stamp.
void FillBlock(char* out, size_t thread, size_t block_bytes, size_t index);
bool CheckBlock(const char* in, size_t thread, size_t block_bytes, size_t index);

// The throughput keys of one thread at one block size (kMaxBatch of them).
std::vector<std::string> ThroughputKeys(size_t thread, size_t block_bytes);

// Fills each session's buffer with its thread's blocks (FillBlock) and stores them, 16 per call.
// sessions[t] is thread t's.
absl::Status SeedBlocks(const std::vector<StoreSession*>& sessions, size_t block_bytes);

struct ThroughputCase {
  std::string op;  // get | put
  size_t block_bytes = 0;
  size_t batch = 0;
  size_t threads = 0;
};

struct Measurement {
  bool ok = false;
  std::string error;
  double gbps = 0;
  double p50_us = 0;
  double p99_us = 0;
  size_t calls = 0;
};

// Runs one case on sessions[0..threads). REQUIRES: SeedBlocks ran at this block size.
Measurement RunThroughput(const std::vector<StoreSession*>& sessions, const ThroughputCase& c,
                          double seconds, size_t max_warmup_calls);

struct PrefixResult {
  Measurement m;           // gbps: the fetched bytes per second of call time
  double mean_blocks = 0;  // blocks fetched per call
};

// Stores the conversations (as chains, parent links where the store has them), then runs
// `calls` prefix fetches (at most `max_seconds`) on `session`.
PrefixResult RunPrefix(StoreSession& session, size_t block_bytes, size_t calls, double max_seconds);

}  // namespace strata::bench

#endif  // STRATA_BENCH_COMPARE_WORKLOADS_H_
