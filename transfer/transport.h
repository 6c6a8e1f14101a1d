// Transport: Strata's data plane, the narrow interface behind which bytes move between a cache
// node's memory pool and a client's own buffers.
//
// The model is one-sided and initiator-driven. Each side registers a few large memory regions
// once (RegisterMemory) and ships the RegionDescriptor of each to the peer over the control plane
// (gRPC RegisterRegion). The initiator -- always the cache node in Strata -- connects to the
// peer's address (Connect), turns each descriptor into a RemoteRegionHandle (AddRemoteRegion) and
// posts batches of operations (Post):
//   - kPut copies bytes from a local region into the peer's region (the node serving a Get),
//   - kGet copies bytes from the peer's region into a local region (the node serving a Put).
// A batch completes once; its status is OK only when every byte of every op has arrived at its
// destination (remote completion, not just local buffer reuse).
//
// Error contract (absl::Status, chosen by what the caller does next):
//   INVALID_ARGUMENT   an op names a region it may not touch: offset+length outside the local or
//                      remote region, an unknown region id, a zero-length op. Nothing was posted.
//   UNAVAILABLE        the peer failed, was disconnected, reconnected (the handle belongs to an
//                      older generation) or did not complete by the deadline. Retry after
//                      Connect + AddRemoteRegion; the destination bytes are undefined.
//   FAILED_PRECONDITION the transport is shutting down (or, from DeregisterMemory, the region is
//                      still in use by transfers in flight).
// A failed batch never reports OK, and once its callback has run the transport no longer touches
// the memory named by the batch.
//
// Generations: Connect(name, address) keys peers by a caller-chosen stable name (the node uses its
// client session id). Connecting a name again with a new address (the peer restarted) or after
// the peer failed starts a new generation: the old endpoint is closed, the remote regions and
// unpacked keys of the old generation are dropped, and handles of the old generation fail with
// UNAVAILABLE. A peer's memory is never touched with a key from an older incarnation.
//
// Thread safety: every method may be called from any thread. Completion callbacks run on a
// transport-owned thread; they must not block, and may call Post but not the synchronous methods
// of the same transport (they would wait on the thread running the callback).
#ifndef STRATA_TRANSFER_TRANSPORT_H_
#define STRATA_TRANSFER_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace strata::transfer {

// Identifies a region registered with RegisterMemory on this transport. Never 0.
using RegionId = uint64_t;

// What the owner of a region ships to its peer (gRPC RegisterRegion): everything the peer needs
// to address the region. `packed_rkey` is opaque transport bytes (ucp_rkey_pack output for UCX).
struct RegionDescriptor {
  uint64_t base = 0;    // virtual address of the first byte in the owner's address space
  uint64_t length = 0;  // bytes
  std::string packed_rkey;
};

struct LocalRegion {
  RegionId id = 0;
  RegionDescriptor descriptor;
};

// A connected peer at one generation. Returned by Connect.
struct PeerHandle {
  uint64_t id = 0;
  uint64_t generation = 0;
};

// A peer's region as seen by this transport; valid while the peer stays at `generation`.
struct RemoteRegionHandle {
  uint64_t peer = 0;
  uint64_t generation = 0;
  uint64_t id = 0;
};

enum class OpKind {
  kPut,  // local region -> remote region
  kGet,  // remote region -> local region
};

struct TransferOp {
  OpKind kind = OpKind::kPut;
  RegionId local_region = 0;
  uint64_t local_offset = 0;
  RemoteRegionHandle remote_region;
  uint64_t remote_offset = 0;
  uint64_t length = 0;
};

// How bytes move on one endpoint.
enum class Protocol {
  kRma,            // one-sided put/get on a lane with native RMA (shm, cma, rdma) + flush
  kActiveMessage,  // active-message rendezvous (the peer's progress thread places the bytes)
  kMemcpy,         // in-process copy (LoopbackTransport)
};
const char* ProtocolName(Protocol protocol);

struct Capabilities {
  std::string name;                // "ucx", "loopback", "fault(ucx)", ...
  bool native_rma = false;         // some endpoint kind moves bytes without the peer's CPU
  bool host_memory = true;         // regions may live in host memory
  bool cuda_memory = false;        // regions may live in CUDA device memory
  uint64_t max_message_bytes = 0;  // largest single op
};

struct PeerInfo {
  PeerHandle handle;
  Protocol protocol = Protocol::kRma;
  bool failed = false;
  std::string detail;  // transport-specific, e.g. the lanes UCX chose
};

// Called exactly once per Post, on a transport thread.
using DoneCallback = std::function<void(absl::Status)>;

// Receives a control message (see Transport::SendMessage). Runs on a transport thread for each
// message that arrives, whole and once; it must not block (hand slow work to another thread) and
// may call Post and SendMessage but not the synchronous methods. A returned string is sent back at
// once, as a message, on the connection the message arrived on -- for answering a sender the
// receiver holds no PeerHandle for (e.g. a session it does not know); best effort, unreported.
using MessageHandler = std::function<std::optional<std::string>(std::string message)>;

