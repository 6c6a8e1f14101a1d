#include "transfer/ucx_transport.h"

#include <sys/epoll.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "transfer/internal/ucx_handles.h"
#include "transfer/internal/ucx_lanes.h"
#include "transfer/internal/ucx_request.h"
#include "transfer/internal/ucx_status.h"
#include "transfer/internal/ucx_transport_state.h"

namespace strata::transfer {

using internal::ClassifyRequest;
using internal::kAmReadRequest;
using internal::kAmReadResponse;
using internal::kAmWrite;
using internal::kAmWriteAck;
using internal::RequestStart;
using internal::UcsToStatus;

// The engine (State) lives in internal/ucx_transport_state.{h,cc} and internal/ucx_transport_am.cc;
// this file is the public face: setup, the progress loop, and commands into it.

UcxTransport::UcxTransport(UcxTransportOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<UcxTransport>> UcxTransport::Create(UcxTransportOptions options) {
  std::unique_ptr<UcxTransport> transport(new UcxTransport(std::move(options)));
  STRATA_RETURN_IF_ERROR(transport->Init());
  return transport;
}

absl::Status UcxTransport::Init() {
  state_ = std::make_unique<State>(this, options_);
  State& s = *state_;

  ucp_config_t* raw_config = nullptr;
  STRATA_RETURN_IF_ERROR(
      UcsToStatus(ucp_config_read(nullptr, nullptr, &raw_config), "ucp_config_read"));
  internal::UcpConfigPtr config(raw_config);
  for (const auto& [key, value] : options_.ucx_config) {
    STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_config_modify(config.get(), key.c_str(), value.c_str()),
                                       absl::StrCat("ucp_config_modify ", key)));
  }
  // A batch of 64 ops puts 128+ messages (rendezvous requests, acks) on a shared-memory FIFO at
  // once; with UCX's default of 64 entries senders wait for the peer to be scheduled (20x slower
  // at 64 x 64 KiB here). Applied only where shared memory may be used (UCX warns otherwise),
  // and only if the caller did not set it.
  bool fifo_set = false;
  for (const auto& [key, value] : options_.ucx_config) fifo_set |= key == "MM_FIFO_SIZE";
  if (!fifo_set && internal::ConfigMayUseSharedMemory(config.get())) {
    // Swallowed on purpose: a UCX without this knob keeps its default.
    ucp_config_modify(config.get(), "MM_FIFO_SIZE", "256");
  }
  ucp_params_t params;
  std::memset(&params, 0, sizeof(params));
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.name = options_.name.c_str();
  ucp_context_h context = nullptr;
  STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_init(&params, config.get(), &context), "ucp_init"));
  s.context.reset(context);

  if (options_.progress_mode == UcxTransportOptions::ProgressMode::kEvent) {
    s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s.epoll_fd < 0) return absl::InternalError("epoll_create1 failed");
  }
  // One worker, or two (Options::separate_connect_worker); each gets the AM handlers and, in
  // event mode, a place in the progress thread's epoll set.
  auto make_worker = [&](internal::UcpWorkerPtr* out, State::WorkerArg* arg,
                         std::string* address_out) -> absl::Status {
    ucp_worker_params_t worker_params;
    std::memset(&worker_params, 0, sizeof(worker_params));
    worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;  // only the progress thread touches it
    ucp_worker_h worker = nullptr;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_worker_create(context, &worker_params, &worker), "ucp_worker_create"));
    out->reset(worker);
    *arg = State::WorkerArg{&s, worker};
    ucp_worker_attr_t worker_attr;
    std::memset(&worker_attr, 0, sizeof(worker_attr));
    worker_attr.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS;
    STRATA_RETURN_IF_ERROR(UcsToStatus(ucp_worker_query(worker, &worker_attr), "ucp_worker_query"));
    internal::UcpWorkerAddressPtr address(worker_attr.address,
                                          internal::UcpWorkerAddressDeleter{worker});
    address_out->assign(reinterpret_cast<const char*>(address.get()), worker_attr.address_length);
    for (auto [id, cb] :
         {std::pair{kAmWrite, &State::OnWrite}, std::pair{kAmWriteAck, &State::OnWriteAck},
          std::pair{kAmReadRequest, &State::OnReadRequest},
          std::pair{kAmReadResponse, &State::OnReadResponse},
          std::pair{internal::kAmMessage, &State::OnMessage}}) {
      STRATA_RETURN_IF_ERROR(State::SetAmHandler(worker, arg, id, cb));
    }
    if (s.epoll_fd >= 0) {
      int worker_fd = -1;
      STRATA_RETURN_IF_ERROR(
          UcsToStatus(ucp_worker_get_efd(worker, &worker_fd), "ucp_worker_get_efd"));
      epoll_event event;
      std::memset(&event, 0, sizeof(event));
      event.events = EPOLLIN;
      if (epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, worker_fd, &event) != 0) {
        return absl::InternalError("epoll_ctl failed");
      }
    }
    return absl::OkStatus();
  };
  STRATA_RETURN_IF_ERROR(make_worker(&s.worker, &s.worker_arg, &local_address_));
  connect_address_ = local_address_;
  if (options_.separate_connect_worker) {
    STRATA_RETURN_IF_ERROR(
        make_worker(&s.connect_worker, &s.connect_worker_arg, &connect_address_));
  }

  ucp_context_attr_t context_attr;
  std::memset(&context_attr, 0, sizeof(context_attr));
  context_attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  STRATA_RETURN_IF_ERROR(
      UcsToStatus(ucp_context_query(context, &context_attr), "ucp_context_query"));
  capabilities_.name = "ucx";
  capabilities_.native_rma = internal::ContextHasNativeRma(context);
  s.peer_mode_unreachable = !internal::ContextHasPeerFailureTransport(context);
  capabilities_.host_memory = true;
  capabilities_.cuda_memory = (context_attr.memory_types & UCS_BIT(UCS_MEMORY_TYPE_CUDA)) != 0;
  capabilities_.max_message_bytes = std::numeric_limits<size_t>::max();

  // The thread's first pass waits for drive_mu_, so it sees thread_id_ set.
  absl::MutexLock drive(&drive_mu_);
  thread_ = std::thread([this] { ProgressLoop(); });
  thread_id_ = thread_.get_id();
  return absl::OkStatus();
}

