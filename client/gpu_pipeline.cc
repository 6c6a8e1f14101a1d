// The staging pipeline (internal/gpu_pipeline.h).
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/internal/gpu_pipeline.h"
#include "common/status_macros.h"

namespace strata::gpu {

std::vector<StagingChunk> PlanChunks(absl::Span<const uint64_t> sizes, uint64_t chunk_bytes) {
  std::vector<StagingChunk> chunks;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (chunks.empty() || chunks.back().bytes + sizes[i] > chunk_bytes) {
      chunks.push_back(StagingChunk{i, 0, {}, 0});
    }
    StagingChunk& c = chunks.back();
    c.local.push_back(c.bytes);
    c.bytes += sizes[i];
    ++c.count;
  }
  return chunks;
}

namespace {

// Waits for every copy issued so far; used on the way out of an error so no copy still touches a
// slot. Its own error is dropped on purpose: the caller already returns the first one.
void Drain(CopyStream& stream) { (void)stream.Synchronize(); }

}  // namespace

absl::StatusOr<std::vector<absl::Status>> PipelinePut(CopyStream& stream, const Slots& slots,
                                                      const char* device,
                                                      absl::Span<const uint64_t> offsets,
                                                      absl::Span<const uint64_t> sizes,
                                                      const std::vector<StagingChunk>& chunks,
                                                      const SendChunk& send) {
  std::array<std::unique_ptr<CopyEvent>, 2> staged;
  auto issue = [&](size_t c) -> absl::Status {
    const StagingChunk& chunk = chunks[c];
    char* slot = slots[c % 2];
    for (size_t j = 0; j < chunk.count; ++j) {
      const size_t i = chunk.first + j;
      STRATA_RETURN_IF_ERROR(stream.CopyToHost(slot + chunk.local[j], device + offsets[i], sizes[i]));
    }
    STRATA_ASSIGN_OR_RETURN(staged[c % 2], stream.Record());
    return absl::OkStatus();
  };
  std::vector<absl::Status> results;
  results.reserve(sizes.size());
  absl::Status st = chunks.empty() ? absl::OkStatus() : issue(0);
  for (size_t c = 0; st.ok() && c < chunks.size(); ++c) {
    // The other slot's last send has returned: stage the next chunk while this one is sent.
    if (c + 1 < chunks.size()) st = issue(c + 1);
    if (st.ok()) st = staged[c % 2]->Wait();
    if (!st.ok()) break;
    absl::StatusOr<std::vector<absl::Status>> sent = send(static_cast<int>(c % 2), chunks[c]);
    if (!sent.ok()) {
      st = sent.status();
      break;
    }
    if (sent->size() != chunks[c].count) {
      st = absl::InternalError("staged put: a chunk's send answered a different number of items");
      break;
    }
    for (absl::Status& r : *sent) results.push_back(std::move(r));
  }
  if (!st.ok()) {
    Drain(stream);
    return st;
  }
  return results;
}

absl::StatusOr<std::vector<GetIntoResult>> PipelineGet(CopyStream& stream, const Slots& slots,
                                                       char* device,
                                                       absl::Span<const uint64_t> offsets,
                                                       const std::vector<StagingChunk>& chunks,
                                                       const ReceiveChunk& receive) {
  std::array<std::unique_ptr<CopyEvent>, 2> unstaged;
  std::vector<GetIntoResult> results;
  absl::Status st;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const StagingChunk& chunk = chunks[c];
    // The copy out of this slot (chunk c-2) must be done before the node writes into it; the
    // copy of chunk c-1, from the other slot, keeps running while chunk c arrives.
    if (unstaged[c % 2]) {
      st = unstaged[c % 2]->Wait();
      if (!st.ok()) break;
    }
    absl::StatusOr<std::vector<GetIntoResult>> got = receive(static_cast<int>(c % 2), chunk);
    if (!got.ok()) {
      st = got.status();
      break;
    }
    if (got->size() != chunk.count) {
      st = absl::InternalError("staged get: a chunk's receive answered a different number of items");
      break;
    }
    for (size_t j = 0; j < chunk.count && st.ok(); ++j) {
      const GetIntoResult& r = (*got)[j];
      if (!r.found()) continue;
      st = stream.CopyToDevice(device + offsets[chunk.first + j], slots[c % 2] + chunk.local[j],
                               r.size);
    }
    if (!st.ok()) break;
    absl::StatusOr<std::unique_ptr<CopyEvent>> event = stream.Record();
    if (!event.ok()) {
      st = event.status();
      break;
    }
    unstaged[c % 2] = *std::move(event);
    for (GetIntoResult& r : *got) results.push_back(std::move(r));
  }
  if (!st.ok()) {
    Drain(stream);
    return st;
  }
  // The bytes are in device memory when the call returns.
  STRATA_RETURN_IF_ERROR(stream.Synchronize());
  return results;
}

}  // namespace strata::gpu
