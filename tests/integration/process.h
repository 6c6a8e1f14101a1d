// Test helpers that run Strata's programs as real processes: start strata-node on a free
// loopback port and stop it by PID, run stratactl and collect its output and exit status.
// Every wait is bounded.
#ifndef STRATA_TESTS_INTEGRATION_PROCESS_H_
#define STRATA_TESTS_INTEGRATION_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace strata::testing {

// Directory of the built programs ($STRATA_BIN_DIR, set by ctest).
std::string BinDir();
// A fresh, empty directory under the test temp dir.
std::string FreshDir(const std::string& name);

struct RunResult {
  int exit_code = -1;  // -1: killed or not started
  std::string out;
  std::string err;
};

// Runs a program to completion (killed after timeout_s), capturing stdout and stderr.
RunResult Run(const std::vector<std::string>& argv, int timeout_s = 60);

class NodeProcess {
 public:
  // Starts strata-node --listen 127.0.0.1:0 --port-file DIR/port plus `args`; waits (bounded)
  // for the port file. Returns nullptr, with the node's stderr in *error, when it does not come
  // up.
  // `port` 0 lets the OS choose (a restart passes the port the node had).
  static std::unique_ptr<NodeProcess> Start(const std::string& dir,
                                            const std::vector<std::string>& args,
                                            std::string* error, int port = 0);
  ~NodeProcess();  // SIGKILL if still running

  // Sends `signal` and waits (bounded) for the exit status; SIGKILL after the bound.
  int Stop(int signal);
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// Any program started in the background (stdout and stderr to files under the temp dir);
// killed with SIGKILL on destruction if still running.
class ChildProcess {
 public:
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv);
  ~ChildProcess();
  // Sends `signal` and waits (bounded); returns the exit code (128+signal when signalled).
  int Stop(int signal);
  bool running();
  std::string err() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string base_;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_INTEGRATION_PROCESS_H_
