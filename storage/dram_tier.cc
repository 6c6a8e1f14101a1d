#include "storage/dram_tier.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace strata {

absl::StatusOr<std::unique_ptr<DramRegion>> DramRegion::Map(size_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("dram: capacity must be > 0");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("dram: cannot map ", bytes, " bytes: ", std::strerror(errno)));
  }
  // Huge pages where the kernel offers them (best effort: the advice may be refused), then
  // pre-fault every page so blocks never pay first-touch costs (~1 GB/s on these machines).
  (void)madvise(p, bytes, MADV_HUGEPAGE);  // Refusal only costs TLB reach.
  if (madvise(p, bytes, MADV_POPULATE_WRITE) != 0) {
    const long page = 4096;
    for (size_t off = 0; off < bytes; off += page) static_cast<volatile char*>(p)[off] = 0;
  }
  return std::unique_ptr<DramRegion>(new DramRegion(static_cast<char*>(p), bytes));
}

DramRegion::~DramRegion() { munmap(base_, size_); }

absl::StatusOr<std::unique_ptr<DramTier>> DramTier::Create(const DramTierOptions& options) {
  if (options.page_bytes == 0 || (options.page_bytes & (options.page_bytes - 1)) != 0) {
    return absl::InvalidArgumentError("dram: page size must be a power of two");
  }
  const uint64_t bytes = options.capacity_bytes / options.page_bytes * options.page_bytes;
  if (bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dram: capacity ", options.capacity_bytes, " is below one page"));
  }
  auto region = DramRegion::Map(bytes);
  if (!region.ok()) return region.status();
  return std::unique_ptr<DramTier>(new DramTier(std::move(*region), options.page_bytes));
}

DramTier::DramTier(std::unique_ptr<DramRegion> region, uint64_t page_bytes)
    : region_(std::move(region)),
      page_bytes_(page_bytes),
      capacity_bytes_(region_->size()),
      allocator_(region_->size() / page_bytes) {}

uint64_t DramTier::used_bytes() const {
  absl::MutexLock lock(&mu_);
  return allocator_.used_pages() * page_bytes_;
}

uint64_t DramTier::largest_free_run_bytes() const {
  absl::MutexLock lock(&mu_);
  return allocator_.largest_free_run() * page_bytes_;
}

uint64_t DramTier::ChargeFor(uint64_t stored_bytes) const {
  const uint64_t pages = (stored_bytes + page_bytes_ - 1) / page_bytes_;
  return (pages == 0 ? 1 : pages) * page_bytes_;
}

absl::StatusOr<TierSlot> DramTier::Write(std::string_view id, uint64_t version,
                                         const BlockRecord& record, std::string_view bytes) {
  char* data = nullptr;
  STRATA_ASSIGN_OR_RETURN(TierSlot slot, Allocate(id, version, record, bytes.size(), &data));
  std::memcpy(data, bytes.data(), bytes.size());
  return slot;
}

absl::StatusOr<TierSlot> DramTier::Allocate(std::string_view /*id*/, uint64_t /*version*/,
                                            const BlockRecord& /*record*/, uint64_t stored_bytes,
                                            char** data) {
  const uint64_t charged = ChargeFor(stored_bytes);
  std::optional<uint64_t> first;
  {
    absl::MutexLock lock(&mu_);
    first = allocator_.Allocate(charged / page_bytes_);
  }
  if (!first) {
    return absl::ResourceExhaustedError(absl::StrCat("dram: no free run of ", charged, " bytes"));
  }
  TierSlot slot{*first * page_bytes_, stored_bytes, charged};
  *data = region_->data() + slot.offset;
  return slot;
}

absl::Status DramTier::Read(std::string_view /*id*/, const TierSlot& slot, std::string* out) {
  out->assign(region_->data() + slot.offset, slot.stored_bytes);
  return absl::OkStatus();
}

absl::Status DramTier::Erase(std::string_view /*id*/, const TierSlot& slot) {
  absl::MutexLock lock(&mu_);
  allocator_.Free(slot.offset / page_bytes_, slot.charged_bytes / page_bytes_);
  return absl::OkStatus();
}

std::optional<std::string_view> DramTier::View(const TierSlot& slot) const {
  return std::string_view(region_->data() + slot.offset, slot.stored_bytes);
}

}  // namespace strata
