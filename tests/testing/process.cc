#include "tests/testing/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/temp_cleanup.h"

extern char** environ;

namespace strata::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Waits up to timeout for `pid`; returns its exit code (128+signal when signalled), or -1 after
// killing it at the deadline.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Sends `signal` to *pid and waits (bounded, as WaitFor); *pid becomes -1. -1 when not running.
int SignalAndWait(pid_t* pid, int signal, std::chrono::milliseconds timeout) {
  if (*pid < 0) return -1;
  kill(*pid, signal);
  const int code = WaitFor(*pid, timeout);
  *pid = -1;
  return code;
}

// SIGKILL and reap, when still running (destructors).
void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

std::string BinDir() {
  const char* dir = std::getenv("STRATA_BIN_DIR");
  return dir ? dir : "./bin";
}

std::string FreshDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("strata-it-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  RemoveAtExitIfPassed(dir.string());
  return dir.string();
}

RunResult Run(const std::vector<std::string>& argv, int timeout_s) {
  static int counter = 0;
  const std::string base =
      std::filesystem::temp_directory_path() /
      ("strata-run-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  RunResult r;
  const pid_t pid = Spawn(argv, base + ".out", base + ".err");
  if (pid < 0) return r;
  r.exit_code = WaitFor(pid, std::chrono::seconds(timeout_s));
  r.out = Slurp(base + ".out");
  r.err = Slurp(base + ".err");
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return r;
}

int ReadPortFile(const std::string& path) {
  std::ifstream in(path);
  int port = 0;
  return in >> port && port > 0 ? port : 0;
}

std::string WaitForText(const std::string& path, const std::string& needle,
                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text = Slurp(path);
  while (text.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    text = Slurp(path);
  }
  return text;
}

std::unique_ptr<NodeProcess> NodeProcess::Start(const std::string& dir,
                                                const std::vector<std::string>& args,
                                                std::string* error, int port) {
  NodeLaunch launch;
  launch.args = args;
  launch.port = port;
  return Start(dir, launch, error);
}

std::unique_ptr<NodeProcess> NodeProcess::Start(const std::string& dir, const NodeLaunch& launch,
                                                std::string* error) {
  const std::string port_file = dir + "/port";
  std::filesystem::remove(port_file);
  std::vector<std::string> argv = {
      launch.binary.empty() ? BinDir() + "/strata-node" : launch.binary, "--listen",
      "127.0.0.1:" + std::to_string(launch.port), "--port-file", port_file, "--metrics-listen",
      launch.metrics_listen,
      // A crashed or killed parent leaves no node behind.
      "--exit-with-parent"};
  argv.insert(argv.end(), launch.args.begin(), launch.args.end());
  auto node = std::unique_ptr<NodeProcess>(new NodeProcess());
  node->pid_ = Spawn(argv, dir + "/node.out", dir + "/node.err");
  if (node->pid_ < 0) {
    *error = "cannot spawn " + argv[0];
    return nullptr;
  }
  const auto deadline = std::chrono::steady_clock::now() + launch.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(node->pid_, &status, WNOHANG) == node->pid_) {
      node->pid_ = -1;
      *error = "strata-node exited: " + Slurp(dir + "/node.err");
      return nullptr;
    }
    if (const int port = ReadPortFile(port_file); port > 0) {
      node->port_ = port;
      return node;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "strata-node did not write its port file within " +
           std::to_string(launch.start_timeout.count()) + " s";
  return nullptr;
}

int NodeProcess::Stop(int signal, std::chrono::seconds timeout) {
  return SignalAndWait(&pid_, signal, timeout);
}

NodeProcess::~NodeProcess() { KillAndReap(pid_); }

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv) {
  static int counter = 0;
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->base_ = std::filesystem::temp_directory_path() /
                 ("strata-child-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  child->pid_ = Spawn(argv, child->base_ + ".out", child->base_ + ".err");
  if (child->pid_ < 0) return nullptr;
  return child;
}

bool ChildProcess::running() {
  if (pid_ < 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Stop(int signal) {
  return SignalAndWait(&pid_, signal, std::chrono::seconds(30));
}

std::string ChildProcess::err() const { return Slurp(base_ + ".err"); }

ChildProcess::~ChildProcess() {
  KillAndReap(pid_);
  std::filesystem::remove(base_ + ".out");
  std::filesystem::remove(base_ + ".err");
}

}  // namespace strata::testing
