#include "bench/child_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/time/clock.h"

namespace strata::bench {

std::string UcxTls(const std::string& tls) { return tls == "tcp" ? "tcp" : "sm"; }

std::optional<std::string> FindPerftest() {
  for (const char* p : {"/usr/bin/ucx_perftest", "/usr/local/bin/ucx_perftest"}) {
    if (access(p, X_OK) == 0) return std::string(p);
  }
  return std::nullopt;
}

std::optional<double> PerftestTagBwOnce(const std::string& perftest, const std::string& tls,
                                        size_t block_bytes, bool peer_error_handling) {
  const int port = FreeLoopbackPort();
  const std::vector<std::string> env = {"UCX_TLS=" + UcxTls(tls), "UCX_NET_DEVICES=lo"};
  char log_path[] = "/tmp/strata-perftest-XXXXXX";
  const int log_fd = mkstemp(log_path);
  if (log_fd < 0) return std::nullopt;
  unlink(log_path);
  std::vector<std::string> server_args = {"ucx_perftest", "-p", std::to_string(port)};
  if (peer_error_handling) server_args.push_back("-e");
  auto server = Spawn(perftest, server_args, env, false, log_fd);
  if (!server) {
    close(log_fd);
    return std::nullopt;
  }
  absl::SleepFor(absl::Milliseconds(300));  // let the server listen
  const size_t iters = std::clamp<size_t>((512ull << 20) / block_bytes, 200, 20000);
  char out_path[] = "/tmp/strata-perftest-out-XXXXXX";
  const int out_fd = mkstemp(out_path);
  std::vector<std::string> client_args = {
      "ucx_perftest", "127.0.0.1",
      "-p",           std::to_string(port),
      "-t",           "tag_bw",
      "-s",           std::to_string(block_bytes),
      "-n",           std::to_string(iters),
      "-w",           std::to_string(std::min<size_t>(iters / 10 + 1, 100))};
  if (peer_error_handling) client_args.push_back("-e");
  auto client = Spawn(perftest, client_args, env, false, out_fd);
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
