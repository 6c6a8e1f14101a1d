// gRPC adapters over NodeCore (callback API). absl::Status becomes grpc::Status here and only
// here. Thread-safe (NodeCore is).
#ifndef STRATA_CACHENODE_GRPC_SERVICES_H_
#define STRATA_CACHENODE_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>

#include "cachenode/node_core.h"
#include "cluster/node_record.h"
#include "proto/strata.grpc.pb.h"

namespace strata {

grpc::Status ToGrpcStatus(const absl::Status& status);

class CacheServiceImpl final : public v1::CacheService::CallbackService {
 public:
  explicit CacheServiceImpl(NodeCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* request,
                                v1::PutResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* request,
                                v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* ctx,
                                   const v1::ExistsRequest* request,
                                   v1::ExistsResponse* response) override;
  grpc::ServerUnaryReactor* Remove(grpc::CallbackServerContext* ctx,
                                   const v1::RemoveRequest* request,
                                   v1::RemoveResponse* response) override;
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* ctx,
                                   const v1::LookupRequest* request,
                                   v1::LookupResponse* response) override;
  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const v1::HelloRequest* request,
                                  v1::HelloResponse* response) override;
  grpc::ServerUnaryReactor* RegisterRegion(grpc::CallbackServerContext* ctx,
                                           const v1::RegisterRegionRequest* request,
                                           v1::RegisterRegionResponse* response) override;
  grpc::ServerUnaryReactor* DeregisterRegion(grpc::CallbackServerContext* ctx,
                                             const v1::DeregisterRegionRequest* request,
                                             v1::DeregisterRegionResponse* response) override;
  grpc::ServerUnaryReactor* Goodbye(grpc::CallbackServerContext* ctx,
                                    const v1::GoodbyeRequest* request,
                                    v1::GoodbyeResponse* response) override;
  grpc::ServerUnaryReactor* GetInto(grpc::CallbackServerContext* ctx,
                                    const v1::GetIntoRequest* request,
                                    v1::GetIntoResponse* response) override;
  grpc::ServerUnaryReactor* PutFrom(grpc::CallbackServerContext* ctx,
                                    const v1::PutFromRequest* request,
                                    v1::PutFromResponse* response) override;

 private:
  NodeCore* const core_;
};

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // The view ClusterView answers with: the cluster agent's (cachenode/cluster_agent.h), or the
  // node alone (SelfView) outside a cluster. Empty: ClusterView answers UNIMPLEMENTED.
  using ClusterViewSource = std::function<std::shared_ptr<const cluster::ClusterView>()>;

  explicit AdminServiceImpl(NodeCore* core, ClusterViewSource cluster_view = {})
      : core_(core), cluster_view_(std::move(cluster_view)) {}

  grpc::ServerUnaryReactor* NodeInfo(grpc::CallbackServerContext* ctx,
                                     const v1::NodeInfoRequest* request,
                                     v1::NodeInfoResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* ctx, const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerUnaryReactor* Evict(grpc::CallbackServerContext* ctx, const v1::EvictRequest* request,
                                  v1::EvictResponse* response) override;
  grpc::ServerUnaryReactor* ClusterView(grpc::CallbackServerContext* ctx,
                                        const v1::ClusterViewRequest* request,
                                        v1::ClusterViewResponse* response) override;

 private:
  NodeCore* const core_;
  const ClusterViewSource cluster_view_;
};

}  // namespace strata

#endif  // STRATA_CACHENODE_GRPC_SERVICES_H_
