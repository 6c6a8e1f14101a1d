#include "transfer/loopback_transport.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace strata::transfer {
namespace {

constexpr std::string_view kAddressPrefix = "loopback:";
constexpr std::string_view kRkeyPrefix = "lbk:";

absl::Status Unavailable(std::string_view why) {
  return absl::UnavailableError(absl::StrCat("loopback transport: ", AsAbsl(why)));
}

bool ParseInstance(std::string_view address, uint64_t* instance) {
  if (address.substr(0, kAddressPrefix.size()) != kAddressPrefix) return false;
  return absl::SimpleAtoi(AsAbsl(address.substr(kAddressPrefix.size())), instance);
}

bool ParseRkey(std::string_view rkey, uint64_t* instance, RegionId* region) {
  if (rkey.substr(0, kRkeyPrefix.size()) != kRkeyPrefix) return false;
  std::vector<absl::string_view> parts =
      absl::StrSplit(AsAbsl(rkey.substr(kRkeyPrefix.size())), ':');
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], instance) &&
         absl::SimpleAtoi(parts[1], region);
}

}  // namespace

LoopbackTransport::LoopbackTransport(std::shared_ptr<LoopbackFabric> fabric)
    : fabric_(std::move(fabric)), inbox_(std::make_shared<LoopbackFabric::Inbox>()) {
  {
    absl::MutexLock lock(&fabric_->mu_);
    instance_ = fabric_->next_instance_++;
    fabric_->instances_[instance_].inbox = inbox_;
  }
  worker_ = std::thread([this] { WorkerLoop(); });
  messenger_ = std::thread([this] { MessageLoop(); });
}

LoopbackTransport::~LoopbackTransport() {
  // Leave the fabric first: from now on peers see a dead instance, and no copy can be running
  // against our regions (copies hold the fabric lock).
  {
    absl::MutexLock lock(&fabric_->mu_);
    fabric_->instances_.erase(instance_);
  }
  {
    absl::MutexLock lock(&inbox_->mu);
    inbox_->closed = true;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  worker_.join();
  messenger_.join();
}

Capabilities LoopbackTransport::GetCapabilities() const {
  Capabilities caps;
  caps.name = "loopback";
  caps.native_rma = true;
  caps.host_memory = true;
  caps.cuda_memory = false;
  caps.max_message_bytes = std::numeric_limits<uint64_t>::max();
  return caps;
}

std::string LoopbackTransport::LocalAddress() const {
  return absl::StrCat(AsAbsl(kAddressPrefix), instance_);
}

absl::StatusOr<LocalRegion> LoopbackTransport::RegisterMemory(void* base, size_t length) {
  if (base == nullptr || length == 0) {
    return absl::InvalidArgumentError("RegisterMemory: base must be non-null and length > 0");
  }
  absl::MutexLock lock(&fabric_->mu_);
  auto& regions = fabric_->instances_[instance_].regions;
  const RegionId id = regions.empty() ? 1 : regions.rbegin()->first + 1;
  regions[id] = {reinterpret_cast<uint64_t>(base), length};
  LocalRegion out;
  out.id = id;
  out.descriptor.base = reinterpret_cast<uint64_t>(base);
  out.descriptor.length = length;
  out.descriptor.packed_rkey = absl::StrCat(AsAbsl(kRkeyPrefix), instance_, ":", id);
  return out;
}

absl::Status LoopbackTransport::DeregisterMemory(RegionId id) {
  absl::MutexLock lock(&fabric_->mu_);
  auto& regions = fabric_->instances_[instance_].regions;
  if (regions.erase(id) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("DeregisterMemory: unknown region ", id));
  }
  return absl::OkStatus();
}

