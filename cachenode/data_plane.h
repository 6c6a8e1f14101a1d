// DataPlane: the node side of the UCX data plane (DESIGN.md section 5, docs/data-plane.md
// section 7). Clients open sessions (Hello: their UCX worker address), register a few large
// buffers (RegisterRegion: base, length, packed rkey), and name (region, offset) per key; the node
// moves the bytes with the Transport and answers once they are at their destination.
//
//  - GetInto: a block the DRAM tier holds plain is pinned in the store and written to the client
//    straight from the DRAM pool, which is registered once (zero-copy on the node). Blocks read
//    from SSD or stored encoded are decoded by the store into a registered staging area first.
//  - PutFrom: the node reads each block straight into room reserved in the DRAM tier
//    (TieredStore::Reserve), checks it against the client's XXH3-64 and commits it -- or, where
//    the tier would not hold it plain or has no room now, into the staging area and Puts it
//    (one copy). Nothing is stored from a failed read or a wrong checksum.
//  - Every (offset, size) is checked against the registered region before anything moves:
//    INVALID_ARGUMENT naming the item. The client's keys are dropped, and its memory never touched
//    again, when it says Goodbye or deregisters, when its endpoint fails (UCX peer error), when a
//    transfer towards it fails, or when the session stays idle longer than session_idle_ms.
//    Operations towards a dead client fail by deadline (transfer_timeout_ms), never hang.
//  - With token auth on (set_authenticator), a session belongs to the token its Hello came with:
//    every GetInto / PutFrom on it, over gRPC or as a UCX message, is checked against that
//    token's namespaces as the current token file has them (PERMISSION_DENIED; UNAUTHENTICATED
//    once the token is revoked), and gRPC calls naming it must carry the same token. Session ids
//    are 64 random bits each (OpenSSL RAND_bytes), since a UCX message call names its session by
//    id alone.
//  - An unknown session answers FAILED_PRECONDITION (the node restarted or dropped it: Hello
//    again); a failed transfer answers UNAVAILABLE on its keys (retry, or use Get/Put).
//
// Thread-safe: sessions live in a map under one mutex, held only to look up or change them;
// transfers run outside it.
#ifndef STRATA_CACHENODE_DATA_PLANE_H_
#define STRATA_CACHENODE_DATA_PLANE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cachenode/auth.h"
#include "cachenode/options.h"
#include "common/block_layout.h"
#include "proto/strata.pb.h"
#include "storage/dram_tier.h"
#include "storage/page_allocator.h"
#include "storage/tiered_store.h"
#include "transfer/fault_transport.h"
#include "transfer/transport.h"

namespace strata {

struct DataPlaneStats {
  uint64_t sessions = 0;
  uint64_t regions = 0;
  uint64_t get_bytes = 0;
  uint64_t put_bytes = 0;
  uint64_t failed_batches = 0;
  uint64_t sessions_dropped = 0;
};

class DataPlane {
 public:
  // Creates the transport and registers the DRAM pool and the staging area. `store` and `pool`
  // must outlive the data plane. `loopback`: keep UCX on the loopback device.
  static absl::StatusOr<std::unique_ptr<DataPlane>> Start(const DataPlaneOptions& options,
                                                          TieredStore* store,
                                                          const DramRegion& pool, bool loopback);
  // Drops every session and waits for transfers in flight (their pins are released).
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // Token auth for sessions (auth.h); null (the default): off. Set before serving; must
  // outlive the data plane.
  void set_authenticator(const Authenticator* auth) { auth_ = auth; }
  // `owner`: the digest of the token the Hello came with (nullopt: auth off).
  absl::Status Hello(const v1::HelloRequest& request, v1::HelloResponse* response,
                     std::optional<TokenDigest> owner = std::nullopt);
  // PERMISSION_DENIED when the session was opened with another token than `token`; OK when it
  // is unknown (the call naming it answers FAILED_PRECONDITION) or auth is off.
  absl::Status CheckOwner(uint64_t session_id, const TokenDigest& token) const;
  // Whether the session's token may use namespace `ns` now (see the class comment); OK when
  // auth is off. FAILED_PRECONDITION for an unknown session.
  absl::Status AuthorizeSession(uint64_t session_id, std::string_view ns) const;
  absl::Status RegisterRegion(const v1::RegisterRegionRequest& request,
                              v1::RegisterRegionResponse* response);
  absl::Status DeregisterRegion(const v1::DeregisterRegionRequest& request);
  absl::Status Goodbye(const v1::GoodbyeRequest& request);
  // REQUIRES: namespace and keys validated by the caller (NodeCore).
  absl::Status GetInto(const v1::GetIntoRequest& request, v1::GetIntoResponse* response);
  // REQUIRES: namespace, keys, parents, sizes validated; layouts[i] is item i's layout.
  absl::Status PutFrom(const v1::PutFromRequest& request, const std::vector<BlockLayout>& layouts,
                       v1::PutFromResponse* response);