UcxTransport::~UcxTransport() {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
  }
  if (thread_.joinable()) {
    stop_.store(true);
    ucp_worker_signal(state_->worker.get());
    thread_.join();
  }
  if (state_ != nullptr) state_->Shutdown();
}

bool UcxTransport::OnProgressThread() const {
  const std::thread::id me = std::this_thread::get_id();
  return me == thread_id_ || me == driver_.load();
}

void UcxTransport::RunCommands() {
  if (!has_commands_.load()) return;
  std::deque<Command> commands;
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
    has_commands_.store(false);
  }
  for (Command& command : commands) command();
}

unsigned UcxTransport::RunPass() {
  State& s = *state_;
  RunCommands();
  // Bounded: progress returns the number of events it handled; stop after a burst so commands
  // and deadlines are not starved.
  unsigned events = 0;
  for (int i = 0; i < 256; ++i) {
    const unsigned n = s.ProgressWorkers();
    if (n == 0) break;
    events += n;
  }
  s.ProcessPeerErrors();
  if (!s.batches.empty()) s.CheckDeadlines(absl::Now());
  s.RunCompletions();
  return events;
}

void UcxTransport::ProgressLoop() {
  State& s = *state_;
  ucp_worker_h worker = s.worker.get();
  ucp_worker_h connect_worker = s.connect_worker.get();  // null unless separate
  const bool busy = options_.progress_mode == UcxTransportOptions::ProgressMode::kBusyPoll;
  absl::Time last_activity = absl::Now();
  for (;;) {
    int timeout_ms = -1;  // -1: no sleep, another pass at once
    {
      // Not held while sleeping, so a caller can Drive meanwhile.
      absl::MutexLock drive(&drive_mu_);
      const unsigned events = RunPass();
      const absl::Time now = absl::Now();
      if (events > 0) last_activity = now;
      if (stop_.load()) {
        absl::MutexLock lock(&mu_);
        if (commands_.empty()) break;
        continue;
      }
      if (busy || has_commands_.load()) continue;
      // Work in flight: optionally keep polling a while after the last event before sleeping
      // (see Options::poll_after_activity), and never sleep more than 1 ms: some progress raises
      // no event (a send queued on a full shared-memory FIFO is retried only by progress).
      const bool active = !s.batches.empty() || live_requests_.load() > 0;
      if (active && now - last_activity < options_.poll_after_activity) continue;
      ucs_status_t armed = ucp_worker_arm(worker);
      if (armed == UCS_OK && connect_worker != nullptr) armed = ucp_worker_arm(connect_worker);
      if (armed == UCS_ERR_BUSY) continue;  // events arrived meanwhile: progress again
      if (has_commands_.load() || stop_.load()) continue;
      // Sleep until UCX has an event, a command is signalled, or the next deadline (at most
      // 100 ms, so stop and deadlines are always noticed).
      timeout_ms = 100;
      const absl::Time next = s.NextDeadline();
      if (next != absl::InfiniteFuture()) {
        timeout_ms = static_cast<int>(
            std::clamp<int64_t>(absl::ToInt64Milliseconds(next - now) + 1, 0, 100));
      }
      if (armed != UCS_OK || active) timeout_ms = std::min(timeout_ms, 1);
    }
    epoll_event event;
    epoll_wait(s.epoll_fd, &event, 1, timeout_ms);
  }
}

