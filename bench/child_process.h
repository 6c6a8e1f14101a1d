// Child processes of a benchmark: spawning them with pipes or a log, reaping them by PID, free
// loopback ports, and the ucx_perftest baseline (tag_bw between two perftest processes on
// 127.0.0.1). Shared by strata-bench transfer and strata-bench compare. Not thread-safe beyond
// what fork/posix_spawn are: call from one thread.
#ifndef STRATA_BENCH_CHILD_PROCESS_H_
#define STRATA_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace strata::bench {

struct Child {
  pid_t pid = -1;
  int in = -1;   // our end of its stdin (pipes only)
  int out = -1;  // our end of its stdout (pipes only)
};

// Starts `path` with `args` (args[0] is its argv[0]) and the environment of this process less
// UCX_TLS and UCX_NET_DEVICES, plus `extra_env`. With `pipes` its stdin/stdout become pipes to us;
// otherwise its stdout and stderr go to `log_fd` (when >= 0). nullopt when it cannot be started.
std::optional<Child> Spawn(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& extra_env, bool pipes, int log_fd);

// Closes the child's stdin, waits up to `timeout` for it to exit, then kills it by PID
// (SIGKILL). Returns its wait status (-1 when there was no child).
int Reap(Child& child, absl::Duration timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (bound and released; another process may
// take it before the caller does).
int FreeLoopbackPort();

// The ucx_perftest binary when installed, else nullopt.
std::optional<std::string> FindPerftest();

// ucx_perftest tag_bw of `block_bytes` messages between a server and a client process on
// 127.0.0.1 over `tls` ("shm": UCX_TLS=sm; "tcp"), with UCX_NET_DEVICES=lo, in GB/s (1e9 B/s);
// nullopt when it did not run. Bounded: the client is killed after 30 s.
std::optional<double> PerftestTagBwOnce(const std::string& perftest, const std::string& tls,
                                        size_t block_bytes);

// The UCX_TLS value for a Strata data-plane transport name ("tcp" -> "tcp", "shm" -> "sm").
std::string UcxTls(const std::string& tls);

}  // namespace strata::bench

#endif  // STRATA_BENCH_CHILD_PROCESS_H_
