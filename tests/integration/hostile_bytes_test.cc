// Random bytes and malformed HTTP/2 sent to every TCP port strata-node listens on (its gRPC
// port, the /metrics HTTP port and whatever the UCX data plane's transports listen on, found from
// /proc), then a normal Put and Get must come back byte-exact and /metrics must still answer.
// Every count and wait is bounded.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "proto/strata.grpc.pb.h"
#include "tests/testing/process.h"

namespace strata {
namespace {

using testing::NodeProcess;

// The TCP ports (IPv4 and IPv6) in LISTEN state whose sockets process `pid` holds.
std::set<int> ListeningPorts(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fd_dir, ec)) {
    std::error_code ec2;
    const std::string target = std::filesystem::read_symlink(e.path(), ec2).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<int> ports;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "0A" || inodes.count(inode) == 0) continue;  // 0A: LISTEN
      ports.insert(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
    }
  }
  return ports;
}

// Connects to 127.0.0.1:port, sends `bytes` (as much as the peer takes within 1 s), reads
// whatever comes back for at most `read_ms`, and closes. Errors are the point: ignored.
void SendAndClose(int port, const std::string& bytes, int read_ms = 50) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  timeval timeout{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(read_ms);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) break;
    }
  }
  close(fd);
}

// One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload. `length` overrides
// the header's length field (a lie about the payload) when not ~0.
std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload,
                  uint32_t length = ~0u) {
  const uint32_t len = length == ~0u ? static_cast<uint32_t>(payload.size()) : length;
  std::string f;
  f.push_back(static_cast<char>((len >> 16) & 0xff));
  f.push_back(static_cast<char>((len >> 8) & 0xff));
  f.push_back(static_cast<char>(len & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) {
    f.push_back(static_cast<char>((stream >> shift) & (shift == 24 ? 0x7f : 0xff)));
  }
  return f + payload;
}

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPing = 6, kGoaway = 7,
                  kWindowUpdate = 8, kContinuation = 9;

std::string Setting(uint16_t id, uint32_t value) {
  std::string s;
  s.push_back(static_cast<char>(id >> 8));
  s.push_back(static_cast<char>(id & 0xff));
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(value >> shift));
  return s;
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// The malformed HTTP/2 conversations, each on its own connection.
std::vector<std::pair<std::string, std::string>> MalformedHttp2(std::mt19937& rng) {
  const std::string preface = kPreface;
  const std::string settings = Frame(kSettings, 0, 0, "");
  std::vector<std::pair<std::string, std::string>> cases = {
      {"bad preface", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings},
      {"HTTP/1.1 to the gRPC port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"truncated preface", preface.substr(0, 10)},
      {"oversized frame", preface + settings + Frame(kData, 0, 1, "", 16'777'215)},
      {"frame longer than its bytes", preface + settings + Frame(kHeaders, 4, 1, "abc", 1000)},
      {"SETTINGS length not a multiple of 6", preface + Frame(kSettings, 0, 0, "\x00\x04\x00")},
      {"SETTINGS on a stream", preface + Frame(kSettings, 0, 3, Setting(4, 65535))},
      {"SETTINGS window over 2^31-1", preface + Frame(kSettings, 0, 0, Setting(4, 0x80000000u))},
      {"SETTINGS max frame below 16384", preface + Frame(kSettings, 0, 0, Setting(5, 100))},
      {"SETTINGS ack with payload", preface + Frame(kSettings, 1, 0, Setting(1, 4096))},
      {"PING of 7 bytes", preface + settings + Frame(kPing, 0, 0, "1234567")},
      {"WINDOW_UPDATE of 0", preface + settings + Frame(kWindowUpdate, 0, 0, std::string(4, '\0'))},
      {"CONTINUATION without HEADERS", preface + settings + Frame(kContinuation, 4, 1, "\x82")},
      {"GOAWAY garbage", preface + settings + Frame(kGoaway, 0, 0, RandomBytes(rng, 3))},
      {"DATA on stream 0", preface + settings + Frame(kData, 1, 0, "hello")},
  };
  // HEADERS whose HPACK block is garbage, on fresh odd streams.
  for (int i = 0; i < 8; ++i) {
    cases.emplace_back(
        "HEADERS with garbage HPACK",
        preface + settings + Frame(kHeaders, 4 | 1, 2 * i + 1, RandomBytes(rng, 1 + rng() % 200)));
  }
  // Valid-looking request headers that never finish, then an RST_STREAM flood over them.
  std::string flood = preface + settings;
  for (uint32_t s = 1; s < 2000; s += 2) {
    flood += Frame(kHeaders, 4, s, "\x83\x86\x84");  // :method POST, :scheme http, :path /
    flood += Frame(kRstStream, 0, s, std::string("\x00\x00\x00\x08", 4));
  }
  cases.emplace_back("RST_STREAM flood", flood);
  std::string pings = preface + settings;
  for (int i = 0; i < 2000; ++i) pings += Frame(kPing, 0, 0, RandomBytes(rng, 8));
  cases.emplace_back("PING flood", pings);
  return cases;
}

grpc::Status PutThenGet(int port, const std::string& key, const std::string& payload,
                        std::string* got) {
  auto stub = v1::CacheService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PutRequest req;
    req.set_namespace_("hostile");
    v1::PutItem* item = req.add_items();
    item->set_key(key);
    item->set_payload(payload);
    v1::PutResponse resp;
    grpc::Status st = stub->Put(&ctx, req, &resp);
    if (!st.ok()) return st;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetRequest req;
  req.set_namespace_("hostile");
  req.add_keys(key);
  v1::GetResponse resp;
  grpc::Status st = stub->Get(&ctx, req, &resp);
  if (st.ok() && resp.items_size() == 1) *got = resp.items(0).payload();
  return st;
}

// The HTTP status line /metrics answers on `port`, or "" when it does not.
std::string MetricsStatusLine(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[256];
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) > 0) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n > 0) got.assign(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return got.substr(0, got.find("\r\n"));
}

