// UcxTransport's engine: everything its progress thread owns (context, worker, regions, peers,
// batches, the active-message protocol). Internal to transfer/: UcxTransport (ucx_transport.cc)
// drives it; ucx_transport_state.cc holds regions, batches, peers and housekeeping, and
// ucx_transport_am.cc the active-message protocol (the ops peers ask of us and their replies).
//
// Thread safety: none. Only the progress thread touches it (and the destroying thread once the
// progress thread has stopped); callbacks from UCX run inside ucp_worker_progress on that thread.
#ifndef STRATA_TRANSFER_INTERNAL_UCX_TRANSPORT_STATE_H_
#define STRATA_TRANSFER_INTERNAL_UCX_TRANSPORT_STATE_H_

#include <ucp/api/ucp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transfer/internal/ucx_handles.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace strata::transfer {
namespace internal {

// Active-message ids of the kActiveMessage protocol.
enum AmId : unsigned {
  kAmWrite = 0x5301,         // initiator -> owner: header + the bytes to place at `address`
  kAmWriteAck = 0x5302,      // owner -> initiator: the bytes of op `op_id` are in place (`code`)
  kAmReadRequest = 0x5303,   // initiator -> owner: send me [address, address+length)
  kAmReadResponse = 0x5304,  // owner -> initiator: header + the bytes of op `op_id`
  kAmMessage = 0x5305,       // either way: a control message (Transport::SendMessage)
};

// Fixed-size header of every AM; `code` is an absl::StatusCode.
struct AmHeader {
  uint64_t op_id = 0;
  uint64_t address = 0;
  uint64_t length = 0;
  int32_t code = 0;
  uint32_t reserved = 0;
};

}  // namespace internal

// Members are declared parent-first so that the implicit destruction order (reverse) would also be
// correct; Shutdown() makes the order explicit.
struct UcxTransport::State {
  using AmHeader = internal::AmHeader;

  struct LocalRegionState {
    uint64_t base = 0;
    uint64_t length = 0;
    internal::UcpMemPtr memh;
    std::string packed_rkey;
    int users = 0;  // ops in flight on the region
    bool dying = false;
  };
  struct RemoteRegionState {
    uint64_t base = 0;
    uint64_t length = 0;
    std::string packed_rkey;
    internal::UcpRkeyPtr rkey;
  };
  // user_data of an endpoint's error callback. Kept until shutdown: UCX may report an error on an
  // endpoint we already retired.
  struct EpContext {
    State* state = nullptr;
    uint64_t peer = 0;
    uint64_t generation = 0;
  };
  struct PeerState {
    std::string name;
    std::string address;
    uint64_t generation = 0;
    ucp_ep_h ep = nullptr;
    Protocol protocol = Protocol::kRma;
    std::string transports;
    bool peer_error_handling = false;  // UCP_ERR_HANDLING_MODE_PEER (else NONE; see Connect)
    bool failed = false;
    absl::Status failure;
    uint64_t next_region = 1;
    std::map<uint64_t, RemoteRegionState> regions;
    std::set<uint64_t> batches;
  };
  struct BatchState {
    State* state = nullptr;
    uint64_t id = 0;
    uint64_t peer = 0;
    absl::Time deadline;
    DoneCallback done;
    size_t pending = 0;  // requests in flight + AM replies awaited + the posting guard
    absl::Status status;
    std::vector<RegionId> regions;  // one `users` reference each
    std::vector<AmHeader> headers;  // AM headers must live until their send completes
    std::string message;            // a SendMessage's bytes, alive until the send completes
    bool expired = false;
    absl::Time expired_at;
    bool finished = false;  // reported; kept as a zombie while UCX may still call back
  };
  // An op of ours awaiting its AM reply.
  struct AmOp {
    uint64_t batch = 0;
    char* dst = nullptr;  // kGet: where the bytes go
    uint64_t length = 0;
    ucp_mem_h memh = nullptr;
  };
  // An AM we send on behalf of a peer (ack, read response), alive until its request completes.
  struct OwnedSend {
    State* state = nullptr;
    AmHeader header;
    RegionId region = 0;  // a `users` reference while the send reads the region
    std::string message;  // SendReply's `owned` bytes, alive until the send completes
  };
  // A control message in arrival order on its connection; one still arriving by rendezvous
  // (`ready` false) holds back those behind it, so handlers see messages in the order sent.
  struct IncomingMessage {
    State* state = nullptr;
    // The connection it arrived on (UCX's endpoint towards the sender).
    ucp_ep_h reply_ep = nullptr;
    std::string bytes;
    bool ready = false;
    bool failed = false;    // its rendezvous failed: skipped
    bool orphaned = false;  // its connection was closed: kept only for UCX's callback
  };
  // An endpoint FailPeer retired from inside UCX progress, closed once progress returns.
  struct DeferredClose {
    ucp_ep_h ep = nullptr;
    std::map<uint64_t, RemoteRegionState> rkeys;  // destroyed after the close
  };
  // A peer's write being received into one of our regions.
  struct IncomingWrite {
    State* state = nullptr;
    ucp_ep_h reply_ep = nullptr;
    uint64_t op_id = 0;
    RegionId region = 0;
  };

