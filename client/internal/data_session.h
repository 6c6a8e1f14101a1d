// DataSession: the client side of one node's UCX data plane. Owns the client's UCX transport
// (whose progress thread serves the node's transfers), the buffers registered on it, and the
// session with the node: opened lazily by Ensure (Hello, then RegisterRegion for each buffer),
// forgotten by Invalidate when the node no longer knows it (restart, dropped endpoint), and
// reopened by the next Ensure. Internal to the client. Thread-safe.
#ifndef STRATA_CLIENT_INTERNAL_DATA_SESSION_H_
#define STRATA_CLIENT_INTERNAL_DATA_SESSION_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "transfer/transport.h"

namespace strata {

class DataSession {
 public:
  // `stubs` must outlive the session. `shm`: the node offers shared memory (UCX sm lanes).
  static absl::StatusOr<std::unique_ptr<DataSession>> Create(Client::Stubs* stubs,
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
  };
  // The session and the node's region id for `buffer`, opening the session and registering the
  // buffer first when needed.
  absl::StatusOr<Ticket> Ensure(uint64_t buffer);
  // The node does not know `session` any more (or its transfers fail): the next Ensure opens a
  // new one.
  void Invalidate(uint64_t session);
  uint64_t sessions_opened() const;

 private:
  struct Buffer {
    transfer::LocalRegion local;
    uint64_t node_region = 0;  // 0: not registered in the current session
  };
  DataSession(Client::Stubs* stubs, const ClientOptions& options)
      : stubs_(stubs), options_(options) {}

  Client::Stubs* const stubs_;
  const ClientOptions options_;
  std::unique_ptr<transfer::Transport> transport_;

  mutable absl::Mutex mu_;
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_buffer_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Buffer> buffers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_CLIENT_INTERNAL_DATA_SESSION_H_