UcxTransport::DriveResult UcxTransport::Drive(const std::function<void()>& start,
                                              const std::function<bool()>& ready,
                                              absl::Duration budget) {
  if (OnProgressThread() || !drive_mu_.TryLock()) {
    start();
    return DriveResult::kBusy;
  }
  State& s = *state_;
  driver_.store(std::this_thread::get_id());
  driven_calls_.fetch_add(1);
  start();  // what it queues runs here (Enqueue: on the loop's thread, nothing queued ahead)
  const bool busy = options_.progress_mode == UcxTransportOptions::ProgressMode::kBusyPoll;
  const absl::Time end = absl::Now() + budget;
  DriveResult result = DriveResult::kTimedOut;
  for (;;) {
    const unsigned events = RunPass();
    if (ready()) {
      result = DriveResult::kReady;
      break;
    }
    const absl::Time now = absl::Now();
    if (now >= end || stop_.load()) break;
    if (events > 0 || busy || has_commands_.load()) continue;
    // Nothing to do yet: sleep in the workers' event fd, as the progress thread does (which
    // may wake on the same events; it then waits for drive_mu_).
    ucs_status_t armed = ucp_worker_arm(s.worker.get());
    if (armed == UCS_OK && s.connect_worker) armed = ucp_worker_arm(s.connect_worker.get());
    if (armed == UCS_ERR_BUSY || has_commands_.load()) continue;
    int timeout_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(end - now) + 1, 0, 100));
    // As the loop: some progress raises no event, so work in flight is polled every 1 ms.
    if (armed != UCS_OK || !s.batches.empty() || live_requests_.load() > 0) {
      timeout_ms = std::min(timeout_ms, 1);
    }
    epoll_event event;
    epoll_wait(s.epoll_fd, &event, 1, timeout_ms);
  }
  // Work left in flight (or queued) is the progress thread's again: wake it, as it may have
  // gone to sleep before this thread started it.
  const bool pending = !s.batches.empty() || live_requests_.load() > 0 || has_commands_.load();
  driver_.store(std::thread::id());
  drive_mu_.Unlock();
  if (pending) ucp_worker_signal(s.worker.get());
  return result;
}

absl::Status UcxTransport::RunSync(std::function<absl::Status()> fn) {
  if (OnProgressThread()) return fn();
  struct Shared {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
  };
  auto shared = std::make_shared<Shared>();
  {
    absl::MutexLock lock(&mu_);
    if (!accepting_) return absl::FailedPreconditionError("ucx transport: shutting down");
    commands_.push_back([shared, fn = std::move(fn)] {
      absl::Status status = fn();
      absl::MutexLock lock(&shared->mu);
      shared->status = std::move(status);
      shared->done = true;
    });
    has_commands_.store(true);
  }
  ucp_worker_signal(state_->worker.get());
  absl::MutexLock lock(&shared->mu);
  if (!shared->mu.AwaitWithTimeout(absl::Condition(&shared->done), options_.sync_call_timeout)) {
    return absl::DeadlineExceededError("ucx transport: progress thread did not run the call");
  }
  return shared->status;
}

Capabilities UcxTransport::GetCapabilities() const { return capabilities_; }

std::string UcxTransport::LocalAddress() const { return local_address_; }

std::string UcxTransport::ConnectAddress() const { return connect_address_; }

