// TcpProxy: a loopback TCP forwarder that a test can cut, to put a network fault between a
// client and a real server (etcd) without touching either.
//
// It listens on a free 127.0.0.1 port and forwards each accepted connection to `target_port`.
// Cut() closes every forwarded connection and, until Restore(), closes new ones at once: to the
// client it looks like a server that went away, while the server keeps running (so a test can
// change its state behind the client's back). Not a fault hook in production code: a wrapper
// around the connection, as STYLE.md asks.
//
// Thread-safe; one thread per live connection plus the accept thread, all joined by the
// destructor.
#ifndef STRATA_TESTS_TESTING_TCP_PROXY_H_
#define STRATA_TESTS_TESTING_TCP_PROXY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace strata::testing {

class TcpProxy {
 public:
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int target_port);
  ~TcpProxy();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void Cut();
  void Restore();

 private:
  TcpProxy() = default;
  void AcceptLoop();
  void Forward(int client_fd, int server_fd);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_ = 0;
  std::thread accept_thread_;

  absl::Mutex mu_;
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> live_fds_ ABSL_GUARDED_BY(mu_);  // both ends of every forwarded connection
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_TCP_PROXY_H_
