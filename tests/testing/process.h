// Helpers that run Strata's programs as real processes, for tests and strata-bench: start
// strata-node on a free loopback port (waiting, bounded, for its port file) and stop it by PID,
// run stratactl and collect its output and exit status. Every wait is bounded.
#ifndef STRATA_TESTS_TESTING_PROCESS_H_
#define STRATA_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace strata::testing {

// Directory of the built programs ($STRATA_BIN_DIR, set by ctest).
std::string BinDir();
// A fresh, empty directory under the test temp dir. Removed when the test binary exits with every
// test passed; kept (and named on stderr) when one failed.
std::string FreshDir(const std::string& name);

struct RunResult {
  int exit_code = -1;  // -1: killed or not started
  std::string out;
  std::string err;
};

// Runs a program to completion (killed after timeout_s), capturing stdout and stderr.
RunResult Run(const std::vector<std::string>& argv, int timeout_s = 60);

// The port a program wrote to `path` (as strata-node's --port-file), or 0 while the file is
// missing, empty or not yet a positive number.
int ReadPortFile(const std::string& path);

// The text of `path` once it contains `needle`, polled for at most `timeout`; after the bound,
// whatever the file holds then. A node writes its port file before it prints its startup summary,
// so a test that reads the summary waits for it with this.
std::string WaitForText(const std::string& path, const std::string& needle,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

// How NodeProcess::Start runs strata-node; the defaults are what the integration tests use.
struct NodeLaunch {
  std::string binary;             // "": BinDir() + "/strata-node"
  std::vector<std::string> args;  // after the flags Start always passes (see Start)
  int port = 0;  // --listen port; 0 lets the OS choose (a restart passes the port the node had)
  std::string metrics_listen = "127.0.0.1:0";  // --metrics-listen ("off": none)
  std::chrono::seconds start_timeout{60};      // for the port file
};

class NodeProcess {
 public:
  // Starts `launch.binary` --listen 127.0.0.1:PORT --port-file DIR/port --metrics-listen M
  // --exit-with-parent plus `launch.args`, stdout and stderr to DIR/node.out and DIR/node.err;
  // waits (at most launch.start_timeout) for the port file. Returns nullptr, with the node's
  // stderr in *error, when it does not come up (killed by PID when it is still running).
  static std::unique_ptr<NodeProcess> Start(const std::string& dir, const NodeLaunch& launch,
                                            std::string* error);
  // The same with the defaults above.
  static std::unique_ptr<NodeProcess> Start(const std::string& dir,
                                            const std::vector<std::string>& args,
                                            std::string* error, int port = 0);
  ~NodeProcess();  // SIGKILL if still running

  // Sends `signal` and waits (at most `timeout`) for the exit status; SIGKILL after the bound
  // (and -1 returned).
  int Stop(int signal, std::chrono::seconds timeout = std::chrono::seconds(60));
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

#endif  // STRATA_TESTS_TESTING_PROCESS_H_