  State(UcxTransport* owner, const UcxTransportOptions& options) : owner(owner), options(options) {}

  UcxTransport* const owner;
  const UcxTransportOptions& options;

  // What each worker's AM handlers get as `arg`: the state and the worker the AM arrived on
  // (a rendezvous is received on that worker).
  struct WorkerArg {
    State* state = nullptr;
    ucp_worker_h worker = nullptr;
  };

  internal::UcpContextPtr context;
  internal::UcpWorkerPtr worker;
  // Options::separate_connect_worker: the worker our own endpoints (Connect) live on.
  internal::UcpWorkerPtr connect_worker;
  WorkerArg worker_arg;
  WorkerArg connect_worker_arg;
  int epoll_fd = -1;
  bool shutting_down = false;

  std::map<RegionId, LocalRegionState> regions;
  RegionId next_region = 1;
  std::map<uint64_t, PeerState> peers;
  uint64_t next_peer = 1;
  uint64_t next_generation = 1;
  std::vector<std::unique_ptr<EpContext>> ep_contexts;
  std::vector<std::pair<EpContext*, ucs_status_t>> peer_errors;
  std::map<uint64_t, std::unique_ptr<BatchState>> batches;
  uint64_t next_batch = 1;
  std::unordered_map<uint64_t, AmOp> am_ops;
  uint64_t next_op = 1;
  std::vector<std::pair<DoneCallback, absl::Status>> completions;
  MessageHandler message_handler;  // set by SetMessageHandler (on this thread)
  // Messages not yet delivered, per connection, in arrival order (see IncomingMessage).
  std::unordered_map<ucp_ep_h, std::deque<std::unique_ptr<IncomingMessage>>> arriving;
  // Those of closed connections (OrphanArrivals), alive until shutdown for UCX's callbacks.
  std::vector<std::unique_ptr<IncomingMessage>> orphaned_arrivals;
  // > 0 while inside ucp_worker_progress (so inside UCX callbacks).
  int progress_depth = 0;
  std::vector<DeferredClose> deferred_closes;
  // Batches reported failed while UCX still held requests for them (endpoints without peer error
  // handling cannot purge those): kept so a late callback finds valid memory; freed at shutdown.
  std::vector<std::unique_ptr<BatchState>> zombies;
  // Set once UCX refused an endpoint with UCP_ERR_HANDLING_MODE_PEER on this context's transports.
  bool peer_mode_unreachable = false;
  size_t closing_endpoints = 0;

  // --- regions -------------------------------------------------------------------------------
  void ReleaseRegion(RegionId id);
  // The registered, live region that holds [address, address+length), or nullptr.
  LocalRegionState* FindLocal(uint64_t address, uint64_t length, RegionId* id);

  // --- batches -------------------------------------------------------------------------------
  void OneDone(BatchState* batch, const absl::Status& status);
  void Finish(uint64_t batch_id);
  static void OnBatchRequestDone(void* request, ucs_status_t status, void* user_data);
  static void OnBatchRecvDone(void* request, ucs_status_t status, size_t length, void* user_data);
  // Accounts for one UCX call made for `batch` (the request loop, async form).
  void Track(BatchState* batch, ucs_status_ptr_t ptr, std::string_view what);
  ucp_request_param_t BatchParam(BatchState* batch);
  absl::Status Validate(const std::vector<TransferOp>& ops, PeerState** peer_out);
  void PostBatch(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done);
  void PostRma(BatchState* batch, PeerState& peer, const std::vector<TransferOp>& ops);
  void PostActiveMessages(BatchState* batch, PeerState& peer, const std::vector<TransferOp>& ops);
  // A message is a batch of one AM send: it shares the batches' deadlines and failure handling.
  void PostMessage(const PeerHandle& to, std::string message, absl::Time deadline,
                   DoneCallback done);
  // Looks up a live peer of this generation: INVALID_ARGUMENT (unknown) or UNAVAILABLE.
  absl::StatusOr<PeerState*> LivePeer(uint64_t peer_id, uint64_t generation, std::string_view what);

