// gRPC adapters over NodeCore (callback API). absl::Status becomes grpc::Status here and only
// here. Thread-safe (NodeCore is).
#ifndef STRATA_CACHENODE_GRPC_SERVICES_H_
#define STRATA_CACHENODE_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "cachenode/auth.h"
#include "cachenode/cluster_control.h"
#include "cachenode/node_core.h"
#include "proto/strata.grpc.pb.h"

namespace strata {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Who is calling (auth.h): Access::Unrestricted() when `auth` is null (auth off), else the
// grants of the token in the call's "authorization" metadata, or UNAUTHENTICATED.
absl::StatusOr<Access> AuthenticateCall(const Authenticator* auth,
                                        const grpc::CallbackServerContext* ctx);

// Every CacheService method is registered raw (request and response as bytes) and parsed
// here: gRPC's typed callback handlers answer a body that does not parse UNIMPLEMENTED with no
// message, as if the method did not exist; these answer INVALID_ARGUMENT naming the message type.
using RawCacheService = v1::CacheService::WithRawCallbackMethod_Put<
    v1::CacheService::WithRawCallbackMethod_Get<v1::CacheService::WithRawCallbackMethod_Exists<
        v1::CacheService::WithRawCallbackMethod_Remove<
            v1::CacheService::WithRawCallbackMethod_Lookup<
                v1::CacheService::WithRawCallbackMethod_Hello<
                    v1::CacheService::WithRawCallbackMethod_RegisterRegion<
                        v1::CacheService::WithRawCallbackMethod_DeregisterRegion<
                            v1::CacheService::WithRawCallbackMethod_Goodbye<
                                v1::CacheService::WithRawCallbackMethod_GetInto<
                                    v1::CacheService::WithRawCallbackMethod_PutFrom<
                                        v1::CacheService::Service>>>>>>>>>>>;

// With an Authenticator, every call is authenticated before its body is parsed
// (UNAUTHENTICATED) and then checked against its token's namespaces (PERMISSION_DENIED): the
// request's namespace for Put, Get, Exists, Remove, Lookup, GetInto and PutFrom; and the calls
// that name a data-plane session (RegisterRegion, DeregisterRegion, Goodbye, GetInto, PutFrom)
// must come with the token the session was opened with. Hello records its token in the session,
// which then carries its grants to the UCX message calls (message_calls.h).
class CacheServiceImpl final : public RawCacheService {
 public:
  // `auth` null: auth off. Both outlive the service.
  explicit CacheServiceImpl(NodeCore* core, const Authenticator* auth = nullptr)
      : core_(core), auth_(auth) {}

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Remove(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RegisterRegion(grpc::CallbackServerContext* ctx,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeregisterRegion(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Goodbye(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetInto(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PutFrom(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;

 private:
  NodeCore* const core_;
  const Authenticator* const auth_;
};

// With an Authenticator: NodeInfo and ClusterView need any valid token (every client reads
// them on Connect); Stats and Drain need an admin token; Evict and Inspect an admin token or one
// granted the namespace (a tenant may evict and inspect its own blocks).
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // `cluster` points at the node's cluster control, which stays null outside a cluster and is
  // set once the node has joined one (after the server is up); both outlive the service.
  explicit AdminServiceImpl(NodeCore* core,
                            const std::atomic<ClusterControl*>* cluster = nullptr,
                            const Authenticator* auth = nullptr)
      : core_(core), cluster_(cluster), auth_(auth) {}

  grpc::ServerUnaryReactor* NodeInfo(grpc::CallbackServerContext* ctx,
                                     const v1::NodeInfoRequest* request,
                                     v1::NodeInfoResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* ctx, const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerUnaryReactor* Evict(grpc::CallbackServerContext* ctx, const v1::EvictRequest* request,
                                  v1::EvictResponse* response) override;
  grpc::ServerUnaryReactor* Inspect(grpc::CallbackServerContext* ctx,
                                    const v1::InspectRequest* request,
                                    v1::InspectResponse* response) override;
  grpc::ServerUnaryReactor* ClusterView(grpc::CallbackServerContext* ctx,
                                        const v1::ClusterViewRequest* request,
                                        v1::ClusterViewResponse* response) override;
  grpc::ServerWriteReactor<v1::DrainProgress>* Drain(grpc::CallbackServerContext* ctx,
                                                     const v1::DrainRequest* request) override;

 private:
  ClusterControl* cluster() const { return cluster_ ? cluster_->load() : nullptr; }

  NodeCore* const core_;
  const std::atomic<ClusterControl*>* const cluster_;
  const Authenticator* const auth_;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_GRPC_SERVICES_H_
