#include "client/node_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/internal/data_session.h"
#include "client/internal/ranking.h"
#include "client/internal/stubs.h"
#include "common/checksum.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "kernels/codec.h"
#include "proto/convert.h"
#include "proto/strata.grpc.pb.h"

namespace strata {
namespace {

// A block the node sent encoded: decode it and check it against its checksum. DATA_LOSS (for
// that key) when it does not decode or does not match: never hand back wrong bytes.
absl::Status DecodeEncoded(const v1::GetItem& item, std::string* out) {
  BlockLayout layout;
  absl::StatusOr<std::string> decoded = DecodeAnyBlock(item.payload(), &layout);
  if (!decoded.ok()) {
    return absl::DataLossError(absl::StrCat("encoded block: ", decoded.status().message()));
  }
  if (decoded->size() != item.payload_bytes() ||
      BlockChecksum(decoded->data(), decoded->size()) != item.checksum()) {
    return absl::DataLossError("encoded block: checksum mismatch after decoding");
  }
  *out = std::move(*decoded);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(AsAbsl(flag), ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NodeClient>> NodeClient::Connect(const ClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty() ||
      (!options.tls_cert_file.empty() && options.tls_ca_file.empty())) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key: give both, and with --tls-ca (the node's CA)");
  }
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    STRATA_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.tls_ca_file, "--tls-ca"));
    if (!options.tls_cert_file.empty()) {
      STRATA_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(options.tls_cert_file, "--tls-cert"));
      STRATA_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(options.tls_key_file, "--tls-key"));
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // A restarted node is back within seconds: reconnect quickly rather than after gRPC's default
  // backoff (1 s growing to 120 s), so calls recover soon after it answers again.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto stubs = std::make_unique<Stubs>();
  stubs->channel = grpc::CreateCustomChannel(options.address, creds, args);
  stubs->cache = v1::CacheService::NewStub(stubs->channel);
  stubs->admin = v1::AdminService::NewStub(stubs->channel);
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  if (options.connect_fail_fast) {
    for (grpc_connectivity_state state = stubs->channel->GetState(/*try_to_connect=*/true);
         state != GRPC_CHANNEL_READY; state = stubs->channel->GetState(true)) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN ||
          !stubs->channel->WaitForStateChange(state, deadline)) {
        return absl::UnavailableError(absl::StrCat("no strata node answers at ", options.address));
      }
    }
  } else if (!stubs->channel->WaitForConnected(deadline)) {
    return absl::UnavailableError(absl::StrCat("no strata node answers at ", options.address));
  }
  std::unique_ptr<NodeClient> client(new NodeClient(options, std::move(stubs)));
  STRATA_ASSIGN_OR_RETURN(v1::NodeInfoResponse info, client->NodeInfo());
  if (info.max_batch() > 0) client->limits_.max_batch = info.max_batch();
  if (info.max_payload_bytes() > 0) client->limits_.max_payload_bytes = info.max_payload_bytes();
  if (info.max_message_bytes() > 0 && info.max_message_bytes() < client->max_message_bytes_) {
    client->max_message_bytes_ = info.max_message_bytes();
  }
  STRATA_RETURN_IF_ERROR(client->StartDataPlane(info));
  return client;
}

NodeClient::NodeClient(const ClientOptions& options, std::unique_ptr<Stubs> stubs)
    : options_(options), stubs_(std::move(stubs)), max_message_bytes_(options.max_message_bytes) {}

NodeClient::~NodeClient() = default;

