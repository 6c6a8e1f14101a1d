#include "cachenode/grpc_services.h"

#include "cachenode/cluster_agent.h"

namespace strata {
namespace {

// Runs one call through the core's admission (graceful shutdown refuses new calls) and finishes
// it with the core's status.
template <typename Fn>
grpc::ServerUnaryReactor* Serve(NodeCore* core, grpc::CallbackServerContext* ctx, Fn&& call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!core->BeginCall()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
    return reactor;
  }
  const absl::Status status = call();
  core->EndCall();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Put(grpc::CallbackServerContext* ctx,
                                                const v1::PutRequest* request,
                                                v1::PutResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Put(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Get(grpc::CallbackServerContext* ctx,
                                                const v1::GetRequest* request,
                                                v1::GetResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Get(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Exists(grpc::CallbackServerContext* ctx,
                                                   const v1::ExistsRequest* request,
                                                   v1::ExistsResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Exists(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Remove(grpc::CallbackServerContext* ctx,
                                                   const v1::RemoveRequest* request,
                                                   v1::RemoveResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Remove(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Lookup(grpc::CallbackServerContext* ctx,
                                                   const v1::LookupRequest* request,
                                                   v1::LookupResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Lookup(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Hello(grpc::CallbackServerContext* ctx,
                                                  const v1::HelloRequest* request,
                                                  v1::HelloResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Hello(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::RegisterRegion(grpc::CallbackServerContext* ctx,
                                                           const v1::RegisterRegionRequest* request,
                                                           v1::RegisterRegionResponse* response) {
  return Serve(core_, ctx, [&] { return core_->RegisterRegion(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::DeregisterRegion(
    grpc::CallbackServerContext* ctx, const v1::DeregisterRegionRequest* request,
    v1::DeregisterRegionResponse* /*response*/) {
  return Serve(core_, ctx, [&] { return core_->DeregisterRegion(*request); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Goodbye(grpc::CallbackServerContext* ctx,
                                                    const v1::GoodbyeRequest* request,
                                                    v1::GoodbyeResponse* /*response*/) {
  return Serve(core_, ctx, [&] { return core_->Goodbye(*request); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::GetInto(grpc::CallbackServerContext* ctx,
                                                    const v1::GetIntoRequest* request,
                                                    v1::GetIntoResponse* response) {
  return Serve(core_, ctx, [&] { return core_->GetInto(*request, response); });
}

grpc::ServerUnaryReactor* CacheServiceImpl::PutFrom(grpc::CallbackServerContext* ctx,
                                                    const v1::PutFromRequest* request,
                                                    v1::PutFromResponse* response) {
  return Serve(core_, ctx, [&] { return core_->PutFrom(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::NodeInfo(grpc::CallbackServerContext* ctx,
                                                     const v1::NodeInfoRequest* /*request*/,
                                                     v1::NodeInfoResponse* response) {
  return Serve(core_, ctx, [&] { return core_->NodeInfo(response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Stats(grpc::CallbackServerContext* ctx,
                                                  const v1::StatsRequest* /*request*/,
                                                  v1::StatsResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Stats(response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Evict(grpc::CallbackServerContext* ctx,
                                                  const v1::EvictRequest* request,
                                                  v1::EvictResponse* response) {
  return Serve(core_, ctx, [&] { return core_->Evict(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ClusterView(grpc::CallbackServerContext* ctx,
                                                        const v1::ClusterViewRequest* /*request*/,
                                                        v1::ClusterViewResponse* response) {
  return Serve(core_, ctx, [&] {
    if (!cluster_view_) return absl::UnimplementedError("this node serves no cluster view");
    ToClusterViewResponse(*cluster_view_(), response);
    return absl::OkStatus();
  });
}

}  // namespace strata
