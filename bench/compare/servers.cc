#include "bench/compare/servers.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/child_process.h"
#include "tests/testing/process.h"

extern char** environ;

namespace strata::bench {
namespace {

std::optional<std::string> FindProgram(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"}) {
    const std::string p = absl::StrCat(dir, "/", name);
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string text(std::istreambuf_iterator<char>(in), {});
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

absl::Status ServerProcess::Launch(const std::vector<std::string>& args,
                                   const std::vector<std::string>& extra_env, int port,
                                   const std::string& port_file) {
  command_ = absl::StrJoin(args, " ");
  const std::string log = dir_ + "/log";
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> owned = args;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::UnavailableError(absl::StrCat("cannot create ", log));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  if (pid < 0) return absl::UnavailableError(absl::StrCat("cannot start ", args[0]));
  pid_ = pid;
  port_ = port;
  port_file_ = port_file;
  return absl::OkStatus();
}

absl::Status ServerProcess::LaunchAndWait(const std::vector<std::string>& args,
                                          const std::vector<std::string>& env, int port) {
  absl::Status st = Launch(args, env, port, "");
  return st.ok() ? WaitUntilServing() : st;
}

absl::Status ServerProcess::WaitUntilServing() {
  const std::string log = dir_ + "/log";
  for (int i = 0; i < 2000; ++i) {  // up to 20 s
    if (port_ == 0) port_ = testing::ReadPortFile(port_file_);
    if (port_ > 0 && Accepts(port_)) {
      address_ = absl::StrCat("127.0.0.1:", port_);
      return absl::OkStatus();
    }
    int status = 0;
    if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat(command_, " exited: ", Tail(log)));
    }
    usleep(10'000);
  }
  return absl::UnavailableError(
      absl::StrCat(command_, " did not come up within 20 s: ", Tail(log)));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {  // 5 s
      gone = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!gone) usleep(10'000);
    }
    if (!gone) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // best effort: a leftover temp dir is harmless
  }
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartRedis(uint64_t memory_bytes) {
  auto exe = FindProgram("redis-server");
  if (!exe) return absl::UnavailableError("redis-server is not installed");
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
    auto s = std::unique_ptr<ServerProcess>(new ServerProcess());
    s->dir_ = absl::StrCat(std::filesystem::temp_directory_path().string(),
                           "/strata-bench-compare-", getpid(), "-redis");
    std::filesystem::create_directories(s->dir_);
    const int port = FreeLoopbackPort();
    last = s->LaunchAndWait(
        {*exe, "--bind", "127.0.0.1", "--port", std::to_string(port), "--save", "", "--appendonly",
         "no", "--maxmemory", std::to_string(memory_bytes), "--maxmemory-policy", "allkeys-lru",
         "--dir", s->dir_, "--daemonize", "no"},
        {}, port);
    if (last.ok()) return s;
  }
  return last;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartMemcached(
    uint64_t memory_bytes) {
  auto exe = FindProgram("memcached");
  if (!exe) return absl::UnavailableError("memcached is not installed");
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto s = std::unique_ptr<ServerProcess>(new ServerProcess());
    s->dir_ = absl::StrCat(std::filesystem::temp_directory_path().string(),
                           "/strata-bench-compare-", getpid(), "-memcached");
    std::filesystem::create_directories(s->dir_);
    const int port = FreeLoopbackPort();
    std::vector<std::string> args = {*exe,
                                     "-l",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(port),
                                     "-U",
                                     "0",
                                     "-I",
                                     "16m",
                                     "-m",
                                     std::to_string(memory_bytes >> 20)};
    if (getuid() == 0) {  // memcached refuses to run as root without naming a user
      args.push_back("-u");
      args.push_back("root");
    }
    last = s->LaunchAndWait(args, {}, port);
    if (last.ok()) return s;
  }
  return last;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartStrataNode(
    uint64_t memory_bytes, const std::string& data_plane, uint64_t staging_bytes) {
  const std::string exe =
      std::filesystem::read_symlink("/proc/self/exe").parent_path() / "strata-node";
  if (access(exe.c_str(), X_OK) != 0) return absl::UnavailableError(exe + " is not built");
  auto s = std::unique_ptr<ServerProcess>(new ServerProcess());
  s->dir_ = absl::StrCat(std::filesystem::temp_directory_path().string(), "/strata-bench-compare-",
                         getpid(), "-node-", data_plane);
  std::filesystem::remove_all(s->dir_);
  std::filesystem::create_directories(s->dir_);
  const std::string config = s->dir_ + "/node.yaml";
  std::ofstream(config) << "data_plane:\n  staging_bytes: " << staging_bytes << "\n";
  const std::string port_file = s->dir_ + "/port";
  absl::Status st =
      s->Launch({exe, "--listen", "127.0.0.1:0", "--port-file", port_file, "--metrics-listen",
                 "off", "--dram", std::to_string(memory_bytes), "--ssd", "0", "--data-plane",
                 data_plane, "--config", config, "--exit-with-parent"},
                {"UCX_NET_DEVICES=lo"}, 0, port_file);
  if (!st.ok()) return st;
  return s;
}

}  // namespace strata::bench