absl::StatusOr<LocalRegion> UcxTransport::RegisterMemory(void* base, size_t length) {
  if (base == nullptr || length == 0) {
    return absl::InvalidArgumentError("RegisterMemory: base must be non-null and length > 0");
  }
  auto out = std::make_shared<LocalRegion>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, base, length]() -> absl::Status {
    State& s = *state_;
    ucp_mem_map_params_t params;
    std::memset(&params, 0, sizeof(params));
    params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    params.address = base;
    params.length = length;
    ucp_mem_h memh = nullptr;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_mem_map(s.context.get(), &params, &memh), "ucp_mem_map"));
    internal::UcpMemPtr owned(memh, internal::UcpMemDeleter{s.context.get()});
    void* packed = nullptr;
    size_t packed_size = 0;
    STRATA_RETURN_IF_ERROR(
        UcsToStatus(ucp_rkey_pack(s.context.get(), memh, &packed, &packed_size), "ucp_rkey_pack"));
    internal::UcpRkeyBufferPtr packed_owned(packed);
    const RegionId id = s.next_region++;
    State::LocalRegionState& region = s.regions[id];
    region.base = reinterpret_cast<uint64_t>(base);
    region.length = length;
    region.memh = std::move(owned);
    region.packed_rkey.assign(static_cast<const char*>(packed), packed_size);
    live_regions_.fetch_add(1);
    out->id = id;
    out->descriptor = RegionDescriptor{region.base, region.length, region.packed_rkey};
    return absl::OkStatus();
  }));
  return *out;
}

absl::Status UcxTransport::DeregisterMemory(RegionId id) {
  STRATA_RETURN_IF_ERROR(RunSync([this, id]() -> absl::Status {
    State& s = *state_;
    auto it = s.regions.find(id);
    if (it == s.regions.end() || it->second.dying) {
      return absl::InvalidArgumentError(absl::StrCat("DeregisterMemory: unknown region ", id));
    }
    if (it->second.users > 0) {
      it->second.dying = true;  // unmapped when the last op on it completes
    } else {
      s.regions.erase(it);
      live_regions_.fetch_sub(1);
    }
    return absl::OkStatus();
  }));
  if (OnProgressThread()) return absl::OkStatus();  // cannot wait for ourselves
  // Ops already using the region (ours, or a peer's read being answered from it) finish first:
  // once this returns OK the memory may be freed.
  const absl::Time deadline = absl::Now() + options_.sync_call_timeout;
  for (;;) {
    auto gone = std::make_shared<bool>(false);
    STRATA_RETURN_IF_ERROR(RunSync([this, id, gone]() -> absl::Status {
      *gone = state_->regions.count(id) == 0;
      return absl::OkStatus();
    }));
    if (*gone) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::FailedPreconditionError(absl::StrCat(
          "DeregisterMemory: region ", id,
          " is still in use by transfers in flight; keep the memory valid until they end"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

absl::StatusOr<PeerHandle> UcxTransport::Connect(std::string_view name, std::string_view address) {
  if (address.empty()) return absl::InvalidArgumentError("Connect: empty address");
  auto out = std::make_shared<absl::StatusOr<PeerHandle>>();
  STRATA_RETURN_IF_ERROR(RunSync(
      [this, out, name = std::string(name), address = std::string(address)]() -> absl::Status {
        *out = state_->Connect(name, address);
        return absl::OkStatus();
      }));
  return *out;
}

absl::Status UcxTransport::Disconnect(const PeerHandle& handle) {
  return RunSync([this, handle]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::OkStatus();  // already superseded: idempotent
    }
    state_->FailPeer(handle.id, absl::UnavailableError("ucx transport: peer disconnected"));
    return absl::OkStatus();
  });
}

absl::StatusOr<PeerInfo> UcxTransport::DescribePeer(const PeerHandle& handle) {
  auto out = std::make_shared<PeerInfo>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, handle]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::UnavailableError("DescribePeer: stale or unknown peer handle");
    }
    out->handle = handle;
    out->protocol = it->second.protocol;
    out->failed = it->second.failed;
    out->detail = it->second.transports;
    return absl::OkStatus();
  }));
  return *out;
}

