// UcxTransport: the Transport over UCX (ucp), for cache nodes and clients alike.
//
// One UCX context and one worker per transport, both owned by a progress thread: every UCX call
// except ucp_worker_signal runs on that thread -- or on a caller that took the loop over with
// Drive, one thread at a time (drive_mu_) -- so the worker is created UCS_THREAD_MODE_SINGLE
// and no UCX lock is taken on the data path. Public methods hand commands to the thread and wake
// it with ucp_worker_signal (called on the loop's own thread with nothing queued, they run at
// once); synchronous methods wait for their command (bounded by Options::sync_call_timeout). The thread either sleeps in epoll on the worker's event fd
// (ucp_worker_arm, ProgressMode::kEvent: idle costs nothing, which matters on small hosts) or
// spins on ucp_worker_progress (kBusyPoll: lowest latency, burns a core).
//
// Protocol per endpoint (see docs/data-plane.md):
//   kRma            one ucp_put_nbx / ucp_get_nbx per op against the peer's unpacked rkey, then
//                   one ucp_ep_flush_nbx; the batch completes when the flush does, i.e. when the
//                   bytes are at the destination. Chosen when the endpoint has native RMA lanes
//                   (shm, cma, rdma).
//   kActiveMessage  the initiator sends an active message naming (address, length); the peer's
//                   transport checks the range against its own registered regions and moves the
//                   bytes by AM rendezvous (zero-copy into/out of the registered buffer), then
//                   acknowledges. Chosen when RMA would be emulated (tcp).
// Options::protocol can force either (for benchmarks and tests).
//
// Failure: endpoints use UCP_ERR_HANDLING_MODE_PEER where UCX supports it (not over UCX 1.13's
// shared-memory transports; see Options::allow_endpoints_without_peer_error_handling). A peer
// error, or a batch that misses its
// deadline, fails the endpoint: it is force-closed (UCX purges its outstanding requests), every
// batch towards it fails UNAVAILABLE once its requests are gone, and the peer stays failed until
// Connect starts a new generation. Unpacked rkeys live with their endpoint and die with it.
//
// Thread safety: as Transport. Callbacks run on the progress thread (or a thread inside Drive),
// except those of batches still in flight at destruction, which run on the destroying thread
// before the destructor returns.
#ifndef STRATA_TRANSFER_UCX_TRANSPORT_H_
#define STRATA_TRANSFER_UCX_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "transfer/transport.h"

namespace strata::transfer {

struct UcxTransportOptions {
  enum class ProgressMode { kEvent, kBusyPoll };
  enum class ProtocolPolicy { kAuto, kRma, kActiveMessage };

  // How the progress thread waits for work. Default: sleep in epoll.
  ProgressMode progress_mode = ProgressMode::kEvent;
  // kEvent only: while work is in flight, keep polling this long after the last event before
  // arming the worker and sleeping. Helps latency on hosts with idle cores; hurts on
  // oversubscribed ones (measured on the 2-core dev host under load: a 64 KiB read over shm went
  // from 33 us to 420 us with 200 us of polling, because the polling peer took the core the other
  // side needed). Default: no polling.
  absl::Duration poll_after_activity = absl::ZeroDuration();
  // kAuto: RMA where the endpoint has native RMA lanes, active messages otherwise.
  ProtocolPolicy protocol = ProtocolPolicy::kAuto;
  // UCX configuration overrides applied with ucp_config_modify on top of the UCX_* environment,
  // e.g. {{"TLS", "tcp"}, {"NET_DEVICES", "lo"}}. Lets two transports in one process differ.
  std::vector<std::pair<std::string, std::string>> ucx_config;
  // Upper bound on how long a synchronous method (RegisterMemory, Connect, ...) waits for the
  // progress thread.
  absl::Duration sync_call_timeout = absl::Seconds(10);
  // Active messages at least this large go by rendezvous (zero-copy); smaller ones are copied
  // eagerly.
  size_t am_rendezvous_threshold = 16 * 1024;
  // Endpoints are created with UCP_ERR_HANDLING_MODE_PEER, so a peer's failure is reported and
  // its requests are purged. UCX 1.13's shared-memory transports (sysv, posix) do not support that
  // mode: with the default UCX_TLS a same-host peer is then reached over tcp, and with UCX_TLS=sm
  // Connect fails UNAVAILABLE. Setting this opts in to shared memory: such endpoints are created
  // without error handling; a dead peer is detected by batch deadlines. Caveat (UCX 1.13): a peer
  // that dies while this process is in the middle of a cma copy from or to it aborts this process
  // (UCX treats that cma error as fatal on endpoints without error handling).
  bool allow_endpoints_without_peer_error_handling = false;
  // Consecutive ops of a batch that continue each other on both sides are joined into ops of at
  // most this many bytes before posting (MergeAdjacentOps); 0 turns merging off. Joining small
  // blocks saves a request and, over active messages, a rendezvous and an acknowledgement each;
  // joining large ones costs pipelining between them.
  uint64_t merge_max_bytes = 1 << 20;
  // Endpoints this transport creates (Connect) live on a second UCX worker of the same context,
  // progressed by the same thread; peers still reach LocalAddress(), and ConnectAddress() names
  // the second worker. For a process that both accepts a peer's endpoints and makes its own to
  // that peer: UCX 1.13 joins the endpoints two workers make to each other into one connection,
  // so the peer closing its endpoint to us would also cut ours to it (transport.h). One thread,
  // so a reply arriving on one worker right after a transfer on the other costs no wakeup.
  bool separate_connect_worker = false;
  // Name for UCX logs.
  std::string name = "strata";
};

class UcxTransport final : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<UcxTransport>> Create(UcxTransportOptions options);
  // Fails every batch still in flight (FAILED_PRECONDITION or UNAVAILABLE), closes endpoints,
  // unmaps regions and destroys the worker and context.
  ~UcxTransport() override;
  UcxTransport(const UcxTransport&) = delete;
  UcxTransport& operator=(const UcxTransport&) = delete;

