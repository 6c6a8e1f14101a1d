#include "tests/transfer/transfer_test_util.h"

#include <cstdlib>
#include <cstring>

#include "common/status_macros.h"

namespace strata::transfer::testing {
namespace {

// Loopback only on these machines: set before any UCX context is created (static
// initialisation runs before gtest's main), for in-process transports and child peers alike.
const bool kLoopbackOnly = [] {
  setenv("UCX_NET_DEVICES", "lo", 1);
  return true;
}();

}  // namespace

uint8_t PatternByte(uint64_t seed, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
  x ^= x >> 29;
  return static_cast<uint8_t>(x);
}

void FillPattern(uint8_t* data, size_t size, uint64_t seed) {
  for (size_t i = 0; i < size; ++i) data[i] = PatternByte(seed, i);
}

std::string BackendName(Backend backend) {
  switch (backend) {
    case Backend::kLoopback:
      return "Loopback";
    case Backend::kUcxShm:
      return "UcxShm";
    case Backend::kUcxTcp:
      return "UcxTcp";
    case Backend::kUcxShmRma:
      return "UcxShmEmulatedRma";
    case Backend::kUcxTcpRma:
      return "UcxTcpEmulatedRma";
  }
  return "unknown";
}

std::string BackendTls(Backend backend) {
  switch (backend) {
    case Backend::kUcxShm:
    case Backend::kUcxShmRma:
      return "sm";
    case Backend::kUcxTcp:
    case Backend::kUcxTcpRma:
      return "tcp";
    default:
      return "";
  }
}

UcxTransportOptions UcxOptionsFor(const std::string& tls,
                                  UcxTransportOptions::ProtocolPolicy protocol) {
  UcxTransportOptions options;
  options.ucx_config = {{"TLS", tls}, {"NET_DEVICES", "lo"}};
  options.protocol = protocol;
  options.name = "strata-test";
  // Shared memory in UCX 1.13 needs endpoints without peer error handling (see the option).
  options.allow_endpoints_without_peer_error_handling = tls == "sm";
  return options;
}

TransportFactory::TransportFactory(Backend backend)
    : backend_(backend), fabric_(std::make_shared<LoopbackFabric>()) {}

absl::StatusOr<std::unique_ptr<Transport>> TransportFactory::Make(bool separate_connect_worker) {
  using Policy = UcxTransportOptions::ProtocolPolicy;
  if (backend_ == Backend::kLoopback) {
    return std::unique_ptr<Transport>(std::make_unique<LoopbackTransport>(fabric_));
  }
  const bool rma = backend_ == Backend::kUcxShmRma || backend_ == Backend::kUcxTcpRma;
  UcxTransportOptions options =
      UcxOptionsFor(BackendTls(backend_), rma ? Policy::kRma : Policy::kAuto);
  options.separate_connect_worker = separate_connect_worker;
  STRATA_ASSIGN_OR_RETURN(auto t, UcxTransport::Create(options));
  return std::unique_ptr<Transport>(std::move(t));
}

absl::StatusOr<std::unique_ptr<Buffer>> RegisterBuffer(Transport& transport, size_t size) {
  auto buffer = std::make_unique<Buffer>();
  buffer->storage.assign(size + 4096, 0);
  uintptr_t p = reinterpret_cast<uintptr_t>(buffer->storage.data());
  buffer->data = reinterpret_cast<uint8_t*>((p + 4095) & ~uintptr_t{4095});
  buffer->size = size;
  STRATA_ASSIGN_OR_RETURN(buffer->region, transport.RegisterMemory(buffer->data, size));
  return buffer;
}

}  // namespace strata::transfer::testing
