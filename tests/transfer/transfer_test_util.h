// Helpers shared by the transfer tests: byte patterns, transport factories for every backend
// under test, and a connected initiator/target pair with one registered region on each side.
#ifndef STRATA_TESTS_TRANSFER_TRANSFER_TEST_UTIL_H_
#define STRATA_TESTS_TRANSFER_TRANSFER_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "transfer/loopback_transport.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace strata::transfer::testing {

// Deterministic bytes: pattern(seed)[i].
uint8_t PatternByte(uint64_t seed, uint64_t i);
void FillPattern(uint8_t* data, size_t size, uint64_t seed);

// The backends the conformance suite runs on.
enum class Backend { kLoopback, kUcxShm, kUcxTcp, kUcxShmRma, kUcxTcpRma };
std::string BackendName(Backend backend);
// UCX_TLS value for a UCX backend ("" for loopback).
std::string BackendTls(Backend backend);

UcxTransportOptions UcxOptionsFor(
    const std::string& tls,
    UcxTransportOptions::ProtocolPolicy protocol = UcxTransportOptions::ProtocolPolicy::kAuto);

// Creates transports of one backend; loopback ones share a fabric.
class TransportFactory {
 public:
  explicit TransportFactory(Backend backend);
  // `separate_connect_worker`: UCX transports keep their own endpoints on a second worker
  // (UcxTransportOptions::separate_connect_worker); loopback ignores it.
  absl::StatusOr<std::unique_ptr<Transport>> Make(bool separate_connect_worker = false);
  Backend backend() const { return backend_; }

 private:
  Backend backend_;
  std::shared_ptr<LoopbackFabric> fabric_;
};

// A target-side buffer registered on `transport` (page-aligned, zero-filled).
struct Buffer {
  std::vector<uint8_t> storage;
  uint8_t* data = nullptr;
  size_t size = 0;
  LocalRegion region;
};
absl::StatusOr<std::unique_ptr<Buffer>> RegisterBuffer(Transport& transport, size_t size);

}  // namespace strata::transfer::testing

#endif  // STRATA_TESTS_TRANSFER_TRANSFER_TEST_UTIL_H_
