// LoopbackTransport: the in-process twin of UcxTransport, for unit tests of everything above the
// data plane (the node's Get/Put paths, the client) without UCX.
//
// Transports that share a LoopbackFabric can Connect to each other by LocalAddress(); ops are
// plain memcpy between the registered regions, executed in order on a per-transport thread. The
// semantics match Transport's contract exactly: the same bounds checks (INVALID_ARGUMENT, nothing
// copied), generations (reconnecting invalidates old handles with UNAVAILABLE), a destroyed
// transport is a dead peer (UNAVAILABLE), deadlines (UNAVAILABLE, and as over UCX the peer is then
// declared failed: its remote regions are dropped, later ops to it fail UNAVAILABLE, and only a
// new Connect -- a new generation -- reaches it again), callbacks on a transport thread.
// A "packed rkey" here names the owning transport instance and its region id, so a descriptor
// from a dead or restarted instance never resolves.
//
// Thread safety: as Transport. The fabric must outlive its transports (they hold a shared_ptr).
#ifndef STRATA_TRANSFER_LOOPBACK_TRANSPORT_H_
#define STRATA_TRANSFER_LOOPBACK_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "transfer/transport.h"

namespace strata::transfer {

// The "network" loopback transports share: which instances are alive and their regions.
class LoopbackFabric {
 public:
  LoopbackFabric() = default;
  LoopbackFabric(const LoopbackFabric&) = delete;
  LoopbackFabric& operator=(const LoopbackFabric&) = delete;

 private:
  friend class LoopbackTransport;
  struct Region {
    uint64_t base = 0;
    uint64_t length = 0;
  };
  // Messages for one instance, delivered in order by its message thread. Shared, so a sender
  // can queue into it without holding the fabric lock while the receiver is torn down.
  struct Inbox {
    struct Message {
      std::string bytes;
      uint64_t from = 0;  // the sending instance, for the handler's immediate reply
    };
    absl::Mutex mu;
    std::deque<Message> queue ABSL_GUARDED_BY(mu);
    bool closed ABSL_GUARDED_BY(mu) = false;
  };
  struct Instance {
    std::map<RegionId, Region> regions;
    std::shared_ptr<Inbox> inbox;
  };

  // Held while bytes are copied, so a region cannot be deregistered (nor its transport
  // destroyed) under a copy.
  absl::Mutex mu_;
  uint64_t next_instance_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Instance> instances_ ABSL_GUARDED_BY(mu_);
};

class LoopbackTransport final : public Transport {
 public:
  explicit LoopbackTransport(std::shared_ptr<LoopbackFabric> fabric);
  ~LoopbackTransport() override;
  LoopbackTransport(const LoopbackTransport&) = delete;
  LoopbackTransport& operator=(const LoopbackTransport&) = delete;

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
  // Messages are queued in the receiver's inbox by this transport's worker thread (in order with
  // its other work) and handed to the receiver's handler by the receiver's message thread.
  void SetMessageHandler(MessageHandler handler) override;
  void SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                   DoneCallback done) override;

  // Messages this transport's message thread has taken from its inbox and handed to the handler
  // or dropped (none installed). Once it counts a message, a SetMessageHandler that follows no
  // longer decides that message's fate (tests wait on it instead of sleeping).
  uint64_t TEST_MessagesTaken() const;

 private:
  struct RemoteRegion {
    uint64_t instance = 0;
    RegionId region = 0;
    uint64_t base = 0;
    uint64_t length = 0;
    std::string packed_rkey;
  };
  struct Peer {
    std::string name;
    std::string address;
    uint64_t instance = 0;
    uint64_t generation = 0;
    uint64_t next_region = 1;
    std::map<uint64_t, RemoteRegion> regions;
    // Set when a batch or message towards this generation missed its deadline.
    bool failed = false;
  };
  struct Batch {
    std::vector<TransferOp> ops;
    absl::Time deadline;
    DoneCallback done;
    // A SendMessage instead of ops when set.
    std::optional<std::string> message;
    PeerHandle to;
  };
  // A resolved op: raw addresses, checked.
  struct Copy {
    char* dst = nullptr;
    const char* src = nullptr;
    uint64_t length = 0;
  };

  void WorkerLoop();
  void MessageLoop();
  absl::Status Execute(const Batch& batch);
  // A batch or message that missed its deadline declares the peers it names failed, as
  // UcxTransport does; returns the UNAVAILABLE the batch reports.
  absl::Status MissedDeadline(const Batch& batch, std::string_view what);
  absl::Status Send(Batch& batch);
  // Queues a message in `instance`'s inbox: UNAVAILABLE when that instance is gone.
  absl::Status Deliver(uint64_t instance, std::string bytes);
  absl::Status Resolve(const TransferOp& op, size_t index, Copy* copy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_, fabric_->mu_);

  // Constant after construction.
  std::shared_ptr<LoopbackFabric> fabric_;
  uint64_t instance_ = 0;
  std::shared_ptr<LoopbackFabric::Inbox> inbox_;

  // Guarded by mu_ (never held together with fabric_->mu_ in the other order: mu_ first).
  absl::Mutex mu_;
  uint64_t next_peer_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Peer> peers_ ABSL_GUARDED_BY(mu_);
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Held while the handler runs, so SetMessageHandler returns only once the old one is done.
  absl::Mutex handler_mu_;
  MessageHandler handler_ ABSL_GUARDED_BY(handler_mu_);
  std::atomic<uint64_t> messages_taken_{0};  // counted under handler_mu_

  std::thread worker_;
  std::thread messenger_;
};

}  // namespace strata::transfer

#endif  // STRATA_TRANSFER_LOOPBACK_TRANSPORT_H_
