// Child processes of a benchmark: spawning them with pipes or a log, reaping them by PID, free
// loopback ports (these three from tests/testing/spawn.h), and the ucx_perftest baseline (tag_bw
// between two perftest processes on 127.0.0.1). Shared by strata-bench transfer and strata-bench
// compare. Not thread-safe beyond what fork/posix_spawn are: call from one thread.
#ifndef STRATA_BENCH_CHILD_PROCESS_H_
#define STRATA_BENCH_CHILD_PROCESS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "tests/testing/spawn.h"

namespace strata::bench {

// Spawning children with pipes or a log, reaping them by PID and free loopback ports are
// strata_testing's (tests/testing/spawn.h), shared with transfer_test's child peer.
using testing::Child;
using testing::FreeLoopbackPort;
using testing::Reap;
using testing::Spawn;

// The ucx_perftest binary when installed, else nullopt.
std::optional<std::string> FindPerftest();

// ucx_perftest tag_bw of `block_bytes` messages between a server and a client process on
// 127.0.0.1 over `tls` ("shm": UCX_TLS=sm; "tcp"), with UCX_NET_DEVICES=lo, in GB/s (1e9 B/s);
// nullopt when it did not run. Bounded: the client is killed after 30 s. `peer_error_handling`
// runs both sides with -e (endpoints in UCP_ERR_HANDLING_MODE_PEER, as Strata's are): over tcp,
// UCX 1.13 then drops the tcp lane's rma_bw role, so rendezvous data goes as active-message
// fragments copied out on the receiver instead of put_zcopy into the destination.
std::optional<double> PerftestTagBwOnce(const std::string& perftest, const std::string& tls,
                                        size_t block_bytes, bool peer_error_handling = false);

// The UCX_TLS value for a Strata data-plane transport name ("tcp" -> "tcp", "shm" -> "sm").
std::string UcxTls(const std::string& tls);

}  // namespace strata::bench

#endif  // STRATA_BENCH_CHILD_PROCESS_H_
