// DataSession: the client side of one node's UCX data plane. Owns the client's UCX transport
// (whose progress thread serves the node's transfers), the buffers registered on it, and the
// session with the node: opened lazily by Ensure (Hello, then RegisterRegion for each buffer),
// forgotten by Invalidate when the node no longer knows it (restart, dropped endpoint), and
// reopened by the next Ensure. GetInto / PutFrom requests go as UCX messages, from the
// transport's second worker to the node, when the node takes them (HelloResponse.control_messages
// and ClientOptions::ucx_messages), as gRPC calls otherwise. Internal to the client. Thread-safe.
#ifndef STRATA_CLIENT_INTERNAL_DATA_SESSION_H_
#define STRATA_CLIENT_INTERNAL_DATA_SESSION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/node_client.h"
#include "proto/strata.pb.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace grpc {
class ClientContext;
class Status;
}  // namespace grpc

namespace strata {

class DataSession {
 public:
  // `stubs` must outlive the session. `shm`: the node offers shared memory (UCX sm lanes).
  static absl::StatusOr<std::unique_ptr<DataSession>> Create(NodeClient::Stubs* stubs,
                                                             const ClientOptions& options,
                                                             bool shm);
  // Says Goodbye to the node (best effort), then closes the transport.
  ~DataSession();

  // Registers memory with the local transport; the node learns of it at the next Ensure.
  absl::StatusOr<uint64_t> AddBuffer(char* data, size_t len);
  // Deregisters on the node (best effort) and locally.
  void RemoveBuffer(uint64_t id);

  struct Ticket {
    uint64_t session = 0;
    uint64_t region = 0;
    // Set when calls go as UCX messages: the client's connection to the node.
    std::optional<transfer::PeerHandle> node;
  };
  // The session and the node's region id for `buffer`, opening the session and registering the
  // buffer first when needed.
  absl::StatusOr<Ticket> Ensure(uint64_t buffer);
  // The node does not know `session` any more (or its transfers fail): the next Ensure opens a
  // new one.
  void Invalidate(uint64_t session);
  uint64_t sessions_opened() const;
  // The client transport's capabilities (cuda_memory: device memory may be registered).
  transfer::Capabilities capabilities() const { return transport_->GetCapabilities(); }

  // The session's calls, as UCX messages (ticket.node set) or gRPC calls. The status is the
  // call's, as from the gRPC call: UNAVAILABLE also when the connection to the node failed or no
  // reply came by the deadline.
  absl::Status GetInto(const Ticket& ticket, const v1::GetIntoRequest& request,
                       v1::GetIntoResponse* response);
  absl::Status PutFrom(const Ticket& ticket, const v1::PutFromRequest& request,
                       v1::PutFromResponse* response);
  uint64_t message_calls() const { return message_calls_.load(); }

 private:
  struct Buffer {
    transfer::LocalRegion local;
    uint64_t node_region = 0;  // 0: not registered in the current session
  };
  DataSession(NodeClient::Stubs* stubs, const ClientOptions& options)
      : stubs_(stubs), options_(options) {}
  // Sends `call` (its call_id set here) to the node and waits for the reply,
  // checking the connection every 50 ms while it waits.
  absl::StatusOr<v1::DataPlaneReply> Call(const transfer::PeerHandle& node, v1::DataPlaneCall call);
  // The transport's message handler: completes the call a reply names.
  void OnReply(std::string bytes);
  // Removes and returns the call awaiting `call_id` (null: answered or given up on already), so
  // whichever of the reply, the send's failure and the waiter's deadline comes first settles it.
  std::shared_ptr<std::promise<absl::StatusOr<v1::DataPlaneReply>>> TakePending(uint64_t call_id);
  // One call: `rpc` when the ticket has no node connection, else `fill` a DataPlaneCall, Call,
  // and `take` the body of an OK reply.
  absl::Status RunCall(const Ticket& ticket,
                       const std::function<grpc::Status(grpc::ClientContext*)>& rpc,
                       const std::function<void(v1::DataPlaneCall*)>& fill,
                       const std::function<void(v1::DataPlaneReply*)>& take);

  NodeClient::Stubs* const stubs_;
  const ClientOptions options_;
  // The buffers are registered on it and the node's session endpoints reach its LocalAddress();
  // when calls go as messages they leave from its second worker (ConnectAddress), where the
  // node's answers arrive: kept apart because UCX may join a pair of endpoints between two
  // workers into one connection, and the node closes session endpoints on every failure
  // (transport.h). One progress thread serves both.
  std::unique_ptr<transfer::Transport> transport_;
  transfer::UcxTransport* ucx_ = nullptr;  // transport_, for Drive

  mutable absl::Mutex mu_;
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<transfer::PeerHandle> node_ ABSL_GUARDED_BY(mu_);  // messages go here
  uint64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_buffer_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Buffer> buffers_ ABSL_GUARDED_BY(mu_);

  // Calls awaiting their reply, by call id.
  using PendingReply = std::promise<absl::StatusOr<v1::DataPlaneReply>>;
  absl::Mutex calls_mu_;
  uint64_t next_call_ ABSL_GUARDED_BY(calls_mu_) = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<PendingReply>> pending_ ABSL_GUARDED_BY(calls_mu_);
  std::atomic<uint64_t> message_calls_{0};
};

}  // namespace strata

#endif  // STRATA_CLIENT_INTERNAL_DATA_SESSION_H_