  // --- peers ---------------------------------------------------------------------------------
  static void OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);
  static void OnCloseDone(void* request, ucs_status_t status, void* user_data);
  void CloseEndpoint(ucp_ep_h ep);
  // Declares the peer failed: its AM ops awaiting replies fail now, its requests are purged by
  // the forced close (their callbacks fail the batches), its rkeys are destroyed.
  void FailPeer(uint64_t peer_id, const absl::Status& status);
  void ProcessPeerErrors();
  absl::StatusOr<PeerHandle> Connect(std::string_view name, std::string_view address);

  // --- active messages served for peers --------------------------------------------------------
  static void OnOwnedSendDone(void* request, ucs_status_t status, void* user_data);
  void FinishOwnedSend(OwnedSend* send);
  // Sends an AM we owe a peer. `region` (0: none) is released once the send no longer reads it.
  // A non-empty `owned` is sent instead of (data, length) and kept alive by the send.
  void SendReply(ucp_ep_h reply_ep, unsigned id, uint64_t op_id, const absl::Status& status,
                 const void* data, uint64_t length, RegionId region,
                 std::string owned = std::string());
  static bool ReadHeader(const void* header, size_t header_length, AmHeader* out);
  static ucp_ep_h ReplyEp(const ucp_am_recv_param_t* param);
  static void OnIncomingWriteDone(void* request, ucs_status_t status, size_t length,
                                  void* user_data);
  void FinishIncomingWrite(IncomingWrite* write, ucs_status_t status);
  static ucs_status_t OnWrite(void* arg, const void* header, size_t header_length, void* data,
                              size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t OnReadRequest(void* arg, const void* header, size_t header_length, void* data,
                                    size_t length, const ucp_am_recv_param_t* param);

  // --- control messages ------------------------------------------------------------------------
  static ucs_status_t OnMessage(void* arg, const void* header, size_t header_length, void* data,
                                size_t length, const ucp_am_recv_param_t* param);
  static void OnIncomingMessageDone(void* request, ucs_status_t status, size_t length,
                                    void* user_data);
  // Delivers the messages at the head of `reply_ep`'s queue that have fully arrived.
  void DeliverArrived(ucp_ep_h reply_ep);
  // `ep` is being closed: its undelivered messages are dropped (a message stuck behind a receive
  // that never completes must not hold a queue a later endpoint at the same address would use).
  void OrphanArrivals(ucp_ep_h ep);
  void RunDeferredCloses();
  // One progress pass over every worker, counted as inside progress (so FailPeer defers its
  // closes), then the closes it deferred. Returns the events handled.
  unsigned ProgressWorkers();
  // Hands a message to the handler and sends its immediate reply, if any, on `reply_ep`.
  void DeliverMessage(std::string bytes, ucp_ep_h reply_ep);

  // --- active-message replies to our own ops ---------------------------------------------------
  static ucs_status_t OnWriteAck(void* arg, const void* header, size_t header_length, void* data,
                                 size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t OnReadResponse(void* arg, const void* header, size_t header_length,
                                     void* data, size_t length, const ucp_am_recv_param_t* param);
  static absl::Status SetAmHandler(ucp_worker_h worker, WorkerArg* arg, unsigned id,
                                   ucp_am_recv_callback_t cb);
  ucp_worker_h EndpointWorker() const {
    return connect_worker ? connect_worker.get() : worker.get();
  }

  // --- the loop's housekeeping -----------------------------------------------------------------
  void CheckDeadlines(absl::Time now);
  absl::Time NextDeadline() const;
  void RunCompletions();
  // Called once the progress thread has stopped, on the destroying thread.
  void Shutdown();
};

}  // namespace strata::transfer

#endif  // STRATA_TRANSFER_INTERNAL_UCX_TRANSPORT_STATE_H_