class Transport {
 public:
  virtual ~Transport() = default;

  virtual Capabilities GetCapabilities() const = 0;

  // Bytes a peer passes to Connect to reach this transport (UCX: the worker address).
  virtual std::string LocalAddress() const = 0;
  // Where this transport's own endpoints (Connect) come from. A peer that answers our messages
  // on an endpoint of its own connects here. The same as LocalAddress() unless the transport
  // keeps its endpoints on a worker of their own (UcxTransportOptions::separate_connect_worker).
  virtual std::string ConnectAddress() const { return LocalAddress(); }

  // Registers [base, base+length) for remote access. The memory must stay valid until
  // DeregisterMemory (or the transport's destruction). REQUIRES: length > 0.
  virtual absl::StatusOr<LocalRegion> RegisterMemory(void* base, size_t length) = 0;
  // No new op may use the region. Returns once the ops already using it (including a peer's
  // read being answered from it) have completed; after OK the memory may be freed.
  virtual absl::Status DeregisterMemory(RegionId id) = 0;

  // Connects to the peer named `name` at `address`; see "Generations" above.
  virtual absl::StatusOr<PeerHandle> Connect(std::string_view name, std::string_view address) = 0;
  // Drops the peer, its endpoint and remote regions; ops in flight towards it fail UNAVAILABLE.
  virtual absl::Status Disconnect(const PeerHandle& peer) = 0;
  virtual absl::StatusOr<PeerInfo> DescribePeer(const PeerHandle& peer) = 0;

  // Makes a peer's region addressable (UCX: unpacks the rkey once per endpoint). Adding the same
  // descriptor twice returns the same handle.
  virtual absl::StatusOr<RemoteRegionHandle> AddRemoteRegion(const PeerHandle& peer,
                                                             const RegionDescriptor& region) = 0;
  virtual absl::Status RemoveRemoteRegion(const RemoteRegionHandle& region) = 0;

  // Posts a batch; `done` runs once with the batch's status, at the latest shortly after
  // `deadline` (a batch not complete by then fails UNAVAILABLE and, for UCX, its endpoint is
  // declared failed so no byte moves afterwards).
  virtual void Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) = 0;

  // Control messages: small byte strings carried on the same connection as the peer's transfers,
  // so a request and its reply cost one message each way instead of a separate control channel's
  // round trip. Messages to one peer generation arrive in the order they were sent, whole and at
  // most once, at the peer's MessageHandler (a peer without one drops them). They are not ordered
  // with respect to batches: a sender that must say "the bytes are in place" sends after the
  // batch's callback reported OK.
  //
  // Caveat (UCX 1.13): when two transports each Connect to the other, UCX may join their
  // endpoints into one connection (it matches endpoints between two workers by creation order),
  // so Disconnect on one side -- or a failure, which closes the endpoint -- can silently cut the
  // other side's endpoint as well: messages sent on it are lost with no error. Keep a connection
  // that carries requests on a worker of its own, apart from endpoints the peer may close (the
  // client does: UcxTransportOptions::separate_connect_worker; docs/data-plane.md).
  //
  // Installs the handler for messages from any peer; replaces the previous one. Messages that
  // arrive before a handler is set are dropped. When it returns, the previous handler is not
  // running and will not run again (UCX: unless its progress thread failed to run the change
  // within sync_call_timeout; callers that free what a handler uses should not rely on that
  // alone -- cachenode/message_calls.cc gates its handler).
  virtual void SetMessageHandler(MessageHandler handler) = 0;
  // Sends `message` to `peer`. `done` runs once: OK when the transport has handed the message
  // over for delivery (not a receipt: a reply is the receipt); UNAVAILABLE when the peer failed,
  // is of an older generation, or the send did not complete by `deadline` (which, as for a batch,
  // declares the peer failed); INVALID_ARGUMENT for a peer this transport never connected;
  // FAILED_PRECONDITION when shutting down.
  virtual void SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                           DoneCallback done) = 0;

  // Conveniences over Post.
  std::future<absl::Status> PostAsync(std::vector<TransferOp> ops, absl::Time deadline);
  absl::Status Run(std::vector<TransferOp> ops, absl::Duration timeout);
};

// Bounds check shared by every transport: [offset, offset+length) within a region of
// `region_length` bytes, without overflow. `what` names the field in the error message.
absl::Status CheckRange(uint64_t offset, uint64_t length, uint64_t region_length,
                        std::string_view what);

// Joins runs of consecutive ops that continue each other on both sides (same kind, regions and
// peer generation; each starts where the previous one ends, locally and remotely) into single
// ops of at most `max_length` bytes. Order is kept; a batch's bytes and destinations are the
// same. Transports call it before posting: one large transfer costs one request and, over active
// messages, one rendezvous and one acknowledgement instead of one per block.
std::vector<TransferOp> MergeAdjacentOps(std::vector<TransferOp> ops,
                                         uint64_t max_length = 256ull << 20);

}  // namespace strata::transfer

#endif  // STRATA_TRANSFER_TRANSPORT_H_