absl::StatusOr<PeerHandle> LoopbackTransport::Connect(std::string_view name,
                                                      std::string_view address) {
  uint64_t instance = 0;
  if (!ParseInstance(address, &instance)) {
    return absl::InvalidArgumentError("Connect: address is not a loopback transport address");
  }
  bool alive = false;
  {
    absl::MutexLock lock(&fabric_->mu_);
    alive = fabric_->instances_.count(instance) > 0;
  }
  if (!alive) return Unavailable(absl::StrCat("peer ", instance, " is not running"));
  absl::MutexLock lock(&mu_);
  for (auto& [id, peer] : peers_) {
    if (peer.name != name) continue;
    if (peer.address != address || peer.failed) {
      // The peer restarted or failed: a new generation; the old one's regions are gone.
      peer.address = std::string(address);
      peer.instance = instance;
      peer.generation = next_generation_++;
      peer.regions.clear();
      peer.failed = false;
    }
    return PeerHandle{id, peer.generation};
  }
  const uint64_t id = next_peer_++;
  Peer& peer = peers_[id];
  peer.name = std::string(name);
  peer.address = std::string(address);
  peer.instance = instance;
  peer.generation = next_generation_++;
  return PeerHandle{id, peer.generation};
}

absl::Status LoopbackTransport::Disconnect(const PeerHandle& handle) {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(handle.id);
  if (it == peers_.end() || it->second.generation != handle.generation) {
    return absl::OkStatus();  // already gone: disconnecting is idempotent
  }
  peers_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<PeerInfo> LoopbackTransport::DescribePeer(const PeerHandle& handle) {
  uint64_t instance = 0;
  PeerInfo info;
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(handle.id);
    if (it == peers_.end() || it->second.generation != handle.generation) {
      return Unavailable("peer handle is stale or disconnected");
    }
    instance = it->second.instance;
    info.failed = it->second.failed;
  }
  absl::MutexLock lock(&fabric_->mu_);
  info.handle = handle;
  info.protocol = Protocol::kMemcpy;
  info.failed = info.failed || fabric_->instances_.count(instance) == 0;
  info.detail = absl::StrCat("loopback instance ", instance);
  return info;
}

absl::StatusOr<RemoteRegionHandle> LoopbackTransport::AddRemoteRegion(
    const PeerHandle& handle, const RegionDescriptor& region) {
  uint64_t instance = 0;
  RegionId region_id = 0;
  if (!ParseRkey(region.packed_rkey, &instance, &region_id) || region.length == 0) {
    return absl::InvalidArgumentError("AddRemoteRegion: packed_rkey is not a loopback key");
  }
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(handle.id);
  if (it == peers_.end() || it->second.generation != handle.generation) {
    return Unavailable("AddRemoteRegion: peer handle is stale or disconnected");
  }
  Peer& peer = it->second;
  if (peer.failed) return Unavailable("AddRemoteRegion: peer failed (missed a deadline)");
  if (instance != peer.instance) {
    return Unavailable("AddRemoteRegion: the key belongs to another incarnation of the peer");
  }
  for (const auto& [id, r] : peer.regions) {
    if (r.packed_rkey == region.packed_rkey && r.base == region.base && r.length == region.length) {
      return RemoteRegionHandle{handle.id, handle.generation, id};
    }
  }
  const uint64_t id = peer.next_region++;
  peer.regions[id] = {instance, region_id, region.base, region.length, region.packed_rkey};
  return RemoteRegionHandle{handle.id, handle.generation, id};
}

absl::Status LoopbackTransport::RemoveRemoteRegion(const RemoteRegionHandle& region) {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(region.peer);
  if (it == peers_.end() || it->second.generation != region.generation) return absl::OkStatus();
  it->second.regions.erase(region.id);
  return absl::OkStatus();
}

void LoopbackTransport::Post(std::vector<TransferOp> ops, absl::Time deadline, DoneCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(
          Batch{std::move(ops), deadline, std::move(done), std::nullopt, PeerHandle{}});
      return;
    }
  }
  done(absl::FailedPreconditionError("loopback transport: shutting down"));
}

