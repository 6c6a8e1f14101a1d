#include "bench/compare/limits.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench/bench_util.h"

namespace strata::bench {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

std::optional<double> TcpSocketPairGbps(size_t chunk_bytes, double seconds) {
  Fd listener, writer, reader;
  listener.fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener.fd < 0 || bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener.fd, 1) != 0 ||
      getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return std::nullopt;
  }
  writer.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (writer.fd < 0 || connect(writer.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return std::nullopt;
  }
  reader.fd = accept(listener.fd, nullptr, nullptr);
  if (reader.fd < 0) return std::nullopt;
  const int one = 1;
  setsockopt(writer.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  BenchBuffer src(chunk_bytes), dst(chunk_bytes);
  for (size_t i = 0; i < chunk_bytes; ++i) src.data()[i] = static_cast<char>(i * 7);
  const uint64_t max_bytes = 4ull << 30;
  std::atomic<uint64_t> received{0};
  std::thread drain([&] {
    while (true) {
      const ssize_t n = read(reader.fd, dst.data(), chunk_bytes);
      if (n <= 0) return;
      received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
  });
  // Warm up (slow start, socket buffers), then time.
  uint64_t sent = 0;
  auto send_chunk = [&]() -> bool {
    size_t off = 0;
    while (off < chunk_bytes) {
      const ssize_t n = write(writer.fd, src.data() + off, chunk_bytes - off);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    sent += chunk_bytes;
    return true;
  };
  bool ok = true;
  for (int i = 0; i < 16 && ok; ++i) ok = send_chunk();
  while (ok && received.load() < sent) std::this_thread::yield();
  const uint64_t base = received.load();
  const double start = NowSeconds();
  double elapsed = 0;
  while (ok && elapsed < seconds && sent - base < max_bytes) {
    ok = send_chunk();
    elapsed = NowSeconds() - start;
  }
  shutdown(writer.fd, SHUT_WR);
  drain.join();
  elapsed = NowSeconds() - start;
  if (!ok || elapsed <= 0) return std::nullopt;
  return static_cast<double>(received.load() - base) / elapsed / 1e9;
}

}  // namespace strata::bench