  // --- GetInto / PutFrom as UCX messages (v1::DataPlaneCall; cachenode/message_calls.h) ------
  // A client that sends calls as messages names its control transport in Hello
  // (control_address). The node keeps one control peer per control address: its endpoint to
  // that transport, where answers go. Unlike a session's endpoint, which the node closes on any
  // failure, a control peer is closed only when its endpoint fails or the client says Goodbye
  // with no session left -- UCX may join it with the client's own endpoint to the node
  // (transport.h), which must keep working across dropped sessions.
  struct Caller {
    uint64_t session_id = 0;
    transfer::PeerHandle control;  // where the answer goes
  };
  // The caller behind `session_id`: FAILED_PRECONDITION naming it when the node does not know
  // it (Hello again) or it has no control peer (Hello with control_address).
  absl::StatusOr<Caller> FindCaller(uint64_t session_id) const;
  // Installs the handler for messages arriving on the data plane's connections (nullptr: none).
  // It runs on the transport's progress thread (transfer::MessageHandler).
  void SetMessageHandler(transfer::MessageHandler handler);
  // Sends `reply` to the caller's control peer. Best effort: a caller that died, or whose
  // control endpoint failed, gets nothing (it sees the failure and retries). Never blocks.
  void Answer(const Caller& caller, std::string reply);
  // Serves a GetInto without blocking when every block it names is in DRAM as stored (or
  // missing): pins them, posts one transfer and returns true; `done` runs once the bytes are in
  // place or the call failed (on a transport thread, or on this one for a call that moves
  // nothing). Returns false, holding nothing, when a block must be read or decoded first (SSD,
  // encoded): run GetInto on a thread that may block. (Decided before any block is touched; only
  // a block that moves between that check and its pin leaves the keys before it counted once
  // more.) REQUIRES: as GetInto.
  using GetIntoDone = std::function<void(absl::Status, v1::GetIntoResponse)>;
  bool TryGetIntoInline(const v1::GetIntoRequest& request, GetIntoDone done);
  bool messages() const { return options_.messages; }

  DataPlaneStats Stats() const;
  // "ucx tcp", "ucx shm", with the fault policy when one is set.
  std::string Describe() const;
  const std::string& tls() const { return options_.tls; }

