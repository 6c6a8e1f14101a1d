// GpuClient (gpu_client.h): staged and direct moves of device buffers.
#include "client/gpu_client.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "client/internal/gpu_pipeline.h"
#include "common/checksum.h"
#include "common/status_macros.h"

namespace strata {

using gpu::PlanChunks;
using gpu::StagingChunk;

absl::StatusOr<std::unique_ptr<GpuClient>> GpuClient::Create(Client* client,
                                                             gpu::DeviceCopier* copier,
                                                             const GpuClientOptions& options) {
  if (client == nullptr || copier == nullptr) {
    return absl::InvalidArgumentError("GpuClient: null client or copier");
  }
  using Registration = GpuClientOptions::Registration;
  bool direct = false;
  switch (options.registration) {
    case Registration::kAuto:
      direct = client->data_plane_cuda_memory();
      break;
    case Registration::kDirect:
      if (client->data_path() != "ucx") {
        return absl::FailedPreconditionError(
            "GpuClient: direct registration needs the UCX data plane (this client moves gRPC "
            "bytes)");
      }
      direct = true;
      break;
    case Registration::kStaged:
      break;
  }
  const uint64_t chunk =
      options.chunk_bytes > 0 ? options.chunk_bytes : client->limits().max_payload_bytes;
  std::unique_ptr<GpuClient> g(new GpuClient(client, copier, chunk, direct));
  absl::MutexLock lock(&g->mu_);
  for (int s = 0; s < 2; ++s) {
    STRATA_ASSIGN_OR_RETURN(g->slot_memory_[s], copier->AllocPinned(chunk));
    STRATA_ASSIGN_OR_RETURN(g->slots_[s],
                            client->RegisterBuffer(g->slot_memory_[s]->data(), chunk));
  }
  STRATA_ASSIGN_OR_RETURN(g->stream_, copier->NewStream());
  return g;
}

GpuClient::~GpuClient() {
  absl::MutexLock lock(&mu_);
  // Deregister before the pinned memory goes.
  for (auto& s : slots_) s.reset();
}

GpuClient::Counters GpuClient::counters() const {
  return Counters{chunks_.load(), staged_bytes_.load(), direct_calls_.load()};
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> GpuClient::RegisterDeviceBuffer(void* ptr,
                                                                             size_t len) {
  if (ptr == nullptr || len == 0) {
    return absl::InvalidArgumentError("RegisterDeviceBuffer: null pointer or zero length");
  }
  STRATA_ASSIGN_OR_RETURN(bool device, copier_->IsDeviceMemory(ptr));
  if (!device) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RegisterDeviceBuffer: ", absl::Hex(reinterpret_cast<uintptr_t>(ptr)),
        " is not device memory of the ", std::string(copier_->name()),
        " copier (host memory goes through Client::RegisterBuffer)"));
  }
  std::unique_ptr<RegisteredBuffer> registered;
  if (direct_) {
    STRATA_ASSIGN_OR_RETURN(registered, client_->RegisterDeviceBuffer(ptr, len, /*force=*/true));
  }
  return std::unique_ptr<DeviceBuffer>(
      new DeviceBuffer(static_cast<char*>(ptr), len, std::move(registered)));
}

absl::StatusOr<std::vector<absl::Status>> GpuClient::PutFrom(std::string_view ns,
                                                             const DeviceBuffer& buffer,
                                                             absl::Span<const PutFromBlock> blocks) {
  // The whole batch is checked before any chunk moves: a refused batch stores nothing.
  STRATA_RETURN_IF_ERROR(CheckPutFromBatch(ns, client_->limits(), buffer.size(), blocks));
  std::vector<uint64_t> offsets, sizes;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].size > chunk_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].size: ", blocks[i].size, " bytes, more than a staging buffer (",
          chunk_bytes_, " bytes: GpuClientOptions::chunk_bytes)"));
    }
    offsets.push_back(blocks[i].offset);
    sizes.push_back(blocks[i].size);
  }
  const std::vector<StagingChunk> chunks = PlanChunks(sizes, chunk_bytes_);
  absl::MutexLock lock(&mu_);
  // Read under the lock, for the lambda (which the analysis cannot see the lock around).
  const std::array<RegisteredBuffer*, 2> slots{slots_[0].get(), slots_[1].get()};
  gpu::SendChunk send = [&](int slot, const StagingChunk& chunk)
      -> absl::StatusOr<std::vector<absl::Status>> {
    chunks_.fetch_add(1);
    staged_bytes_.fetch_add(chunk.bytes);
    std::vector<PutFromBlock> part(blocks.begin() + chunk.first,
                                   blocks.begin() + chunk.first + chunk.count);
    if (direct_) {
      // The node reads the device buffer itself; the staged copy only yields the checksums.
      std::vector<uint64_t> checksums;
      for (size_t j = 0; j < chunk.count; ++j) {
        checksums.push_back(BlockChecksum(slots[slot]->data() + chunk.local[j], part[j].size));
      }
      direct_calls_.fetch_add(1);
      return client_->PutFrom(ns, *buffer.direct_, part, checksums);
    }
    for (size_t j = 0; j < chunk.count; ++j) part[j].offset = chunk.local[j];
    return client_->PutFrom(ns, *slots[slot], part);
  };
  return gpu::PipelinePut(*stream_, {slot_memory_[0]->data(), slot_memory_[1]->data()},
                          buffer.data(), offsets, sizes, chunks, send);
}

absl::StatusOr<std::vector<GetIntoResult>> GpuClient::GetInto(
    std::string_view ns, absl::Span<const std::string> keys, const DeviceBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  STRATA_RETURN_IF_ERROR(
      CheckGetIntoBatch(ns, client_->limits(), keys, buffer.size(), offsets, capacities));
  if (direct_) {
    direct_calls_.fetch_add(1);
    return client_->GetInto(ns, keys, *buffer.direct_, offsets, capacities);
  }
  // A block is at most a staging buffer here: larger capacities are cut to one.
  std::vector<uint64_t> staged(capacities.begin(), capacities.end());
  for (uint64_t& c : staged) c = std::min(c, chunk_bytes_);
  const std::vector<StagingChunk> chunks = PlanChunks(staged, chunk_bytes_);
  absl::MutexLock lock(&mu_);
  const std::array<RegisteredBuffer*, 2> slots{slots_[0].get(), slots_[1].get()};
  gpu::ReceiveChunk receive = [&](int slot, const StagingChunk& chunk)
      -> absl::StatusOr<std::vector<GetIntoResult>> {
    chunks_.fetch_add(1);
    STRATA_ASSIGN_OR_RETURN(
        std::vector<GetIntoResult> got,
        client_->GetInto(ns, keys.subspan(chunk.first, chunk.count), *slots[slot], chunk.local,
                         absl::MakeConstSpan(staged).subspan(chunk.first, chunk.count)));
    for (size_t j = 0; j < got.size(); ++j) {
      const size_t i = chunk.first + j;
      if (got[j].found()) staged_bytes_.fetch_add(got[j].size);
      if (absl::IsOutOfRange(got[j].status) && staged[i] < capacities[i]) {
        got[j].status = absl::OutOfRangeError(absl::StrCat(
            "keys[", i, "]: the block is larger than a staging buffer (", chunk_bytes_,
            " bytes: GpuClientOptions::chunk_bytes); ", got[j].status.message()));
      }
    }
    return got;
  };
  return gpu::PipelineGet(*stream_, {slot_memory_[0]->data(), slot_memory_[1]->data()},
                          buffer.data(), offsets, chunks, receive);
}

}  // namespace strata
