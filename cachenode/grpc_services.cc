#include "cachenode/grpc_services.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace strata {
namespace {

// A retry hint on the status (quotas.h) goes out as trailing metadata too, where clients read it
// without parsing the message.
void AddRetryHint(const absl::Status& status, grpc::CallbackServerContext* ctx) {
  if (std::optional<uint64_t> ms = RetryAfterMs(status); ms.has_value()) {
    ctx->AddTrailingMetadata(kRetryAfterPayload, absl::StrCat(*ms));
  }
}

// Runs one call through authentication and the core's admission (graceful shutdown refuses new
// calls) and finishes it with the core's status.
template <typename Fn>
grpc::ServerUnaryReactor* Serve(NodeCore* core, const Authenticator* auth,
                                grpc::CallbackServerContext* ctx, Fn&& call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Access> access = AuthenticateCall(auth, ctx);
  if (!access.ok()) {
    reactor->Finish(ToGrpcStatus(access.status()));
    return reactor;
  }
  if (!core->BeginCall()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
    return reactor;
  }
  const absl::Status status = call(*access);
  core->EndCall();
  AddRetryHint(status, ctx);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A unary reactor that keeps the call's in-flight bytes reserved until gRPC is done with the
// request and response messages (OnDone), not merely until the handler returns.
class BudgetedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit BudgetedReactor(InflightBudget* budget) : held(budget) {}
  void OnDone() override { delete this; }
  void OnCancel() override {}

  InflightBudget::Reservation held;
};

// Authenticates the call (before its body is parsed: an unknown caller costs no parse), parses
// the request bytes as `Request`, runs `call(request, &response, &reserved, access)` through the
// core's admission, and serializes the response. Bytes reserved against the in-flight budget
// stay reserved until gRPC is done with the call.
template <typename Request, typename Response, typename Fn>
grpc::ServerUnaryReactor* ServeRaw(NodeCore* core, const Authenticator* auth,
                                   grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out, Fn&& call) {
  auto* reactor = new BudgetedReactor(&core->inflight_budget());
  absl::StatusOr<Access> access = AuthenticateCall(auth, ctx);
  if (!access.ok()) {
    reactor->Finish(ToGrpcStatus(access.status()));
    return reactor;
  }
  Request request;
  grpc::ByteBuffer bytes = in != nullptr ? *in : grpc::ByteBuffer();  // shares the slices
  if (!grpc::SerializationTraits<Request>::Deserialize(&bytes, &request).ok()) {
    core->CountRejected();
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("request body is not a valid ",
                                  Request::descriptor()->full_name(), " (protobuf parse failed)")));
    return reactor;
  }
  if (!core->BeginCall()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
    return reactor;
  }
  Response response;
  const absl::Status status = call(request, &response, &reactor->held, *access);
  core->EndCall();
  if (!status.ok()) {
    AddRetryHint(status, ctx);
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  bool own_buffer = false;
  grpc::Status serialized =
      grpc::SerializationTraits<Response>::Serialize(response, out, &own_buffer);
  reactor->Finish(serialized);
  return reactor;
}

using Held = InflightBudget::Reservation;

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::StatusOr<Access> AuthenticateCall(const Authenticator* auth,
                                        const grpc::CallbackServerContext* ctx) {
  if (auth == nullptr) return Access::Unrestricted();
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return auth->Authenticate(std::nullopt);
  return auth->Authenticate(std::string_view(it->second.data(), it->second.size()));
}