 private:
  struct Region {
    transfer::RemoteRegionHandle handle;
    uint64_t length = 0;
  };
  struct Session {
    transfer::PeerHandle peer;
    std::string control_address;  // empty: no control peer
    transfer::PeerHandle control;
    absl::flat_hash_map<uint64_t, Region> regions;
    uint64_t next_region = 1;
    absl::Time last_used;
    int in_flight = 0;
    std::optional<TokenDigest> owner;  // the token the session was opened with (auth on)
  };
  // Pages of the staging area held by one call.
  struct Staged {
    uint64_t first_page = 0;
    uint64_t pages = 0;
    char* data = nullptr;
    uint64_t offset = 0;  // in the staging area
  };
  DataPlane(const DataPlaneOptions& options, TieredStore* store, const DramRegion& pool);
  absl::Status Init(bool loopback);
  void SweepLoop();
  // Drops the session: its regions, endpoint and keys. Takes mu_.
  void Drop(uint64_t session_id, bool counted, bool goodbye = false);
  // The session, or FAILED_PRECONDITION naming it (the client must Hello again).
  absl::StatusOr<Session*> FindLocked(uint64_t session_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The session's grants for `ns` (AuthorizeSession).
  absl::Status AuthorizeLocked(const Session& s, std::string_view ns) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Starts a GetInto/PutFrom: looks up the session and region (FAILED_PRECONDITION, or
  // INVALID_ARGUMENT for an unknown region), checks the session's grants for `ns`, checks every
  // item's [offset, +length(item)) against
  // the region (INVALID_ARGUMENT naming items[i].offset) and marks the session busy until Release.
  template <typename Items, typename Length>
  absl::StatusOr<Region> Begin(uint64_t session_id, std::string_view ns, uint64_t region_id,
                               const Items& items, Length length);
  // Begin for a GetInto (each item's range is its capacity).
  absl::StatusOr<Region> BeginGetInto(const v1::GetIntoRequest& request);
  void Release(uint64_t session_id);
  // Reads item `i` of a GetInto for sending and fills its size, layout and tier: pinned in place
  // (*pin set) or copied into *copy. NOT_FOUND, OUT_OF_RANGE (larger than its capacity; nothing
  // stays pinned) or the store's error otherwise. `copy` null: in place only (FAILED_PRECONDITION
  // for a block that would need a copy).
  absl::StatusOr<std::string_view> ReadForSend(const std::string& ns, const v1::GetIntoItem& item,
                                               v1::GetIntoResult* out, std::optional<BlockPin>* pin,
                                               std::string* copy);
  // Staging pages for `bytes`: without waiting when `wait` is false (nullopt when full), else
  // until space frees up or `deadline` (RESOURCE_EXHAUSTED).
  absl::StatusOr<std::optional<Staged>> Stage(uint64_t bytes, bool wait, absl::Time deadline);
  void Unstage(const Staged& staged);
  // Room for a PutFrom item reserved in the DRAM tier, inside the registered pool and within the
  // reservation budget (reserved bytes in flight <= staging_bytes); nullopt when the item must be
  // staged instead. Its bytes return to the budget when the caller ends the reservation.
  std::optional<TieredStore::Reservation> ReserveInPool(const std::string& ns,
                                                        const v1::PutFromItem& item);
  // Runs one batch; on failure, drops the session when its endpoint failed.
  absl::Status Transfer(uint64_t session_id, std::vector<transfer::TransferOp> ops);
  // One control peer per client control transport (see Caller).
  struct ControlPeer {
    transfer::PeerHandle peer;
    int sessions = 0;
  };
  // The control peer for `address`, connected (or reconnected after a failure) now; nullopt
  // when there is none (messages off, no address, too many control peers, or unreachable).
  std::optional<transfer::PeerHandle> AttachControl(const std::string& address);
  // Undoes one AttachControl for a dropped session; `goodbye` also closes a control peer left
  // without sessions. Takes mu_.
  void DetachControl(const std::string& address, bool goodbye);
  // The sweeper's share of message calls (data_plane_calls.cc): sessions to drop after a failed
  // inline transfer, and control peers whose endpoint failed with no session left.
  void RunSweeperWork() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SweeperHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SweepControls();

  const DataPlaneOptions options_;
  TieredStore* const store_;
  const Authenticator* auth_ = nullptr;  // set before serving
  const DramRegion& pool_;
  std::unique_ptr<transfer::Transport> ucx_;
  std::unique_ptr<transfer::FaultTransport> fault_;
  transfer::Transport* transport_ = nullptr;  // fault_ when set, else ucx_
  transfer::RegionId pool_region_ = 0;
  std::unique_ptr<DramRegion> staging_;
  transfer::RegionId staging_region_ = 0;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Session> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Sessions whose inline transfer failed, for the sweeper to drop.
  std::vector<uint64_t> failed_sessions_ ABSL_GUARDED_BY(mu_);
  // Control peers by the client's control address.
  absl::flat_hash_map<std::string, ControlPeer> controls_ ABSL_GUARDED_BY(mu_);
  // Serializes attaching, detaching and sweeping control peers, across their Connect and
  // Disconnect (so a Goodbye cannot close the endpoint a concurrent Hello just attached). Taken
  // before mu_; never on the transport's thread.
  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  absl::Mutex staging_mu_;
  absl::CondVar staging_freed_;
  PageAllocator staging_pages_ ABSL_GUARDED_BY(staging_mu_);

  std::atomic<uint64_t> get_bytes_{0}, put_bytes_{0}, failed_batches_{0}, dropped_{0};
  std::atomic<uint64_t> reserved_bytes_{0};
  std::thread sweeper_;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_DATA_PLANE_H_
