#include "tests/testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace strata::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Writes all of `data`; false when the peer is gone.
bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int target_port) {
  std::unique_ptr<TcpProxy> p(new TcpProxy());
  p->target_port_ = target_port;
  p->listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (p->listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(p->listen_fd_, 64) != 0 ||
      ::getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("proxy listen: ", strerror(errno)));
  }
  p->port_ = ntohs(addr.sin_port);
  TcpProxy* self = p.get();
  p->accept_thread_ = std::thread([self] { self->AcceptLoop(); });
  return p;
}

TcpProxy::~TcpProxy() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Cut();
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
}

void TcpProxy::Cut() {
  absl::MutexLock lock(&mu_);
  cut_ = true;
  for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);
}

void TcpProxy::Restore() {
  absl::MutexLock lock(&mu_);
  cut_ = false;
}

void TcpProxy::AcceptLoop() {
  while (true) {
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) {
      if (errno == EINTR) continue;
      return;  // the listen socket was shut down
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      ::close(client);
      return;
    }
    if (cut_) {
      ::close(client);
      continue;
    }
    int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(target_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (server >= 0) ::close(server);
      ::close(client);
      continue;
    }
    live_fds_.push_back(client);
    live_fds_.push_back(server);
    workers_.emplace_back([this, client, server] { Forward(client, server); });
  }
}

void TcpProxy::Forward(int client_fd, int server_fd) {
  pollfd fds[2] = {{client_fd, POLLIN, 0}, {server_fd, POLLIN, 0}};
  char buf[16384];
  bool open = true;
  while (open) {
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n <= 0 || !SendAll(fds[1 - i].fd, buf, static_cast<size_t>(n))) open = false;
    }
    absl::MutexLock lock(&mu_);
    if (cut_ || stopping_) open = false;
  }
  absl::MutexLock lock(&mu_);
  for (int fd : {client_fd, server_fd}) {
    live_fds_.erase(std::remove(live_fds_.begin(), live_fds_.end(), fd), live_fds_.end());
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
}

}  // namespace strata::testing
