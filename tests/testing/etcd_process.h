// EtcdProcess: a real, single-member etcd on loopback for tests.
//
// Start() picks two free ports on 127.0.0.1 (client and peer), makes its own data directory
// under $TMPDIR, runs the etcd binary (ETCD_BIN, else `etcd` on PATH, else /usr/bin/etcd) with
// loopback-only listen URLs, and waits (bounded) until etcd answers GET /health on its client
// URL. Stop() (SIGTERM), Kill() (SIGKILL) and Restart() (the same ports and data directory, so
// etcd comes back with its keys, revisions and leases) let a test take etcd away and bring it
// back. The destructor kills the process by PID and removes the data directory; the child also
// dies with the test process (PR_SET_PDEATHSIG), so no etcd outlives a crashed test.
//
// Tests skip, rather than fail, on machines without etcd:
//
//   std::unique_ptr<EtcdProcess> etcd;
//   STRATA_START_ETCD_OR_SKIP(etcd);   // GTEST_SKIP with a message when no binary is found
//
// Not thread-safe: one test thread drives it.
#ifndef STRATA_TESTS_TESTING_ETCD_PROCESS_H_
#define STRATA_TESTS_TESTING_ETCD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace strata::testing {

class EtcdProcess {
 public:
  // The etcd binary to run, or "" when there is none.
  static std::string FindBinary();

  // NOT_FOUND when there is no etcd binary; UNAVAILABLE (with the tail of etcd's log) when it
  // exits or does not answer within `timeout`.
  static absl::StatusOr<std::unique_ptr<EtcdProcess>> Start(
      absl::Duration timeout = absl::Seconds(15));
  ~EtcdProcess();

  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // http://127.0.0.1:PORT, the URL clients dial.
  std::string client_url() const;
  int client_port() const { return client_port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGTERM and wait (bounded; SIGKILL after `timeout`). No-op when not running.
  void Stop(absl::Duration timeout = absl::Seconds(10));
  // SIGKILL and wait. No-op when not running.
  void Kill();
  // Stops it if running, then starts it again on the same ports and data directory and waits
  // until it answers. With `wipe_data`, the data directory is emptied first: a new, empty
  // etcd at the same URL (revisions and leases start over).
  absl::Status Restart(absl::Duration timeout = absl::Seconds(15), bool wipe_data = false);

  // The last lines of etcd's own log (for failure messages).
  std::string LogTail() const;

 private:
  EtcdProcess() = default;
  absl::Status Launch(absl::Duration timeout);
  bool Healthy() const;

  std::string binary_;
  std::string dir_;  // data dir is dir_/data, log is dir_/etcd.log
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace strata::testing

// Starts etcd into `var` (a std::unique_ptr<EtcdProcess>), or skips the test when the machine
// has no etcd binary; fails the test when etcd is there but does not come up.
#define STRATA_START_ETCD_OR_SKIP(var)                                                  \
  do {                                                                                  \
    if (::strata::testing::EtcdProcess::FindBinary().empty()) {                         \
      GTEST_SKIP() << "no etcd binary (set ETCD_BIN or install etcd-server); skipping"; \
    }                                                                                   \
    auto strata_etcd_or = ::strata::testing::EtcdProcess::Start();                      \
    ASSERT_TRUE(strata_etcd_or.ok()) << strata_etcd_or.status();                        \
    var = std::move(*strata_etcd_or);                                                   \
  } while (0)

#endif  // STRATA_TESTS_TESTING_ETCD_PROCESS_H_
