#include "storage/page_allocator.h"

#include <cassert>

namespace strata {

PageAllocator::PageAllocator(uint64_t total_pages) : total_pages_(total_pages) {
  if (total_pages_ > 0) AddExtent(0, total_pages_);
}

void PageAllocator::AddExtent(uint64_t first, uint64_t pages) {
  by_offset_.emplace(first, pages);
  by_length_.emplace(pages, first);
}

void PageAllocator::RemoveExtent(uint64_t first, uint64_t pages) {
  by_offset_.erase(first);
  by_length_.erase({pages, first});
}

std::optional<uint64_t> PageAllocator::Allocate(uint64_t pages) {
  assert(pages > 0);
  auto it = by_length_.lower_bound({pages, 0});
  if (it == by_length_.end()) return std::nullopt;
  const auto [len, first] = *it;
  RemoveExtent(first, len);
  if (len > pages) AddExtent(first + pages, len - pages);
  used_pages_ += pages;
  return first;
}

void PageAllocator::Free(uint64_t first, uint64_t pages) {
  assert(pages > 0 && first + pages <= total_pages_);
  used_pages_ -= pages;
  uint64_t start = first;
  uint64_t len = pages;
  // Merge with the free extent that ends where this one starts.
  auto next = by_offset_.lower_bound(first);
  if (next != by_offset_.begin()) {
    auto prev = std::prev(next);
    assert(prev->first + prev->second <= first);
    if (prev->first + prev->second == first) {
      start = prev->first;
      len += prev->second;
      RemoveExtent(prev->first, prev->second);
    }
  }
  // Merge with the free extent that starts where this one ends.
  next = by_offset_.lower_bound(first + pages);
  if (next != by_offset_.end() && next->first == first + pages) {
    len += next->second;
    RemoveExtent(next->first, next->second);
  }
  AddExtent(start, len);
}

uint64_t PageAllocator::largest_free_run() const {
  return by_length_.empty() ? 0 : by_length_.rbegin()->first;
}

}  // namespace strata
