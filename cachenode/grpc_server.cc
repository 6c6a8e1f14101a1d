#include "cachenode/grpc_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <grpcpp/resource_quota.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace strata {
namespace {

// The port a socket is bound to, or -1.
int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return -1;
}

bool IsListenerOn(int fd, int port) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0 &&
         BoundPort(fd) == port;
}

// gRPC does not expose its listening sockets: find them among this process's descriptors.
std::vector<int> FindListeners(int port) {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;  // out of descriptors: try again next period
  while (dirent* entry = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dirfd(dir)) continue;
    if (IsListenerOn(fd, port)) fds.push_back(fd);
  }
  closedir(dir);
  return fds;
}

// Connections waiting in a listener's accept queue (Linux reports it as tcpi_unacked for a
// socket in LISTEN); -1 when `fd` is no longer a listening TCP socket.
int AcceptQueue(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != TCP_LISTEN) {
    return -1;
  }
  return static_cast<int>(info.tcpi_unacked);
}

// Open descriptors and the soft limit, for the log line ("?" when they cannot be read).
// Descriptors this process has open (-1 when /proc cannot tell) and its soft limit.
std::pair<int64_t, uint64_t> OpenDescriptors() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  int64_t open = -1;
  if (DIR* dir = opendir("/proc/self/fd"); dir != nullptr) {
    open = -1;  // the directory's own descriptor
    while (readdir(dir) != nullptr) ++open;
    open -= 2;  // "." and ".."
    closedir(dir);
  }
  return {open, static_cast<uint64_t>(lim.rlim_cur)};
}

std::string DescriptorUse() {
  const auto [open, limit] = OpenDescriptors();
  return absl::StrCat(open < 0 ? std::string("?") : absl::StrCat(open), " of ", limit,
                      " file descriptors open");
}

// True when the process is at (or within a few descriptors of) its limit, or /proc cannot tell:
// the state in which gRPC's accept() fails with EMFILE and its listener goes deaf.
bool DescriptorsNearLimit() {
  const auto [open, limit] = OpenDescriptors();
  if (open < 0) return true;
  const uint64_t used = static_cast<uint64_t>(open);
  return used + 32 >= limit || used >= limit - limit / 10;
}

// A blocking loopback connect with a short timeout; -1 when it cannot be made (e.g. this process
// is out of descriptors, or the accept queue is full). The caller closes it.
int ConnectProbe(const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string h = host;
  if (h.empty() || h == "0.0.0.0" || h == "localhost") h = "127.0.0.1";
  if (h == "::") h = "::1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    return -1;  // a host name: judge by the accept queue alone
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{.tv_sec = 0, .tv_usec = 500'000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string RaiseOpenFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return absl::StrCat("file descriptor limit unknown: ", std::strerror(errno));
  }
  const uint64_t before = lim.rlim_cur;
  if (lim.rlim_cur >= lim.rlim_max)
    return absl::StrCat("file descriptor limit ", before, " (hard)");
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return absl::StrCat("file descriptor limit ", before, " (raising it to the hard limit ",
                        static_cast<uint64_t>(lim.rlim_max), " failed: ", std::strerror(errno),
                        ")");
  }
  return absl::StrCat("file descriptor limit ", before, " raised to ",
                      static_cast<uint64_t>(lim.rlim_max));
}

GrpcServer::GrpcServer(const NodeOptions& options,
                       std::shared_ptr<grpc::ServerCredentials> credentials,
                       ServiceFactory services, LogFn log)
    : options_(options),
      credentials_(std::move(credentials)),
      make_services_(std::move(services)),
      log_(std::move(log)) {}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const NodeOptions& options, std::shared_ptr<grpc::ServerCredentials> credentials,
    ServiceFactory services, LogFn log) {
  std::unique_ptr<GrpcServer> server(
      new GrpcServer(options, std::move(credentials), std::move(services), std::move(log)));
  int port = 0;
  STRATA_RETURN_IF_ERROR(SplitHostPort(options.listen, "--listen", &server->host_, &port));
  {
    absl::MutexLock lock(&server->mu_);
    STRATA_RETURN_IF_ERROR(server->BuildLocked(options.listen));
  }
  if (options.listener_check_ms > 0) {
    server->watchdog_ = std::thread([s = server.get()] { s->WatchLoop(); });
  }
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(0); }

