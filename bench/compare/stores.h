// strata-bench compare: the stores side by side, each driven through the client its users would
// pick. A StoreSession is one client thread's connection to one store, on a buffer of blocks the
// caller owns: Put reads block i from buffer() + i * block_bytes, Get writes block i there, so
// every store ends a Get with the bytes in the same caller-owned memory (for Strata's
// registered-buffer path that memory is the registered buffer itself; for the others a copy out of
// the client library's reply is part of the call).
//
//   redis           hiredis; batch 1: SET / GET; larger batches: MSET / MGET (one command).
//                   Prefix: EXISTS of every key pipelined (one round trip), then MGET of the
//                   leading run of hits.
//   memcached       libmemcached (ASCII protocol, TCP_NODELAY); Put: memcached_set per block
//                   (libmemcached has no multi-set); Get: one multi-get (memcached_mget + fetch).
//                   Prefix: one multi-get of every key; the leading run of hits is the prefix.
//   strata-grpc     strata::Client Put / Get: block bytes inside gRPC messages.
//   strata-ucx      strata::Client PutFrom / GetInto on a registered buffer over the UCX data
//                   plane (tcp or, for a node started with --data-plane shm, shared memory);
//                   requests as UCX messages. Prefix: Lookup, then GetInto of the matched run.
//
// A session is used by one thread at a time; sessions of one store may run on many threads.
#ifndef STRATA_BENCH_COMPARE_STORES_H_
#define STRATA_BENCH_COMPARE_STORES_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace strata::bench {

class StoreSession {
 public:
  virtual ~StoreSession() = default;

  // The caller's block buffer the session was connected on (capacity() bytes).
  virtual char* buffer() const = 0;
  virtual size_t capacity() const = 0;

  // Stores keys[i] = the block_bytes at buffer() + i * block_bytes. With `chain`, block i names
  // block i-1 as its parent (stores without the notion ignore it).
  // REQUIRES: keys.size() * block_bytes <= capacity().
  virtual absl::Status Put(absl::Span<const std::string> keys, size_t block_bytes, bool chain) = 0;

  // Fetches every key into buffer() + i * block_bytes. NOT_FOUND when any key is missing,
  // DATA_LOSS when a value has the wrong size. REQUIRES: as Put.
  virtual absl::Status Get(absl::Span<const std::string> keys, size_t block_bytes) = 0;

  // The multi-turn prefix fetch: finds how many leading keys are stored, fetches those blocks
  // into the buffer as Get does, and returns the count.
  virtual absl::StatusOr<size_t> PrefixFetch(absl::Span<const std::string> keys,
                                             size_t block_bytes) = 0;
};

// Where a store runs and how to reach it.
struct StoreSpec {
  std::string name;     // redis | memcached | strata-grpc | strata-ucx-tcp | strata-ucx-shm
  std::string address;  // HOST:PORT
};

// A new session on [buffer, buffer + capacity) (Strata's registered-buffer path registers it;
// several sessions may share one buffer when they do not run at once). UNAVAILABLE when the store
// does not answer. REQUIRES: the buffer outlives the session.
absl::StatusOr<std::unique_ptr<StoreSession>> ConnectStore(const StoreSpec& spec, char* buffer,
                                                           size_t capacity);

// The keyspace prefix every session uses (a Strata namespace; a key prefix for the others).
inline constexpr char kCompareNamespace[] = "bench/compare";

}  // namespace strata::bench

#endif  // STRATA_BENCH_COMPARE_STORES_H_