void LoopbackTransport::WorkerLoop() {
  for (;;) {
    Batch batch;
    {
      absl::MutexLock lock(&mu_);
      // Bounded wait: re-check stopping_ at least every 100 ms.
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](LoopbackTransport* t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return t->stopping_ || !t->queue_.empty();
                               },
                               this),
                           absl::Milliseconds(100));
      if (queue_.empty()) {
        if (stopping_) return;
        continue;
      }
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status status = batch.message.has_value() ? Send(batch) : Execute(batch);
    batch.done(std::move(status));
  }
}

void LoopbackTransport::SetMessageHandler(MessageHandler handler) {
  absl::MutexLock lock(&handler_mu_);  // waits for a handler call in progress
  handler_ = std::move(handler);
}

uint64_t LoopbackTransport::TEST_MessagesTaken() const { return messages_taken_.load(); }

void LoopbackTransport::SendMessage(const PeerHandle& peer, std::string message,
                                    absl::Time deadline, DoneCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Batch{{}, deadline, std::move(done), std::move(message), peer});
      return;
    }
  }
  done(absl::FailedPreconditionError("loopback transport: shutting down"));
}

absl::Status LoopbackTransport::Send(Batch& batch) {
  if (absl::Now() > batch.deadline) return MissedDeadline(batch, "the send");
  uint64_t instance = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(batch.to.id);
    if (it == peers_.end()) return Unavailable("SendMessage: peer is disconnected");
    if (it->second.generation != batch.to.generation) {
      return Unavailable(absl::StrCat("SendMessage: stale generation ", batch.to.generation,
                                      " (peer is at ", it->second.generation, ")"));
    }
    if (it->second.failed) return Unavailable("SendMessage: peer failed (missed a deadline)");
    instance = it->second.instance;
  }
  return Deliver(instance, std::move(*batch.message));
}

absl::Status LoopbackTransport::Deliver(uint64_t instance, std::string bytes) {
  std::shared_ptr<LoopbackFabric::Inbox> inbox;
  {
    absl::MutexLock lock(&fabric_->mu_);
    auto it = fabric_->instances_.find(instance);
    if (it != fabric_->instances_.end()) inbox = it->second.inbox;
  }
  if (inbox != nullptr) {
    absl::MutexLock lock(&inbox->mu);
    if (!inbox->closed) {
      inbox->queue.push_back({std::move(bytes), instance_});
      return absl::OkStatus();
    }
  }
  return Unavailable(absl::StrCat("peer ", instance, " is dead"));
}

void LoopbackTransport::MessageLoop() {
  for (;;) {
    LoopbackFabric::Inbox::Message message;
    {
      absl::MutexLock lock(&inbox_->mu);
      // Bounded wait, as WorkerLoop's.
      inbox_->mu.AwaitWithTimeout(
          absl::Condition(
              +[](LoopbackFabric::Inbox* box)
                   ABSL_NO_THREAD_SAFETY_ANALYSIS { return box->closed || !box->queue.empty(); },
              inbox_.get()),
          absl::Milliseconds(100));
      if (inbox_->closed) return;  // undelivered messages are dropped, as by a dead process
      if (inbox_->queue.empty()) continue;
      message = std::move(inbox_->queue.front());
      inbox_->queue.pop_front();
    }
    std::optional<std::string> reply;
    {
      absl::MutexLock lock(&handler_mu_);
      // Under handler_mu_, with the decision below: SetMessageHandler waits for both.
      messages_taken_.fetch_add(1);
      if (!handler_) continue;  // none installed: dropped
      reply = handler_(std::move(message.bytes));
    }
    // Best effort, as over UCX: a sender that died meanwhile gets nothing.
    if (reply.has_value()) (void)Deliver(message.from, std::move(*reply));
  }
}

