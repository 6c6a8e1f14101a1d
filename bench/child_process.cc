#include "bench/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "absl/time/clock.h"

extern char** environ;

namespace strata::bench {

std::string UcxTls(const std::string& tls) { return tls == "tcp" ? "tcp" : "sm"; }

std::optional<Child> Spawn(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& extra_env, bool pipes, int log_fd) {
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (pipes) {
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return std::nullopt;
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
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 13337;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 13337;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::optional<std::string> FindPerftest() {
  for (const char* p : {"/usr/bin/ucx_perftest", "/usr/local/bin/ucx_perftest"}) {
    if (access(p, X_OK) == 0) return std::string(p);
  }
  return std::nullopt;
}

std::optional<double> PerftestTagBwOnce(const std::string& perftest, const std::string& tls,
                                        size_t block_bytes) {
  const int port = FreeLoopbackPort();
  const std::vector<std::string> env = {"UCX_TLS=" + UcxTls(tls), "UCX_NET_DEVICES=lo"};
  char log_path[] = "/tmp/strata-perftest-XXXXXX";
  const int log_fd = mkstemp(log_path);
  if (log_fd < 0) return std::nullopt;
  unlink(log_path);
  auto server = Spawn(perftest, {"ucx_perftest", "-p", std::to_string(port)}, env, false, log_fd);
  if (!server) {
    close(log_fd);
    return std::nullopt;
  }
  absl::SleepFor(absl::Milliseconds(300));  // let the server listen
  const size_t iters = std::clamp<size_t>((512ull << 20) / block_bytes, 200, 20000);
  char out_path[] = "/tmp/strata-perftest-out-XXXXXX";
  const int out_fd = mkstemp(out_path);
  auto client = Spawn(perftest,
                      {"ucx_perftest", "127.0.0.1", "-p", std::to_string(port), "-t", "tag_bw",
                       "-s", std::to_string(block_bytes), "-n", std::to_string(iters), "-w",
                       std::to_string(std::min<size_t>(iters / 10 + 1, 100))},
                      env, false, out_fd);
  std::optional<double> gbps;
  if (client) {
    Reap(*client, absl::Seconds(30));
    // The last "Final:" line: iterations, latency typical/avg/overall (us), bandwidth avg and
    // overall (MiB/s), message rate avg and overall.
    lseek(out_fd, 0, SEEK_SET);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(out_fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    const size_t at = text.rfind("Final:");
    if (at != std::string::npos) {
      double v[6] = {0, 0, 0, 0, 0, 0};
      if (std::sscanf(text.c_str() + at, "Final: %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2],
                      &v[3], &v[4], &v[5]) == 6) {
        gbps = v[5] * 1048576.0 / 1e9;
      }
    }
  }
  Reap(*server, absl::Seconds(2));
  close(out_fd);
  unlink(out_path);
  close(log_fd);
  return gbps;
}

}  // namespace strata::bench
