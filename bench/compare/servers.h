// strata-bench compare: the servers it starts when it is not given their addresses. Each is a
// child process on 127.0.0.1 and a free port, without persistence, holding at most
// `memory_bytes` of values:
//   redis-server --bind 127.0.0.1 --port P --save '' --appendonly no --maxmemory M
//                --maxmemory-policy allkeys-lru
//   memcached -l 127.0.0.1 -p P -U 0 -I 16m -m M/MiB [-u root when run as root]
//   strata-node --listen 127.0.0.1:0 --dram M --ssd 0 --data-plane tcp|shm (UCX_NET_DEVICES=lo)
// The child gets SIGKILL from the kernel when this process dies (PR_SET_PDEATHSIG), so a killed
// bench leaves no server behind; otherwise the destructor stops it by PID (SIGTERM, then SIGKILL
// after 5 s). Not thread-safe: start and stop servers from one thread, before client threads run.
#ifndef STRATA_BENCH_COMPARE_SERVERS_H_
#define STRATA_BENCH_COMPARE_SERVERS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::bench {

class ServerProcess {
 public:
  // Each starts its server; StartStrataNode returns without waiting for it (a node pre-faults its
  // memory, so two start faster side by side): call WaitUntilServing before using address().
  // UNAVAILABLE when the program is missing or cannot be started.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartRedis(uint64_t memory_bytes);
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartMemcached(uint64_t memory_bytes);
  // `data_plane`: "tcp" or "shm". `staging_bytes`: the node's data_plane.staging_bytes (the bounce
  // area PutFrom lands in), outside memory_bytes as a client's buffers are for the others.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartStrataNode(
      uint64_t memory_bytes, const std::string& data_plane, uint64_t staging_bytes);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits (at most 20 s) until the server accepts connections on its port. UNAVAILABLE when it
  // exited or did not come up in time (the message carries the end of its log).
  absl::Status WaitUntilServing();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // The command line it was started with, for the report.
  const std::string& command() const { return command_; }

 private:
  ServerProcess() = default;
  // Starts `args` with its output in dir_/log; the port is `port` (> 0) or read from
  // `port_file` (port 0) by WaitUntilServing.
  absl::Status Launch(const std::vector<std::string>& args, const std::vector<std::string>& env,
                      int port, const std::string& port_file);

  // Launch, then WaitUntilServing (for servers that come up in milliseconds, whose start is
  // retried on another port when the free port was taken meanwhile).
  absl::Status LaunchAndWait(const std::vector<std::string>& args,
                             const std::vector<std::string>& env, int port);

  pid_t pid_ = -1;
  int port_ = 0;
  std::string port_file_;
  std::string dir_;
  std::string address_;
  std::string command_;
};

}  // namespace strata::bench

#endif  // STRATA_BENCH_COMPARE_SERVERS_H_
