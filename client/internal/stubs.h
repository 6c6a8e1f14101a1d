// The client's gRPC plumbing, shared by client.cc and data_client.cc. Internal.
#ifndef STRATA_CLIENT_INTERNAL_STUBS_H_
#define STRATA_CLIENT_INTERNAL_STUBS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "client/node_client.h"
#include "proto/strata.grpc.pb.h"

namespace strata {

struct NodeClient::Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::CacheService::Stub> cache;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

// The one place grpc::Status becomes absl::Status on the client side.
inline absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Deadline and credentials of every call.
inline void Prepare(grpc::ClientContext* ctx, const ClientOptions& options) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(options.deadline_ms));
  if (!options.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options.token);
}

}  // namespace strata

#endif  // STRATA_CLIENT_INTERNAL_STUBS_H_
