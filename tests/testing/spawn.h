// Child processes talked to over pipes (or logging to an fd), reaped by PID with a bound, and
// free loopback ports. Used by strata-bench (its UCX client peer and ucx_perftest) and by
// transfer_test (its child peer). Not thread-safe beyond what posix_spawn is: call from one
// thread.
#ifndef STRATA_TESTS_TESTING_SPAWN_H_
#define STRATA_TESTS_TESTING_SPAWN_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace strata::testing {

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

// Closes the child's stdin (asking a pipe-driven child to exit), waits up to `timeout` for it to
// exit, then kills it by PID (SIGKILL); closes its stdout. Returns its wait status (-1 when there
// was no child).
int Reap(Child& child, absl::Duration timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (bound and released; another process may
// take it before the caller does); 0 when no socket could be bound.
int FreeLoopbackPort();

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_SPAWN_H_
