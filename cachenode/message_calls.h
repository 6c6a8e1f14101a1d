// MessageCalls: CacheService's GetInto and PutFrom for calls that arrive as UCX messages on a
// data-plane session's own connection (v1::DataPlaneCall, DESIGN.md section 5) -- the message
// counterpart of grpc_services.h, a thin adapter over NodeCore. One message each way replaces
// the gRPC round trip around the transfer, which dominates small calls.
//
// A call is parsed on the transport's progress thread, where it arrives:
//   - a malformed call, or one naming a session the node does not know, is answered at once on
//     the connection it came on (INVALID_ARGUMENT; FAILED_PRECONDITION: Hello again);
//   - a GetInto whose blocks all sit in DRAM as stored is served right there, without a thread
//     hop (NodeCore::TryGetIntoInline): pin, post the transfer, answer from its completion;
//   - anything that may block (blocks on SSD or stored encoded, every PutFrom) is queued for a
//     small pool of call threads that run NodeCore::GetInto / PutFrom; a full queue answers
//     RESOURCE_EXHAUSTED (back off).
// Answers go through DataPlane::Answer, to the client's control peer (which outlives sessions a
// failed transfer drops). Admission is NodeCore's: once draining, calls answer UNAVAILABLE.
// Validation, per-key results and error codes are exactly the gRPC calls'.
//
// Thread-safe. Destroy before the DataPlane and NodeCore it serves: the destructor closes the
// handler's gate (it waits for a call being parsed; calls arriving afterwards, until the data
// plane goes, are answered UNAVAILABLE by the gate alone), lets the call threads finish what is
// queued (UNAVAILABLE once the core is draining) and waits for inline calls still in flight
// (their transfers end by deadline).
#ifndef STRATA_CACHENODE_MESSAGE_CALLS_H_
#define STRATA_CACHENODE_MESSAGE_CALLS_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cachenode/data_plane.h"
#include "cachenode/node_core.h"
#include "proto/strata.pb.h"

namespace strata {

class MessageCalls {
 public:
  // Starts `threads` call threads and installs the data plane's message handler. `core` and
  // `data_plane` must outlive this object.
  MessageCalls(NodeCore* core, DataPlane* data_plane, uint32_t threads);
  ~MessageCalls();
  MessageCalls(const MessageCalls&) = delete;
  MessageCalls& operator=(const MessageCalls&) = delete;

  // The reply to `call_id` with `status`; the body is dropped unless OK (as a gRPC error carries
  // none). Exposed for tests.
  static std::string EncodeReply(v1::DataPlaneReply reply, uint64_t call_id,
                                 const absl::Status& status);

 private:
  // What the installed handler holds instead of `this`: it may outlive this object (a transport
  // can still run the handler after it is replaced, and it stays installed until the data plane
  // goes), so the destructor closes the gate rather than relying on SetMessageHandler.
  struct Gate {
    absl::Mutex mu;
    MessageCalls* calls ABSL_GUARDED_BY(mu) = nullptr;
  };
  struct Work {
    v1::DataPlaneCall call;
    DataPlane::Caller caller;
  };
  // Queued calls beyond this answer RESOURCE_EXHAUSTED.
  static constexpr size_t kMaxQueued = 4096;

  // The data plane's message handler (progress thread); returns an immediate answer, if any.
  std::optional<std::string> OnMessage(std::string bytes);
  void CallLoop();
  void Serve(Work& work);
  void InlineDone();

  NodeCore* const core_;
  DataPlane* const data_plane_;
  const std::shared_ptr<Gate> gate_;

  absl::Mutex mu_;
  std::deque<Work> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int inline_in_flight_ ABSL_GUARDED_BY(mu_) = 0;

  std::vector<std::thread> threads_;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_MESSAGE_CALLS_H_
