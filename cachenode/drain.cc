#include "cachenode/drain.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "proto/convert.h"

namespace strata {
namespace {

struct PendingBlock {
  TieredStore::BlockSummary summary;
  BlockLayout layout;
  std::string payload;
  bool moved = false;
};

// The view without `self_id`, so placement never picks the leaving node.
cluster::ClusterView WithoutSelf(const cluster::ClusterView& view, std::string_view self_id) {
  cluster::ClusterView out = view;
  out.nodes.clear();
  for (const cluster::NodeRecord& n : view.nodes) {
    if (n.id != self_id) out.nodes.push_back(n);
  }
  return out;
}

// Sends one chunk: groups by (owner, namespace), one Put per group; marks blocks moved.
void SendChunk(std::vector<PendingBlock>& chunk, const cluster::ClusterView& view,
               const DrainOptions& options, BlockSink& sink, DrainCounts* counts) {
  // (owner index in view.nodes, namespace) -> indexes into chunk.
  std::map<std::pair<size_t, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const PendingBlock& b = chunk[i];
    const int r = options.placement.ReplicasFor(b.summary.ns);
    for (const cluster::NodeRecord* owner : cluster::Owners(view, b.summary.ns, b.summary.key, r)) {
      groups[{static_cast<size_t>(owner - view.nodes.data()), b.summary.ns}].push_back(i);
    }
  }
  for (const auto& [group, members] : groups) {
    v1::PutRequest request;
    request.set_namespace_(group.second);
    for (size_t i : members) {
      v1::PutItem* item = request.add_items();
      item->set_key(chunk[i].summary.key);
      item->set_parent(chunk[i].summary.parent);
      LayoutToProto(chunk[i].layout, item->mutable_layout());
      item->set_payload(chunk[i].payload);
    }
    auto results = sink.Put(view.nodes[group.first], request);
    if (!results.ok() || results->size() != members.size()) continue;  // counted failed below
    for (size_t j = 0; j < members.size(); ++j) {
      if ((*results)[j].ok()) chunk[members[j]].moved = true;
    }
  }
  for (const PendingBlock& b : chunk) {
    if (b.moved) {
      ++counts->blocks_moved;
      counts->bytes_moved += b.payload.size();
    } else {
      ++counts->blocks_failed;
    }
  }
  chunk.clear();
}

}  // namespace

v1::CacheService::Stub* GrpcBlockSink::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(std::min<uint64_t>(max_message_bytes_, INT32_MAX)));
    args.SetMaxReceiveMessageSize(16 << 20);
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (!peer_.tls_ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = peer_.tls_ca_pem;
      creds = grpc::SslCredentials(ssl);
    }
    stub = v1::CacheService::NewStub(grpc::CreateCustomChannel(address, creds, args));
  }
  return stub.get();
}

absl::StatusOr<std::vector<absl::Status>> GrpcBlockSink::Put(const cluster::NodeRecord& owner,
                                                             const v1::PutRequest& request) {
  v1::CacheService::Stub* stub = StubFor(owner.address);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(call_timeout_ms_));
  if (!peer_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + peer_.token);
  v1::PutResponse response;
  const grpc::Status s = stub->Put(&ctx, request, &response);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("drain: put to ", owner.id, ": ", s.error_message()));
  }
  std::vector<absl::Status> out;
  out.reserve(response.results_size());
  for (const v1::KeyResult& r : response.results()) out.push_back(KeyResultToStatus(r));
  return out;
}

DrainCounts DrainBlocks(TieredStore& store, const cluster::ClusterView& view,
                        std::string_view self_id, const DrainOptions& options, BlockSink& sink,
                        const std::function<void(const DrainCounts&)>& progress,
                        const std::function<bool()>& cancelled) {
  const cluster::ClusterView others = WithoutSelf(view, self_id);
  DrainCounts counts;
  absl::flat_hash_set<BlockId> seen;
  for (int pass = 0; pass < std::max(options.passes, 1); ++pass) {
    std::vector<TieredStore::BlockSummary> blocks = store.ListBlocks();
    std::vector<TieredStore::BlockSummary> fresh;
    for (TieredStore::BlockSummary& b : blocks) {
      if (seen.insert(b.block).second) fresh.push_back(std::move(b));
    }
    if (fresh.empty()) break;
    counts.blocks_total += fresh.size();
    std::vector<PendingBlock> chunk;
    uint64_t chunk_bytes = 0;
    for (TieredStore::BlockSummary& summary : fresh) {
      if (cancelled && cancelled()) {
        counts.blocks_total -= fresh.size() - (&summary - fresh.data());
        break;
      }
      PendingBlock pending{std::move(summary), {}, {}, false};
      const absl::Status got = store.Get(
          pending.summary.ns, pending.summary.key, [&](const BlockView& view) {
            pending.layout = view.record.layout;
            pending.payload.assign(view.payload.data(), view.payload.size());
          });
      if (!got.ok()) {  // removed meanwhile, or failed its checksum: nothing to hand over
        --counts.blocks_total;
        continue;
      }
      // Send what is held before this block would take the chunk past its bound.
      if (!chunk.empty() && (chunk_bytes + pending.payload.size() > options.chunk_bytes ||
                             chunk.size() >= options.chunk_blocks)) {
        SendChunk(chunk, others, options, sink, &counts);
        chunk_bytes = 0;
        if (progress) progress(counts);
      }
      chunk_bytes += pending.payload.size();
      chunk.push_back(std::move(pending));
    }
    if (!chunk.empty()) SendChunk(chunk, others, options, sink, &counts);
    if (progress) progress(counts);
    if (cancelled && cancelled()) break;
  }
  return counts;
}

}  // namespace strata