absl::Status NodeClient::CheckKeys(std::string_view ns, absl::Span<const std::string> keys) const {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (keys.empty()) return absl::InvalidArgumentError("keys: batch is empty");
  for (size_t i = 0; i < keys.size(); ++i) {
    STRATA_RETURN_IF_ERROR(ValidateKey(keys[i], limits_, absl::StrCat("keys[", i, "]")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<absl::Status>> NodeClient::Put(
    std::string_view ns, absl::Span<const PutBlock> blocks,
    absl::Span<const absl::Span<const float>> scores) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (blocks.empty()) return absl::InvalidArgumentError("items: batch is empty");
  if (!scores.empty() && scores.size() != blocks.size()) {
    return absl::InvalidArgumentError(absl::StrCat("scores: ", scores.size(), " entries for ",
                                                   blocks.size(), " blocks (want one per block)"));
  }
  const auto scores_of = [&](size_t i) {
    return scores.empty() ? absl::Span<const float>() : scores[i];
  };
  std::vector<absl::Status> results;
  results.reserve(blocks.size());
  // Split by batch size and by message size, so one call never exceeds what the node accepts.
  const uint64_t message_budget = max_message_bytes_ - kMessageOverheadBytes;
  size_t i = 0;
  while (i < blocks.size()) {
    v1::PutRequest request;
    request.set_namespace_(ns.data(), ns.size());
    uint64_t bytes = 0;
    while (i < blocks.size() && static_cast<size_t>(request.items_size()) < limits_.max_batch &&
           (request.items_size() == 0 ||
            bytes + blocks[i].payload.size() + 4 * scores_of(i).size() + kItemOverheadBytes <=
                message_budget)) {
      const PutBlock& b = blocks[i];
      v1::PutItem* item = request.add_items();
      item->set_key(b.key.data(), b.key.size());
      item->set_parent(b.parent.data(), b.parent.size());
      LayoutToProto(b.layout, item->mutable_layout());
      item->set_payload(b.payload.data(), b.payload.size());
      const absl::Span<const float> s = scores_of(i);
      if (!s.empty()) item->mutable_scores()->Add(s.begin(), s.end());
      bytes += b.payload.size() + 4 * s.size() + kItemOverheadBytes;
      ++i;
    }
    v1::PutResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    absl::Status st = FromGrpc(stubs_->cache->Put(&ctx, request, &response));
    if (!st.ok()) {
      // Every key of this call failed the same way. Capacity is a per-key outcome the caller
      // handles block by block; anything else (bad request, node unreachable) fails the call.
      if (!absl::IsResourceExhausted(st)) return st;
      for (int k = 0; k < request.items_size(); ++k) results.push_back(st);
      continue;
    }
    for (const v1::KeyResult& r : response.results()) results.push_back(KeyResultToStatus(r));
  }
  return results;
}

absl::StatusOr<std::vector<GetResult>> NodeClient::Get(std::string_view ns,
                                                       absl::Span<const std::string> keys,
                                                       const GetOptions& get_options) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  std::vector<GetResult> results;
  results.reserve(keys.size());
  for (size_t start = 0; start < keys.size(); start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, keys.size() - start);
    v1::GetRequest request;
    request.set_namespace_(ns.data(), ns.size());
    request.set_accept_encoded(options_.accept_encoded);
    request.set_view(get_options.view);
    for (size_t k = start; k < start + n; ++k) request.add_keys(keys[k]);
    v1::GetResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    absl::Status st = FromGrpc(stubs_->cache->Get(&ctx, request, &response));
    if (!st.ok()) {
      if (!absl::IsResourceExhausted(st)) return st;
      for (size_t k = 0; k < n; ++k) results.push_back(GetResult{st, "", {}, "", false});
      continue;
    }
    for (v1::GetItem& item : *response.mutable_items()) {
      GetResult r;
      r.status = KeyResultToStatus(item.result());
      if (r.status.ok()) {
        auto layout = LayoutFromProto(item.layout(), "layout");
        if (layout.ok()) r.layout = *layout;
        r.tier = item.tier();
        r.view = item.view();
        if (item.codec() != 0) {
          r.status = DecodeEncoded(item, &r.payload);
        } else {
          r.payload = std::move(*item.mutable_payload());
        }
      }
      results.push_back(std::move(r));
    }
  }
  return results;
}

// Sends `keys` in batches of at most max_batch through the stub method `rpc` and collects the
// per-key booleans `field` picks from each response; the first failing batch fails the call.
template <typename Request, typename Response, typename Rpc, typename Field>
absl::StatusOr<std::vector<bool>> NodeClient::KeyedFlags(std::string_view ns,
                                                     absl::Span<const std::string> keys, Rpc rpc,
                                                     Field field) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  std::vector<bool> out;
  for (size_t start = 0; start < keys.size(); start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, keys.size() - start);
    Request request;
    request.set_namespace_(ns.data(), ns.size());
    for (size_t k = start; k < start + n; ++k) request.add_keys(keys[k]);
    Response response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    STRATA_RETURN_IF_ERROR(FromGrpc((stubs_->cache.get()->*rpc)(&ctx, request, &response)));
    const auto& flags = field(response);
    out.insert(out.end(), flags.begin(), flags.end());
  }
  return out;
}

absl::StatusOr<std::vector<bool>> NodeClient::Exists(std::string_view ns,
                                                 absl::Span<const std::string> keys) {
  return KeyedFlags<v1::ExistsRequest, v1::ExistsResponse>(
      ns, keys, &v1::CacheService::Stub::Exists,
      [](const v1::ExistsResponse& r) -> const auto& { return r.present(); });
}

absl::StatusOr<std::vector<bool>> NodeClient::Remove(std::string_view ns,
                                                 absl::Span<const std::string> keys) {
  return KeyedFlags<v1::RemoveRequest, v1::RemoveResponse>(
      ns, keys, &v1::CacheService::Stub::Remove,
      [](const v1::RemoveResponse& r) -> const auto& { return r.removed(); });
}

absl::StatusOr<size_t> NodeClient::Lookup(std::string_view ns, absl::Span<const std::string> keys,
                                      uint32_t lease_ms) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  size_t matched = 0;
  // A chain longer than one batch is looked up batch by batch while every key matches.
  for (size_t start = 0; start < keys.size(); start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, keys.size() - start);
    v1::LookupRequest request;
    request.set_namespace_(ns.data(), ns.size());
    request.set_lease_ms(lease_ms);
    for (size_t k = start; k < start + n; ++k) request.add_keys(keys[k]);
    v1::LookupResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->cache->Lookup(&ctx, request, &response)));
    matched += response.matched();
    if (response.matched() < n) break;
  }
  return matched;
}

