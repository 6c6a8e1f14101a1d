// FaultTransport: wraps any Transport and injects the faults a real network produces, by a seeded
// policy, so tests can show that every fault reaches the caller as UNAVAILABLE and never as wrong
// bytes (STYLE.md practice 4: faults by wrappers, not hooks in production classes; compare
// RocksDB's FaultInjectionSecondaryCache and Mooncake's FaultProxyTransport).
//
// Per posted batch, one draw from the seeded generator picks at most one fault:
//   fail        the batch completes UNAVAILABLE at once; nothing is posted.
//   drop        the batch is swallowed (a lost message): nothing is posted, and it completes
//               UNAVAILABLE when its deadline passes.
//   delay       the batch is posted `delay` later; if its deadline has passed by then, it completes
//               UNAVAILABLE without being posted.
//   disconnect  the peer of the batch is disconnected on the inner transport before the batch is
//               posted: the batch, and every later batch on that generation, fails UNAVAILABLE
//               until the caller reconnects.
// Everything else is delegated to the inner transport unchanged, control messages included: the
// policy models faults of transfers; a message sent to a peer the policy disconnected fails as
// the inner transport fails it.
//
// Thread safety: as Transport. The inner transport must outlive the wrapper.
#ifndef STRATA_TRANSFER_FAULT_TRANSPORT_H_
#define STRATA_TRANSFER_FAULT_TRANSPORT_H_

#include <cstdint>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "transfer/transport.h"

namespace strata::transfer {

struct FaultPolicy {
  uint64_t seed = 1;
  // Probabilities per batch; their sum must be <= 1.
  double fail_probability = 0;
  double drop_probability = 0;
  double delay_probability = 0;
  double disconnect_probability = 0;
  // How long a delayed batch is held back.
  absl::Duration delay = absl::Milliseconds(20);
};

class FaultTransport final : public Transport {
 public:
  struct Stats {
    uint64_t passed = 0;
    uint64_t failed = 0;
    uint64_t dropped = 0;
    uint64_t delayed = 0;
    uint64_t disconnected = 0;
  };

  // `inner` is not owned.
  FaultTransport(Transport* inner, FaultPolicy policy);
  // Batches still held (dropped or delayed) complete UNAVAILABLE; none is posted afterwards.
  ~FaultTransport() override;
  FaultTransport(const FaultTransport&) = delete;
  FaultTransport& operator=(const FaultTransport&) = delete;

  // Replaces the policy (and reseeds) for batches posted from now on.
  void SetPolicy(FaultPolicy policy);
  Stats GetStats() const;

  Capabilities GetCapabilities() const override;
  std::string LocalAddress() const override;
  absl::StatusOr<LocalRegion> RegisterMemory(void* base, size_t length) override;
  absl::Status DeregisterMemory(RegionId id) override;
  absl::StatusOr<PeerHandle> Connect(std::string_view name, std::string_view address) override;
  absl::Status Disconnect(const PeerHandle& peer) override;
  absl::StatusOr<PeerInfo> DescribePeer(const PeerHandle& peer) override;
  absl::StatusOr<RemoteRegionHandle> AddRemoteRegion(const PeerHandle& peer,
                                                     const RegionDescriptor& region) override;
  absl::Status RemoveRemoteRegion(const RemoteRegionHandle& region) override;
  void Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) override;
  void SetMessageHandler(MessageHandler handler) override;
  void SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                   DoneCallback done) override;

 private:
  enum class Fault { kNone, kFail, kDrop, kDelay, kDisconnect };
  struct Held {
    bool post = false;  // delay: post when due (if the deadline allows); drop: fail when due
    std::vector<TransferOp> ops;
    absl::Time deadline;
    DoneCallback done;
  };

  Fault Draw();
  void TimerLoop();

  // Constant after construction.
  Transport* const inner_;

  mutable absl::Mutex mu_;
  FaultPolicy policy_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, Held> held_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread timer_;
};

}  // namespace strata::transfer

#endif  // STRATA_TRANSFER_FAULT_TRANSPORT_H_
