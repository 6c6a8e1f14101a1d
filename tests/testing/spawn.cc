#include "tests/testing/spawn.h"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string_view>

#include "absl/time/clock.h"

extern char** environ;

namespace strata::testing {

std::optional<Child> Spawn(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& extra_env, bool pipes, int log_fd) {
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
  if (pipes) {
    if (pipe(to_child) != 0) return std::nullopt;
    if (pipe(from_child) != 0) {
      close(to_child[0]);
      close(to_child[1]);
      return std::nullopt;
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (pipes) {
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addclose(&actions, to_child[1]);
    posix_spawn_file_actions_addclose(&actions, from_child[0]);
  } else if (log_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, 8) == "UCX_TLS=" || entry.substr(0, 16) == "UCX_NET_DEVICES=") continue;
    env.emplace_back(entry);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> owned_args = args;
  std::vector<char*> argv;
  for (auto& a : owned_args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child child;
  const int rc = posix_spawn(&child.pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (pipes) {
    close(to_child[0]);
    close(from_child[1]);
    child.in = to_child[1];
    child.out = from_child[0];
  }
  if (rc != 0) {
    if (child.in >= 0) close(child.in);
    if (child.out >= 0) close(child.out);
    return std::nullopt;
  }
  return child;
}

int Reap(Child& child, absl::Duration timeout) {
  if (child.in >= 0) close(child.in);
  child.in = -1;
  int status = -1;
  if (child.pid > 0) {
    const absl::Time deadline = absl::Now() + timeout;
    while (waitpid(child.pid, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        kill(child.pid, SIGKILL);
        waitpid(child.pid, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    child.pid = -1;
  }
  if (child.out >= 0) close(child.out);
  child.out = -1;
  return status;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace strata::testing