absl::StatusOr<RankedPrefix> NodeClient::RankBlocks(std::string_view ns,
                                                    absl::Span<const std::string> keys,
                                                    const RankQuery& query) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  RankedPrefix out;
  std::vector<RankCandidate> candidates;  // over every batch
  // As Lookup: batch by batch while every key matches; each batch ranks its own matched keys.
  for (size_t start = 0; start < keys.size(); start += limits_.max_batch) {
    const size_t n = std::min(limits_.max_batch, keys.size() - start);
    v1::LookupRequest request;
    request.set_namespace_(ns.data(), ns.size());
    for (size_t k = start; k < start + n; ++k) request.add_keys(keys[k]);
    v1::RankQuery* rank = request.mutable_rank();
    rank->set_layer(query.layer);
    rank->set_head(query.head);
    rank->mutable_query()->Add(query.query.begin(), query.query.end());
    rank->set_top_n(static_cast<uint32_t>(std::min<size_t>(query.top_n, UINT32_MAX)));
    v1::LookupResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_);
    STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->cache->Lookup(&ctx, request, &response)));
    out.matched += response.matched();
    out.unranked += response.unranked();
    for (int i = 0; i < response.ranked_size() && i < response.ranked_bounds_size(); ++i) {
      candidates.emplace_back(response.ranked_bounds(i), start + response.ranked(i));
    }
    if (response.matched() < n) break;
  }
  TakeTopByBound(std::move(candidates), query.top_n, &out);
  return out;
}

void NodeClient::StartLookup(std::string_view ns, absl::Span<const std::string> keys,
                             uint32_t lease_ms, std::function<void(absl::StatusOr<size_t>)> done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::LookupRequest request;
    v1::LookupResponse response;
    std::function<void(absl::StatusOr<size_t>)> done;
  };
  auto* call = new Call;  // owned by the completion below
  call->done = std::move(done);
  call->request.set_namespace_(ns.data(), ns.size());
  call->request.set_lease_ms(lease_ms);
  for (const std::string& k : keys) call->request.add_keys(k);
  Prepare(&call->ctx, options_);
  stubs_->cache->async()->Lookup(&call->ctx, &call->request, &call->response,
                                 [call](grpc::Status status) {
                                   absl::Status st = FromGrpc(status);
                                   std::unique_ptr<Call> owned(call);
                                   if (st.ok()) {
                                     owned->done(static_cast<size_t>(owned->response.matched()));
                                   } else {
                                     owned->done(st);
                                   }
                                 });
}

absl::StatusOr<v1::NodeInfoResponse> NodeClient::NodeInfo() {
  v1::NodeInfoResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, options_);
  STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->admin->NodeInfo(&ctx, v1::NodeInfoRequest(), &response)));
  return response;
}

absl::StatusOr<v1::StatsResponse> NodeClient::Stats() {
  v1::StatsResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, options_);
  STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->admin->Stats(&ctx, v1::StatsRequest(), &response)));
  return response;
}

absl::StatusOr<v1::EvictResponse> NodeClient::Evict(std::string_view ns) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  v1::EvictRequest request;
  request.set_namespace_(ns.data(), ns.size());
  v1::EvictResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, options_);
  STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->admin->Evict(&ctx, request, &response)));
  return response;
}

absl::StatusOr<v1::ClusterViewResponse> NodeClient::ClusterView() {
  v1::ClusterViewResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, options_);
  STRATA_RETURN_IF_ERROR(
      FromGrpc(stubs_->admin->ClusterView(&ctx, v1::ClusterViewRequest(), &response)));
  return response;
}

absl::StatusOr<v1::InspectResponse> NodeClient::Inspect(std::string_view ns, std::string_view key) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  STRATA_RETURN_IF_ERROR(ValidateKey(key, limits_, "key"));
  v1::InspectRequest request;
  request.set_namespace_(ns.data(), ns.size());
  request.set_key(key.data(), key.size());
  v1::InspectResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, options_);
  STRATA_RETURN_IF_ERROR(FromGrpc(stubs_->admin->Inspect(&ctx, request, &response)));
  return response;
}

absl::Status NodeClient::Drain(bool exit_when_done, uint32_t timeout_ms,
                               const std::function<void(const v1::DrainProgress&)>& progress) {
  v1::DrainRequest request;
  request.set_exit_when_done(exit_when_done);
  grpc::ClientContext ctx;
  if (timeout_ms > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
  if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
  std::unique_ptr<grpc::ClientReader<v1::DrainProgress>> reader =
      stubs_->admin->Drain(&ctx, request);
  v1::DrainProgress message;
  while (reader->Read(&message)) {
    progress(message);
    if (message.done()) break;
  }
  if (message.done()) {
    ctx.TryCancel();  // the node may close the stream as it exits; the answer is in already
    (void)reader->Finish();  // swallowed on purpose: the last message said done
    return absl::OkStatus();
  }
  return FromGrpc(reader->Finish());
}

}  // namespace strata
