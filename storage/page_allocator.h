// PageAllocator: hands out contiguous runs of fixed-size pages from a region of known size.
//
// Free space is kept as coalesced extents, indexed by offset and by length; Allocate() takes the
// best fit (the shortest free run that is long enough, lowest offset among equals), so large
// blocks stay contiguous — a remote reader gets each block as one RMA operation — and freed
// neighbours merge back. All offsets and lengths are in pages. Hard bound: never more than
// `total_pages` are handed out. Thread-compatible: DramTier serialises access.
#ifndef STRATA_STORAGE_PAGE_ALLOCATOR_H_
#define STRATA_STORAGE_PAGE_ALLOCATOR_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"

namespace strata {

class PageAllocator {
 public:
  explicit PageAllocator(uint64_t total_pages);

  // First page of a run of `pages` pages; nullopt when no free run is long enough.
  // REQUIRES: pages > 0.
  std::optional<uint64_t> Allocate(uint64_t pages);
  // REQUIRES: [first, first + pages) was returned by Allocate() and not freed since.
  void Free(uint64_t first, uint64_t pages);

  uint64_t total_pages() const { return total_pages_; }
  uint64_t used_pages() const { return used_pages_; }
  uint64_t free_pages() const { return total_pages_ - used_pages_; }
  // Length of the longest free run (0 when full).
  uint64_t largest_free_run() const;
  size_t free_extents() const { return by_offset_.size(); }

 private:
  void AddExtent(uint64_t first, uint64_t pages);
  void RemoveExtent(uint64_t first, uint64_t pages);

  const uint64_t total_pages_;
  uint64_t used_pages_ = 0;
  absl::btree_map<uint64_t, uint64_t> by_offset_;             // first -> pages
  absl::btree_set<std::pair<uint64_t, uint64_t>> by_length_;  // (pages, first)
};

}  // namespace strata

#endif  // STRATA_STORAGE_PAGE_ALLOCATOR_H_
