#include "cachenode/grpc_services.h"

namespace strata {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
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
  return Finish(ctx, core_->Put(*request, response));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Get(grpc::CallbackServerContext* ctx,
                                                const v1::GetRequest* request,
                                                v1::GetResponse* response) {
  return Finish(ctx, core_->Get(*request, response));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Exists(grpc::CallbackServerContext* ctx,
                                                   const v1::ExistsRequest* request,
                                                   v1::ExistsResponse* response) {
  return Finish(ctx, core_->Exists(*request, response));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Remove(grpc::CallbackServerContext* ctx,
                                                   const v1::RemoveRequest* request,
                                                   v1::RemoveResponse* response) {
  return Finish(ctx, core_->Remove(*request, response));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Lookup(grpc::CallbackServerContext* ctx,
                                                   const v1::LookupRequest* request,
                                                   v1::LookupResponse* response) {
  return Finish(ctx, core_->Lookup(*request, response));
}

grpc::ServerUnaryReactor* AdminServiceImpl::NodeInfo(grpc::CallbackServerContext* ctx,
                                                     const v1::NodeInfoRequest* /*request*/,
                                                     v1::NodeInfoResponse* response) {
  return Finish(ctx, core_->NodeInfo(response));
}

grpc::ServerUnaryReactor* AdminServiceImpl::Stats(grpc::CallbackServerContext* ctx,
                                                  const v1::StatsRequest* /*request*/,
                                                  v1::StatsResponse* response) {
  return Finish(ctx, core_->Stats(response));
}

grpc::ServerUnaryReactor* AdminServiceImpl::Evict(grpc::CallbackServerContext* ctx,
                                                  const v1::EvictRequest* request,
                                                  v1::EvictResponse* response) {
  return Finish(ctx, core_->Evict(*request, response));
}

}  // namespace strata