grpc::ServerUnaryReactor* CacheServiceImpl::Put(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) {
  return ServeRaw<v1::PutRequest, v1::PutResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::PutRequest& req, v1::PutResponse* resp, Held* held, const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        return core_->Put(req, resp, held);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Get(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) {
  return ServeRaw<v1::GetRequest, v1::GetResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::GetRequest& req, v1::GetResponse* resp, Held* held, const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        return core_->Get(req, resp, held);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Exists(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return ServeRaw<v1::ExistsRequest, v1::ExistsResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::ExistsRequest& req, v1::ExistsResponse* resp, Held*, const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        return core_->Exists(req, resp);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Remove(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return ServeRaw<v1::RemoveRequest, v1::RemoveResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::RemoveRequest& req, v1::RemoveResponse* resp, Held*, const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        return core_->Remove(req, resp);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Lookup(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return ServeRaw<v1::LookupRequest, v1::LookupResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::LookupRequest& req, v1::LookupResponse* resp, Held*, const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        return core_->Lookup(req, resp);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Hello(grpc::CallbackServerContext* ctx,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  return ServeRaw<v1::HelloRequest, v1::HelloResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::HelloRequest& req, v1::HelloResponse* resp, Held*, const Access& access) {
        return core_->Hello(req, resp, access);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::RegisterRegion(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return ServeRaw<v1::RegisterRegionRequest, v1::RegisterRegionResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::RegisterRegionRequest& req, v1::RegisterRegionResponse* resp, Held*,
             const Access& access) {
        STRATA_RETURN_IF_ERROR(core_->CheckSessionOwner(req.session_id(), access));
        return core_->RegisterRegion(req, resp);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::DeregisterRegion(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return ServeRaw<v1::DeregisterRegionRequest, v1::DeregisterRegionResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::DeregisterRegionRequest& req, v1::DeregisterRegionResponse* /*resp*/, Held*,
             const Access& access) {
        STRATA_RETURN_IF_ERROR(core_->CheckSessionOwner(req.session_id(), access));
        return core_->DeregisterRegion(req);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::Goodbye(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return ServeRaw<v1::GoodbyeRequest, v1::GoodbyeResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::GoodbyeRequest& req, v1::GoodbyeResponse* /*resp*/, Held*,
             const Access& access) {
        STRATA_RETURN_IF_ERROR(core_->CheckSessionOwner(req.session_id(), access));
        return core_->Goodbye(req);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::GetInto(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return ServeRaw<v1::GetIntoRequest, v1::GetIntoResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::GetIntoRequest& req, v1::GetIntoResponse* resp, Held*,
             const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->CheckSessionOwner(req.session_id(), access));
        return core_->GetInto(req, resp);
      });
}

grpc::ServerUnaryReactor* CacheServiceImpl::PutFrom(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  return ServeRaw<v1::PutFromRequest, v1::PutFromResponse>(
      core_, auth_, ctx, request, response,
      [this](const v1::PutFromRequest& req, v1::PutFromResponse* resp, Held*,
             const Access& access) {
        STRATA_RETURN_IF_ERROR(access.CheckNamespace(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->AdmitRate(req.namespace_()));
        STRATA_RETURN_IF_ERROR(core_->CheckSessionOwner(req.session_id(), access));
        return core_->PutFrom(req, resp);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::NodeInfo(grpc::CallbackServerContext* ctx,
                                                     const v1::NodeInfoRequest* /*request*/,
                                                     v1::NodeInfoResponse* response) {
  return Serve(core_, auth_, ctx, [&](const Access&) { return core_->NodeInfo(response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Stats(grpc::CallbackServerContext* ctx,
                                                  const v1::StatsRequest* /*request*/,
                                                  v1::StatsResponse* response) {
  return Serve(core_, auth_, ctx, [&](const Access& access) {
    STRATA_RETURN_IF_ERROR(access.CheckAdmin("Stats"));
    return core_->Stats(response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Evict(grpc::CallbackServerContext* ctx,
                                                  const v1::EvictRequest* request,
                                                  v1::EvictResponse* response) {
  return Serve(core_, auth_, ctx, [&](const Access& access) {
    STRATA_RETURN_IF_ERROR(access.CheckAdminOrNamespace("Evict", request->namespace_()));
    return core_->Evict(*request, response);
  });
}

}  // namespace strata

namespace strata {

grpc::ServerUnaryReactor* AdminServiceImpl::Inspect(grpc::CallbackServerContext* ctx,
                                                    const v1::InspectRequest* request,
                                                    v1::InspectResponse* response) {
  return Serve(core_, auth_, ctx, [&](const Access& access) {
    STRATA_RETURN_IF_ERROR(access.CheckAdminOrNamespace("Inspect", request->namespace_()));
    return core_->Inspect(*request, response);
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ClusterView(grpc::CallbackServerContext* ctx,
                                                        const v1::ClusterViewRequest* /*request*/,
                                                        v1::ClusterViewResponse* response) {
  return Serve(core_, auth_, ctx, [&](const Access&) {
    ClusterControl* cluster = this->cluster();
    *response = cluster != nullptr ? cluster->View() : core_->SelfView();
    return absl::OkStatus();
  });
}

namespace {

// Streams a drain's progress: the drain's thread offers each report; one write is in flight at a
// time and only the newest report waits (a slow reader skips intermediate ones, never the last).
// Owns itself: deleted in OnDone, after it has stopped watching the drain.
class DrainReactor final : public grpc::ServerWriteReactor<v1::DrainProgress> {
 public:
  DrainReactor(ClusterControl* cluster, bool exit_when_done) : cluster_(cluster) {
    absl::StatusOr<uint64_t> watch = cluster_->WatchDrain(
        exit_when_done, [this](const v1::DrainProgress& p) { Offer(p); });
    absl::MutexLock lock(&mu_);
    if (!watch.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(watch.status()));
      return;
    }
    watch_id_ = *watch;
    watching_ = true;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {  // the client went away; the drain goes on without it
      FinishLocked(grpc::Status::OK);
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!writing_) FinishLocked(grpc::Status::OK);
  }

  void OnDone() override {
    StopWatching();
    delete this;
  }

 private:
  void Offer(const v1::DrainProgress& p) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    pending_ = p;
    has_pending_ = true;
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (has_pending_) {
      current_ = pending_;
      has_pending_ = false;
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (current_.done()) FinishLocked(grpc::Status::OK);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  void StopWatching() {
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!watching_) return;
      watching_ = false;
      id = watch_id_;
    }
    cluster_->StopWatching(id);  // outside mu_: a running watcher call may be waiting for it
  }

  ClusterControl* const cluster_;
  absl::Mutex mu_;
  uint64_t watch_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool watching_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  v1::DrainProgress pending_ ABSL_GUARDED_BY(mu_);
  v1::DrainProgress current_ ABSL_GUARDED_BY(mu_);  // the message being written
};

// Answers a streaming call with an error and no messages.
class FailedWriteReactor final : public grpc::ServerWriteReactor<v1::DrainProgress> {
 public:
  explicit FailedWriteReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::DrainProgress>* AdminServiceImpl::Drain(
    grpc::CallbackServerContext* ctx, const v1::DrainRequest* request) {
  absl::StatusOr<Access> access = AuthenticateCall(auth_, ctx);
  absl::Status allowed = access.ok() ? access->CheckAdmin("Drain") : access.status();
  if (!allowed.ok()) return new FailedWriteReactor(ToGrpcStatus(allowed));
  ClusterControl* cluster = this->cluster();
  if (cluster == nullptr) {
    return new FailedWriteReactor(grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        "drain: this node is not in a cluster (start it with --etcd and --cluster)"));
  }
  return new DrainReactor(cluster, request->exit_when_done());
}

}  // namespace strata