TEST(HostileBytesTest, EveryPortSurvivesRandomBytesAndMalformedHttp2) {
  const std::string dir = testing::FreshDir("hostile-bytes");
  std::string error;
  auto node = NodeProcess::Start(dir, {"--dram", "16MiB", "--ssd", "0"}, &error);
  ASSERT_NE(node, nullptr) << error;
  std::string got;
  ASSERT_TRUE(PutThenGet(node->port(), "before", std::string(5000, 'b'), &got).ok());

  const std::set<int> ports = ListeningPorts(node->pid());
  ASSERT_EQ(ports.count(node->port()), 1u) << "the gRPC port is not among the listeners found";
  int metrics_port = 0;
  for (int p : ports) {
    if (p != node->port() && MetricsStatusLine(p) == "HTTP/1.1 200 OK") metrics_port = p;
  }
  ASSERT_NE(metrics_port, 0) << "no listener answered GET /metrics";
  // The rest are the data plane's (UCX's tcp transport listens; shared memory does not).
  std::printf("listening ports: %zu (gRPC %d, metrics %d, %zu more)\n", ports.size(), node->port(),
              metrics_port, ports.size() - 2);

  std::mt19937 rng(20261204);
  int conversations = 0;
  for (int port : ports) {
    SCOPED_TRACE("port " + std::to_string(port));
    for (size_t n : {1, 9, 24, 100, 4096, 65536}) {
      for (int i = 0; i < 3; ++i, ++conversations) SendAndClose(port, RandomBytes(rng, n));
    }
    for (const auto& [name, bytes] : MalformedHttp2(rng)) {
      SCOPED_TRACE(name);
      SendAndClose(port, bytes);
      ++conversations;
    }
    ASSERT_EQ(kill(node->pid(), 0), 0) << "strata-node exited";
  }
  std::printf("hostile conversations: %d over %zu ports\n", conversations, ports.size());

  // Still serving, byte-exact, the old block and a new one, and /metrics still answers.
  ASSERT_EQ(kill(node->pid(), 0), 0) << "strata-node exited";
  std::string payload(70'000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 + 7);
  grpc::Status st = PutThenGet(node->port(), "after", payload, &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got, payload);
  ASSERT_TRUE(PutThenGet(node->port(), "before", std::string(5000, 'b'), &got).ok());
  EXPECT_EQ(got, std::string(5000, 'b'));
  EXPECT_EQ(MetricsStatusLine(metrics_port), "HTTP/1.1 200 OK");
  EXPECT_EQ(ListeningPorts(node->pid()), ports) << "a listener went away";
  node.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
