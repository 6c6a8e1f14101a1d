#include "tests/testing/etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/spawn.h"

namespace strata::testing {
namespace {

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// Waits for `pid` up to `timeout`; true when it was reaped.
bool WaitFor(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (absl::Now() >= deadline) return false;
    ::usleep(20 * 1000);
  }
}

}  // namespace

std::string EtcdProcess::FindBinary() {
  if (const char* env = std::getenv("ETCD_BIN"); env != nullptr && *env != '\0') {
    return Executable(env) ? std::string(env) : std::string();
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      std::string candidate = dir + "/etcd";
      if (Executable(candidate)) return candidate;
    }
  }
  return Executable("/usr/bin/etcd") ? std::string("/usr/bin/etcd") : std::string();
}

absl::StatusOr<std::unique_ptr<EtcdProcess>> EtcdProcess::Start(absl::Duration timeout) {
  std::string binary = FindBinary();
  if (binary.empty()) return absl::NotFoundError("no etcd binary (ETCD_BIN, PATH, /usr/bin)");
  std::unique_ptr<EtcdProcess> p(new EtcdProcess());
  p->binary_ = binary;
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/strata-etcd-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", std::strerror(errno)));
  }
  p->dir_ = buf.data();
  p->client_port_ = FreeLoopbackPort();
  p->peer_port_ = FreeLoopbackPort();
  while (p->peer_port_ == p->client_port_) p->peer_port_ = FreeLoopbackPort();
  if (p->client_port_ == 0 || p->peer_port_ == 0) {
    return absl::UnavailableError("no free loopback port for etcd");
  }
  absl::Status s = p->Launch(timeout);
  if (!s.ok()) return s;
  return p;
}

EtcdProcess::~EtcdProcess() {
  Kill();
  if (!dir_.empty()) {
    std::error_code ec;  // best effort, on purpose: a leftover temp dir must not fail a test
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string EtcdProcess::client_url() const {
  return absl::StrCat("http://127.0.0.1:", client_port_);
}

absl::Status EtcdProcess::Launch(absl::Duration timeout) {
  const std::string client = client_url();
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port_);
  std::vector<std::string> args = {
      binary_,
      "--name=strata-test",
      absl::StrCat("--data-dir=", dir_, "/data"),
      absl::StrCat("--listen-client-urls=", client),
      absl::StrCat("--advertise-client-urls=", client),
      absl::StrCat("--listen-peer-urls=", peer),
      absl::StrCat("--initial-advertise-peer-urls=", peer),
      absl::StrCat("--initial-cluster=strata-test=", peer),
      "--initial-cluster-state=new",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  const std::string log = dir_ + "/etcd.log";
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("etcd exited during start (status ", status, "): ", LogTail()));
    }
    if (Healthy()) return absl::OkStatus();
    ::usleep(50 * 1000);
  }
  Kill();
  return absl::UnavailableError(absl::StrCat("etcd did not answer on ", client, " within ",
                                             absl::FormatDuration(timeout), ": ", LogTail()));
}

// GET /health over a plain socket: etcd answers {"health":"true"} once it has a leader.
bool EtcdProcess::Healthy() const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(client_port_));
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char chunk[512];
      ssize_t n;
      while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0) reply.append(chunk, n);
    }
  }
  ::close(fd);
  return reply.find("\"health\":\"true\"") != std::string::npos;
}

void EtcdProcess::Stop(absl::Duration timeout) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!WaitFor(pid_, timeout)) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, absl::Seconds(10));
  }
  pid_ = -1;
}

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  WaitFor(pid_, absl::Seconds(10));
  pid_ = -1;
}

absl::Status EtcdProcess::Restart(absl::Duration timeout, bool wipe_data) {
  Stop();
  if (wipe_data) {
    std::error_code ec;
    std::filesystem::remove_all(dir_ + "/data", ec);
    if (ec) return absl::InternalError(absl::StrCat("wiping ", dir_, "/data: ", ec.message()));
  }
  return Launch(timeout);
}

std::string EtcdProcess::LogTail() const {
  std::ifstream in(dir_ + "/etcd.log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

}  // namespace strata::testing
