#include "storage/hbm_tier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/codec_format.h"

namespace strata {
namespace {

constexpr uint64_t kStagingAlign = 256;

}  // namespace

absl::StatusOr<std::unique_ptr<HbmTier>> HbmTier::Create(const HbmTierOptions& options,
                                                         std::unique_ptr<DeviceMemory> device) {
  if (device == nullptr) return absl::InvalidArgumentError("hbm: no device");
  if (options.page_bytes == 0 || (options.page_bytes & (options.page_bytes - 1)) != 0) {
    return absl::InvalidArgumentError("hbm: page size must be a power of two");
  }
  const uint64_t bytes = options.capacity_bytes / options.page_bytes * options.page_bytes;
  if (bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hbm: capacity ", options.capacity_bytes, " is below one page"));
  }
  absl::StatusOr<void*> pool = device->Malloc(bytes);
  if (!pool.ok()) {
    return absl::Status(pool.status().code(),
                        absl::StrCat("hbm: cannot allocate a pool of ", bytes, " bytes on ",
                                     device->Describe(), ": ", pool.status().message()));
  }
  return std::unique_ptr<HbmTier>(new HbmTier(options, std::move(device), *pool, bytes));
}

HbmTier::HbmTier(const HbmTierOptions& options, std::unique_ptr<DeviceMemory> device, void* pool,
                 uint64_t capacity)
    : device_(std::move(device)),
      pool_(pool),
      page_bytes_(options.page_bytes),
      capacity_bytes_(capacity),
      staging_bytes_(options.staging_bytes),
      verify_reads_(options.verify_reads),
      copy_streams_(std::max(1, options.copy_streams)),
      allocator_(capacity / options.page_bytes) {}

HbmTier::~HbmTier() {
  std::vector<std::unique_ptr<Lane>> lanes;
  {
    absl::MutexLock lock(&mu_);
    lanes.swap(idle_lanes_);
  }
  for (auto& lane : lanes) {
    lane->stream.reset();  // waits for its work
    if (lane->staging != nullptr) device_->Free(lane->staging);
  }
  device_->Free(pool_);
}

uint64_t HbmTier::used_bytes() const {
  absl::MutexLock lock(&mu_);
  return allocator_.used_pages() * page_bytes_;
}

uint64_t HbmTier::ChargeFor(uint64_t stored_bytes) const {
  const uint64_t pages = (stored_bytes + page_bytes_ - 1) / page_bytes_;
  return (pages == 0 ? 1 : pages) * page_bytes_;
}

absl::StatusOr<std::unique_ptr<HbmTier::Lane>> HbmTier::AcquireLane() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_lanes_.empty()) {
      std::unique_ptr<Lane> lane = std::move(idle_lanes_.back());
      idle_lanes_.pop_back();
      return lane;
    }
  }
  auto lane = std::make_unique<Lane>();
  STRATA_ASSIGN_OR_RETURN(lane->stream, device_->NewStream());
  return lane;
}

void HbmTier::ReleaseLane(std::unique_ptr<Lane> lane) {
  absl::MutexLock lock(&mu_);
  idle_lanes_.push_back(std::move(lane));
}

absl::StatusOr<TierSlot> HbmTier::Write(std::string_view /*id*/, uint64_t /*version*/,
                                        const BlockRecord& /*record*/, std::string_view bytes) {
  const uint64_t charged = ChargeFor(bytes.size());
  std::optional<uint64_t> first;
  {
    absl::MutexLock lock(&mu_);
    first = allocator_.Allocate(charged / page_bytes_);
  }
  if (!first) {
    return absl::ResourceExhaustedError(absl::StrCat("hbm: no free run of ", charged, " bytes"));
  }
  const TierSlot slot{*first * page_bytes_, bytes.size(), charged};
  absl::Status st;
  absl::StatusOr<std::unique_ptr<Lane>> lane = AcquireLane();
  if (lane.ok()) {
    st = (*lane)->stream->CopyToDevice(At(slot), bytes.data(), bytes.size());
    const absl::Status sync = (*lane)->stream->Synchronize();
    if (st.ok()) st = sync;
    ReleaseLane(*std::move(lane));
  } else {
    st = lane.status();
  }
  if (!st.ok()) {
    absl::MutexLock lock(&mu_);
    allocator_.Free(slot.offset / page_bytes_, charged / page_bytes_);
    // Not a matter of room: evicting would not help.
    return absl::InternalError(absl::StrCat("hbm: copy to the device failed: ", st.message()));
  }
  return slot;
}

absl::Status HbmTier::Read(std::string_view /*id*/, const TierSlot& slot, std::string* out) {
  out->resize(slot.stored_bytes);
  CopyOutItem item{slot, nullptr, BlockLayout{}, out->data(), slot.stored_bytes, 0};
  return CopyOut(absl::MakeSpan(&item, 1));
}