absl::Status LoopbackTransport::Resolve(const TransferOp& op, size_t index, Copy* copy) {
  const std::string field = absl::StrCat("ops[", index, "]");
  auto self = fabric_->instances_.find(instance_);
  if (self == fabric_->instances_.end()) {
    return absl::FailedPreconditionError("loopback transport: shutting down");
  }
  auto local = self->second.regions.find(op.local_region);
  if (local == self->second.regions.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".local_region: unknown region ", op.local_region));
  }
  auto peer = peers_.find(op.remote_region.peer);
  if (peer == peers_.end()) {
    return Unavailable(absl::StrCat(field, ".remote_region: peer is disconnected"));
  }
  if (peer->second.generation != op.remote_region.generation) {
    return Unavailable(absl::StrCat(field, ".remote_region: stale generation ",
                                    op.remote_region.generation, " (peer is at ",
                                    peer->second.generation, "); reconnect and re-register"));
  }
  if (peer->second.failed) {
    return Unavailable(absl::StrCat(field, ".remote_region: peer failed (missed a deadline)"));
  }
  auto remote = peer->second.regions.find(op.remote_region.id);
  if (remote == peer->second.regions.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".remote_region: unknown region ", op.remote_region.id));
  }
  absl::Status s = CheckRange(op.local_offset, op.length, local->second.length,
                              AsStd(absl::StrCat(field, ".local_offset")));
  if (!s.ok()) return s;
  s = CheckRange(op.remote_offset, op.length, remote->second.length,
                 AsStd(absl::StrCat(field, ".remote_offset")));
  if (!s.ok()) return s;
  // The remote side must still be alive and still have the region registered as described.
  auto owner = fabric_->instances_.find(remote->second.instance);
  if (owner == fabric_->instances_.end()) {
    return Unavailable(absl::StrCat(field, ": peer is dead"));
  }
  auto owned = owner->second.regions.find(remote->second.region);
  if (owned == owner->second.regions.end() || owned->second.base != remote->second.base ||
      owned->second.length != remote->second.length) {
    return Unavailable(absl::StrCat(field, ": peer no longer has the region registered"));
  }
  char* local_ptr = reinterpret_cast<char*>(local->second.base) + op.local_offset;
  char* remote_ptr = reinterpret_cast<char*>(remote->second.base) + op.remote_offset;
  if (op.kind == OpKind::kPut) {
    *copy = Copy{remote_ptr, local_ptr, op.length};
  } else {
    *copy = Copy{local_ptr, remote_ptr, op.length};
  }
  return absl::OkStatus();
}

absl::Status LoopbackTransport::MissedDeadline(const Batch& batch, std::string_view what) {
  absl::MutexLock lock(&mu_);
  auto fail = [this](uint64_t id, uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = peers_.find(id);
    if (it == peers_.end() || it->second.generation != generation) return;  // not this one
    it->second.failed = true;
    it->second.regions.clear();  // no op of this generation can name them again
  };
  if (batch.message.has_value()) fail(batch.to.id, batch.to.generation);
  for (const TransferOp& op : batch.ops) fail(op.remote_region.peer, op.remote_region.generation);
  return Unavailable(absl::StrCat("deadline exceeded before ", AsAbsl(what),
                                  "; the peer is declared failed"));
}

absl::Status LoopbackTransport::Execute(const Batch& batch) {
  if (absl::Now() > batch.deadline) return MissedDeadline(batch, "the copy");
  absl::MutexLock lock(&mu_);
  absl::MutexLock fabric_lock(&fabric_->mu_);
  std::vector<Copy> copies(batch.ops.size());
  // All ops are checked before any byte moves: an invalid batch changes nothing.
  for (size_t i = 0; i < batch.ops.size(); ++i) {
    absl::Status s = Resolve(batch.ops[i], i, &copies[i]);
    if (!s.ok()) return s;
  }
  for (const Copy& c : copies) std::memmove(c.dst, c.src, c.length);
  return absl::OkStatus();
}

}  // namespace strata::transfer