absl::Status GrpcServer::BuildLocked(const std::string& listen) {
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(listen, credentials_, &bound);
  // Two nodes must never share a port silently (gRPC sets SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const int max_message = static_cast<int>(options_.EffectiveMaxMessageBytes());
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(options_.handshake_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(options_.max_connection_idle_ms));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(options_.max_concurrent_streams));
  // gRPC holds a request whole (in its buffers, then parsed) before a handler can count it, so
  // the handler's budget alone cannot bound Put memory: gRPC's own quota, twice the budget,
  // makes the transport refuse streams (RESOURCE_EXHAUSTED, from an ENHANCE_YOUR_CALM
  // RST_STREAM) instead of buffering past it. Measured in tests/integration/node_limits_test.cc.
  grpc::ResourceQuota quota("strata-node");
  quota.Resize(static_cast<size_t>(2 * options_.EffectiveInflightBytes()));
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::Service>> services = make_services_();
  for (const auto& service : services) builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", listen, " (address in use?)"));
  }
  services_ = std::move(services);
  server_ = std::move(server);
  if (port_ == 0) port_ = bound;  // a restart binds the same port; readers never see it change
  return absl::OkStatus();
}

void GrpcServer::Shutdown(int deadline_ms) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  absl::MutexLock lock(&mu_);
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  server_->Wait();
  server_.reset();
  services_.clear();
}

void GrpcServer::WatchLoop() {
  const absl::Duration period = absl::Milliseconds(options_.listener_check_ms);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
    }
    bool down = false;
    {
      absl::MutexLock lock(&mu_);
      down = server_ == nullptr;
    }
    // A busy server may take a while to accept (a loaded or sanitizer-slowed host can stall it
    // for seconds); only a queue that stays full over several periods in a row, after the process
    // ran out of descriptors (the one known way gRPC's listener goes deaf), means the listener is
    // no longer served. The descriptor state is sampled every period: a flood holds its
    // connections for at least the handshake timeout, far longer than a period.
    const bool accepts = down || ListenerAccepts();
    if (DescriptorsNearLimit()) {
      descriptors_exhausted_ = true;
    } else if (accepts) {
      descriptors_exhausted_ = false;
    }
    stuck_checks_ = accepts ? 0 : stuck_checks_ + 1;
    if (down) {
      Restart("the last restart failed");
    } else if (stuck_checks_ >= kStuckChecks && descriptors_exhausted_) {
      stuck_checks_ = 0;
      descriptors_exhausted_ = false;
      Restart(absl::StrCat("connections waited in its accept queue through ", kStuckChecks,
                           " checks and none was taken; ", DescriptorUse()));
    }
  }
}

bool GrpcServer::ListenerAccepts() {
  bool known = !listeners_.empty();
  for (int fd : listeners_) known = known && IsListenerOn(fd, port_);
  if (!known) listeners_ = FindListeners(port_);
  if (listeners_.empty()) return true;  // nothing to judge by this period

  // A listener that is being served takes the probe (and anything else queued) at once.
  const int probe = ConnectProbe(host_, port_);
  const auto window =
      std::chrono::milliseconds(std::clamp<uint32_t>(options_.listener_check_ms, 200, 2000));
  const auto deadline = std::chrono::steady_clock::now() + window;
  // Served: the queue empties, or shrinks between two looks (a busy listener under a stream of
  // new connections may never be seen empty). A deaf listener's queue only grows or stays.
  bool served = false;
  int previous = -1;
  while (!served) {
    int queued = 0;
    for (int fd : listeners_) queued += std::max(AcceptQueue(fd), 0);
    served = queued == 0 || (previous >= 0 && queued < previous);
    previous = queued;
    if (served || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (probe >= 0) close(probe);
  return served;
}

void GrpcServer::Restart(const std::string& why) {
  log_(absl::StrCat("gRPC listener on port ", port_, " stopped accepting (", why,
                    "); restarting the gRPC server on the same port"));
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (server_ != nullptr) {
    // Calls in flight on open connections get a moment; the store is not touched.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    server_.reset();
  }
  services_.clear();
  listeners_.clear();
  const std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  const absl::Status st = BuildLocked(absl::StrCat(host, ":", port_));
  if (st.ok()) {
    restarts_.fetch_add(1);
    log_(
        absl::StrCat("gRPC server restarted on port ", port_, " (restart ", restarts_.load(), ")"));
  } else {
    log_(absl::StrCat("gRPC server restart on port ", port_, " failed: ", st.message(),
                      "; trying again in ", options_.listener_check_ms, " ms"));
  }
}

}  // namespace strata