absl::Status HbmTier::Erase(std::string_view /*id*/, const TierSlot& slot) {
  absl::MutexLock lock(&mu_);
  allocator_.Free(slot.offset / page_bytes_, slot.charged_bytes / page_bytes_);
  return absl::OkStatus();
}

absl::Status HbmTier::ReadEncoded(std::string_view /*id*/, const TierSlot& slot,
                                  const BlockRecord& record, const Codec& codec,
                                  std::string* out) {
  if (record.codec_id != 0) {
    return absl::FailedPreconditionError("hbm: the block is stored encoded already");
  }
  if (!device_->CanEncode(codec)) {
    return absl::UnimplementedError(
        absl::StrCat("hbm: ", device_->Describe(), " has no ", std::string(codec.name()), " encoder"));
  }
  STRATA_RETURN_IF_ERROR(codec.CheckLayout(record.layout, slot.stored_bytes));
  const uint64_t max = codec.MaxEncodedSize(record.layout, slot.stored_bytes);
  out->resize(max);
  CopyOutItem item{slot, &codec, record.layout, out->data(), max, 0};
  STRATA_RETURN_IF_ERROR(CopyOut(absl::MakeSpan(&item, 1)));
  out->resize(item.bytes);
  return absl::OkStatus();
}

absl::Status HbmTier::CopyOut(absl::Span<CopyOutItem> items) {
  const size_t n = std::max<size_t>(1, std::min<size_t>(copy_streams_, items.size()));
  std::vector<std::unique_ptr<Lane>> lanes;
  std::vector<uint64_t> staging_at(n, 0);
  absl::Status st;
  for (size_t l = 0; l < n && st.ok(); ++l) {
    absl::StatusOr<std::unique_ptr<Lane>> lane = AcquireLane();
    if (lane.ok()) {
      lanes.push_back(*std::move(lane));
    } else {
      st = lane.status();
    }
  }
  for (size_t i = 0; i < items.size() && st.ok(); ++i) {
    st = EnqueueCopyOut(*lanes[i % n], i, items[i], &staging_at[i % n]);
  }
  // Raw items leave in one batch per lane (one submission instead of one per block).
  for (auto& lane : lanes) {
    if (st.ok() && !lane->raw.empty()) st = lane->stream->CopyToHostBatch(lane->raw);
    lane->raw.clear();
  }
  // Always drain every stream before it goes back, also after an error.
  for (auto& lane : lanes) {
    const absl::Status sync = lane->stream->Synchronize();
    if (st.ok()) st = sync;
    ReleaseLane(std::move(lane));
  }
  return st;
}

absl::Status HbmTier::EnqueueCopyOut(Lane& lane, size_t i, CopyOutItem& item,
                                     uint64_t* staging_at) {
  DeviceStream& stream = *lane.stream;
  const uint64_t stored = item.slot.stored_bytes;
  if (item.codec == nullptr) {
    if (item.dst_capacity < stored) {
      return absl::InvalidArgumentError(absl::StrCat("hbm copy-out item ", i, ": dst holds ",
                                                     item.dst_capacity, " bytes, block ", stored));
    }
    item.bytes = stored;
    lane.raw.push_back({item.dst, At(item.slot), stored});
    return absl::OkStatus();
  }
  const Codec& codec = *item.codec;
  if (!device_->CanEncode(codec)) {
    return absl::InvalidArgumentError(absl::StrCat("hbm copy-out item ", i, ": ",
                                                   device_->Describe(), " has no ",
                                                   std::string(codec.name()), " encoder"));
  }
  if (absl::Status s = codec.CheckLayout(item.layout, stored); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("hbm copy-out item ", i, ": ", s.message()));
  }
  const uint64_t max = codec.MaxEncodedSize(item.layout, stored);
  const uint64_t body = max - EncodedHeader::kSize;
  if (body > staging_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("hbm copy-out item ", i,
                                                     ": encoded body of ", body,
                                                     " bytes exceeds the staging buffer (",
                                                     staging_bytes_, ")"));
  }
  if (item.dst_capacity < max) {
    return absl::InvalidArgumentError(absl::StrCat("hbm copy-out item ", i, ": dst holds ",
                                                   item.dst_capacity, " bytes, ",
                                                   std::string(codec.name()), " needs ", max));
  }
  if (lane.staging == nullptr) {
    STRATA_ASSIGN_OR_RETURN(lane.staging, device_->Malloc(staging_bytes_));
  }
  // A ring over the staging buffer: the stream orders each reuse after the copy that drained it.
  if (*staging_at + body > staging_bytes_) *staging_at = 0;
  char* d_body = static_cast<char*>(lane.staging) + *staging_at;
  *staging_at += (body + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
  STRATA_ASSIGN_OR_RETURN(
      const uint64_t n, stream.Encode(codec, item.layout, At(item.slot), stored, d_body, body,
                                      item.dst));
  item.bytes = n;
  return stream.CopyToHost(item.dst + EncodedHeader::kSize, d_body, n - EncodedHeader::kSize);
}

}  // namespace strata