absl::StatusOr<RemoteRegionHandle> UcxTransport::AddRemoteRegion(const PeerHandle& handle,
                                                                 const RegionDescriptor& region) {
  if (region.length == 0 || region.packed_rkey.empty()) {
    return absl::InvalidArgumentError("AddRemoteRegion: length and packed_rkey are required");
  }
  auto out = std::make_shared<RemoteRegionHandle>();
  STRATA_RETURN_IF_ERROR(RunSync([this, out, handle, region]() -> absl::Status {
    auto it = state_->peers.find(handle.id);
    if (it == state_->peers.end() || it->second.generation != handle.generation) {
      return absl::UnavailableError(
          "AddRemoteRegion: stale peer generation; reconnect and re-register");
    }
    State::PeerState& peer = it->second;
    if (peer.failed) {
      return absl::UnavailableError(
          absl::StrCat("AddRemoteRegion: peer failed: ", peer.failure.message()));
    }
    // The rkey cache: one unpacked key per (endpoint, packed key).
    for (const auto& [id, r] : peer.regions) {
      if (r.packed_rkey == region.packed_rkey && r.base == region.base &&
          r.length == region.length) {
        *out = RemoteRegionHandle{handle.id, handle.generation, id};
        return absl::OkStatus();
      }
    }
    ucp_rkey_h rkey = nullptr;
    STRATA_RETURN_IF_ERROR(UcsToStatus(
        ucp_ep_rkey_unpack(peer.ep, region.packed_rkey.data(), &rkey), "ucp_ep_rkey_unpack"));
    const uint64_t id = peer.next_region++;
    State::RemoteRegionState& remote = peer.regions[id];
    remote.base = region.base;
    remote.length = region.length;
    remote.packed_rkey = region.packed_rkey;
    remote.rkey.reset(rkey);
    *out = RemoteRegionHandle{handle.id, handle.generation, id};
    return absl::OkStatus();
  }));
  return *out;
}

absl::Status UcxTransport::RemoveRemoteRegion(const RemoteRegionHandle& region) {
  return RunSync([this, region]() -> absl::Status {
    auto it = state_->peers.find(region.peer);
    if (it == state_->peers.end() || it->second.generation != region.generation) {
      return absl::OkStatus();
    }
    // An rkey must not be destroyed under an RMA op that uses it: refuse while batches towards
    // the peer are in flight.
    if (!it->second.batches.empty()) {
      return absl::FailedPreconditionError(
          "RemoveRemoteRegion: batches towards this peer are in flight");
    }
    it->second.regions.erase(region.id);
    return absl::OkStatus();
  });
}

template <typename MakeCommand>
bool UcxTransport::Enqueue(MakeCommand make) {
  Command run_here;
  {
    absl::MutexLock lock(&mu_);
    if (!accepting_) return false;  // `make` not called: the caller still owns its callback
    if (OnProgressThread() && commands_.empty()) {
      // Already on the thread that runs commands (a message handler answering, a completion
      // posting the next batch) with nothing queued ahead: run it now, without the queue hop,
      // the wakeup syscall and another pass of the loop. Commands only queue work and report
      // through `completions`, so running one here calls no user callback.
      run_here = make();
    } else {
      commands_.push_back(make());
      has_commands_.store(true);
    }
  }
  if (run_here) {
    run_here();
    return true;
  }
  ucp_worker_signal(state_->worker.get());
  return true;
}

void UcxTransport::Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) {
  const bool queued = Enqueue([&] {
    return Command([this, ops = std::move(ops), deadline, done = std::move(done)]() mutable {
      state_->PostBatch(std::move(ops), deadline, std::move(done));
    });
  });
  if (!queued) done(absl::FailedPreconditionError("ucx transport: shutting down"));
}

void UcxTransport::SetMessageHandler(MessageHandler handler) {
  // Synchronous, so that no message arriving after this returns misses the handler. Swallowed on
  // purpose: it fails while shutting down, when no message is delivered any more, or when the
  // progress thread did not run it within sync_call_timeout (transport.h: callers that free what
  // a handler uses gate it rather than rely on this).
  (void)RunSync([this, handler = std::move(handler)]() mutable {
    state_->message_handler = std::move(handler);
    return absl::OkStatus();
  });
}

void UcxTransport::SendMessage(const PeerHandle& peer, std::string message, absl::Time deadline,
                               DoneCallback done) {
  const bool queued = Enqueue([&] {
    return Command(
        [this, peer, message = std::move(message), deadline, done = std::move(done)]() mutable {
          state_->PostMessage(peer, std::move(message), deadline, std::move(done));
        });
  });
  if (!queued) done(absl::FailedPreconditionError("ucx transport: shutting down"));
}

UcxTransport::Stats UcxTransport::GetStats() const {
  Stats stats;
  stats.batches_completed = batches_completed_.load();
  stats.batches_failed = batches_failed_.load();
  stats.peers_failed = peers_failed_.load();
  stats.incoming_ops = incoming_ops_.load();
  stats.messages_sent = messages_sent_.load();
  stats.messages_received = messages_received_.load();
  stats.live_requests = live_requests_.load();
  return stats;
}

}  // namespace strata::transfer
