// GrpcServer: a node's gRPC server, kept reachable.
//
// Builds the server from NodeOptions — credentials, message limit, a memory quota sized from the
// in-flight budget, and connection limits (handshake timeout, idle timeout, concurrent streams)
// so that connections which send nothing cannot hold file descriptors for long.
//
// gRPC 1.51 stops accepting on its listening socket for good once accept() fails with EMFILE
// (grpc/grpc#20418): after a connection flood the port stays deaf while the process lives. So a
// watchdog thread (NodeOptions::listener_check_ms) checks every period that the listener still
// accepts: it connects to the port over loopback and expects the listener's accept queue to
// empty or shrink. When it does neither through the probe window of three checks in a row, and
// the process was seen at its descriptor limit since the listener last served (a merely slow
// server, e.g. on a starved host, is never restarted), the server is shut down and a new one with fresh services is started on the same port (calls in
// flight get one second); the store is not touched. Both
// events are logged through the `log` callback.
//
// Thread-safe. Services are created by the factory for each server generation and live until
// that server has stopped.
#ifndef STRATA_CACHENODE_GRPC_SERVER_H_
#define STRATA_CACHENODE_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cachenode/options.h"

namespace strata {

class GrpcServer {
 public:
  using ServiceFactory = std::function<std::vector<std::unique_ptr<grpc::Service>>()>;
  using LogFn = std::function<void(const std::string& line)>;

  // Binds options.listen and serves. UNAVAILABLE naming --listen when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const NodeOptions& options, std::shared_ptr<grpc::ServerCredentials> credentials,
      ServiceFactory services, LogFn log);
  ~GrpcServer();  // Shutdown(0)

  // Stops the watchdog, then the server: calls in flight get until `deadline_ms` from now, then
  // are cancelled. Idempotent.
  void Shutdown(int deadline_ms);

  int port() const { return port_; }
  // Times the watchdog found the listener deaf and restarted the server.
  uint64_t restarts() const { return restarts_.load(); }

 private:
  GrpcServer(const NodeOptions& options, std::shared_ptr<grpc::ServerCredentials> credentials,
             ServiceFactory services, LogFn log);

  // Builds and starts one server generation on `listen` (port 0 on the first).
  absl::Status BuildLocked(const std::string& listen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchLoop();
  // True when the listener accepted the probe (or nothing can be concluded this period).
  bool ListenerAccepts();
  void Restart(const std::string& why);

  // Constant after construction.
  const NodeOptions options_;
  const std::shared_ptr<grpc::ServerCredentials> credentials_;
  const ServiceFactory make_services_;
  const LogFn log_;
  int port_ = 0;
  std::string host_;

  absl::Mutex mu_;
  // Guarded by mu_.
  std::vector<std::unique_ptr<grpc::Service>> services_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> restarts_{0};
  // Consecutive checks that found the accept queue never emptied before a restart.
  static constexpr int kStuckChecks = 3;
  // Used by the watchdog thread only.
  std::vector<int> listeners_;
  int stuck_checks_ = 0;
  // Set when a check found the process at its descriptor limit; cleared once the listener is seen
  // serving with descriptors to spare, or by a restart.
  bool descriptors_exhausted_ = false;
  std::thread watchdog_;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (before any thread starts), so a
// connection flood meets the largest descriptor budget the host allows. Returns the line to log,
// e.g. "file descriptor limit 1024 raised to 524288".
std::string RaiseOpenFileLimit();

}  // namespace strata

#endif  // STRATA_CACHENODE_GRPC_SERVER_H_
