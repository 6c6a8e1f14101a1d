// Prometheus text exposition of a node's counters, and the small HTTP server that serves it on
// GET /metrics. The same numbers as AdminService.Stats. Thread-safe.
#ifndef STRATA_CACHENODE_METRICS_H_
#define STRATA_CACHENODE_METRICS_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "proto/strata.pb.h"

namespace httplib {
class Server;
}

namespace strata {

class NodeCore;

// Prometheus text format (version 0.0.4) of a Stats response.
std::string RenderPrometheus(const v1::StatsResponse& stats);

class MetricsServer {
 public:
  // Binds host:port (port 0 picks one) and serves in a thread of its own. `core` must outlive
  // the server. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& host, int port,
                                                              const NodeCore* core);
  ~MetricsServer();  // stops and joins

  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_METRICS_H_