  Capabilities GetCapabilities() const override;
  std::string LocalAddress() const override;
  std::string ConnectAddress() const override;
  // Registration is slow (ucp_mem_map): register few, large regions, once. Deregistering waits
  // (up to sync_call_timeout) for ops still using the region; FAILED_PRECONDITION if they did not
  // finish, in which case the memory must stay valid (the unmap happens when they do).
  absl::StatusOr<LocalRegion> RegisterMemory(void* base, size_t length) override;
  absl::Status DeregisterMemory(RegionId id) override;
  absl::StatusOr<PeerHandle> Connect(std::string_view name, std::string_view address) override;
  absl::Status Disconnect(const PeerHandle& peer) override;
  absl::StatusOr<PeerInfo> DescribePeer(const PeerHandle& peer) override;
  absl::StatusOr<RemoteRegionHandle> AddRemoteRegion(const PeerHandle& peer,
                                                     const RegionDescriptor& region) override;
  absl::Status RemoveRemoteRegion(const RemoteRegionHandle& region) override;
  // REQUIRES: every op of a batch names regions of the same peer (INVALID_ARGUMENT otherwise).
  void Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) override;
  // Messages are AMs on the peer's endpoint; large ones go by rendezvous (received into a buffer
  // of their own). The handler runs on the progress thread, inside UCX progress.
  void SetMessageHandler(MessageHandler handler) override;
  void SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                   DoneCallback done) override;

  // Caller-driven progress: a thread waiting for something the transport delivers (a reply
  // message, a batch's callback) can do the progress thread's work itself instead of handing its
  // command to the progress thread and sleeping until a callback wakes it -- two thread hand-offs
  // (wakeups) fewer per round trip. Drive takes over the loop when no other thread is running it
  // (the progress thread between its waits, or another driver): it runs `start` (commands it
  // queues, such as SendMessage or Post, then run at once on this thread), then progresses the
  // workers, runs commands, deadlines and completions -- callbacks and message handlers run on
  // this thread meanwhile -- until `ready()` holds or `budget` has passed, sleeping in the
  // workers' event fd (kEvent) or spinning (kBusyPoll) between events. kBusy: another thread is
  // running the loop; `start` ran the ordinary way (queued for that thread) and nothing was
  // waited for. `ready` is called on this thread, often: it must be cheap and must not call the
  // transport. Not from a callback or message handler of this transport.
  enum class DriveResult { kReady, kTimedOut, kBusy };
  DriveResult Drive(const std::function<void()>& start, const std::function<bool()>& ready,
                    absl::Duration budget);
  uint64_t TEST_DrivenCalls() const { return driven_calls_.load(); }

  // Counters for tests and stats; read with relaxed ordering.
  struct Stats {
    uint64_t batches_completed = 0;
    uint64_t batches_failed = 0;
    uint64_t peers_failed = 0;
    uint64_t incoming_ops = 0;  // AM ops served for peers
    uint64_t messages_sent = 0;
    uint64_t messages_received = 0;
    uint64_t live_requests = 0;
  };
  Stats GetStats() const;
  // Number of local regions still mapped and batches still in flight (resources not yet freed).
  size_t TEST_LiveRegions() const { return live_regions_.load(); }
  size_t TEST_LiveBatches() const { return live_batches_.load(); }

 private:
  struct State;  // everything owned by the progress thread (ucx_transport.cc)
  using Command = std::function<void()>;

  explicit UcxTransport(UcxTransportOptions options);
  absl::Status Init();
  void ProgressLoop();
  // One pass of the loop's work: queued commands, a bounded burst of worker progress, peer
  // errors, deadlines, completions. Returns the UCX events handled. REQUIRES: drive_mu_ held.
  unsigned RunPass();
  void RunCommands();
  // Queues make()'s command for the progress thread and wakes it; false (make not called) once
  // the transport stops accepting work.
  template <typename MakeCommand>
  bool Enqueue(MakeCommand make);
  // Runs `fn` on the progress thread and waits for it (inline when already there).
  absl::Status RunSync(std::function<absl::Status()> fn);
  bool OnProgressThread() const;

  // Constant after construction.
  const UcxTransportOptions options_;
  std::unique_ptr<State> state_;
  std::string local_address_;
  std::string connect_address_;
  Capabilities capabilities_;
  std::thread thread_;
  std::thread::id thread_id_;

  // Held by whichever thread runs the loop's work (State): the progress thread for each pass
  // (not while it sleeps), or a caller inside Drive. `driver_` names that caller.
  absl::Mutex drive_mu_;
  std::atomic<std::thread::id> driver_{};

  // Guarded by mu_: the command queue into the progress thread.
  mutable absl::Mutex mu_;
  std::deque<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;

  std::atomic<bool> has_commands_{false};
  std::atomic<bool> stop_{false};
  std::atomic<size_t> live_regions_{0};
  std::atomic<size_t> live_batches_{0};
  std::atomic<uint64_t> batches_completed_{0};
  std::atomic<uint64_t> batches_failed_{0};
  std::atomic<uint64_t> peers_failed_{0};
  std::atomic<uint64_t> incoming_ops_{0};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> messages_received_{0};
  std::atomic<uint64_t> live_requests_{0};
  std::atomic<uint64_t> driven_calls_{0};
};

}  // namespace strata::transfer

#endif  // STRATA_TRANSFER_UCX_TRANSPORT_H_
