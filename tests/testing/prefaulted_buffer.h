// PrefaultedBuffer: anonymous memory shaped like a strata-node's DRAM pool or a serving engine's
// registered KV pool -- asked for transparent huge pages and pre-faulted, so first-touch faults
// stay out of a timing. It is storage's DramRegion (one mapping for the node and for the
// programs that measure it), and it aborts when the mapping fails: a benchmark or test without
// its buffer has nothing to measure. Zero-filled. Not copyable.
#ifndef STRATA_TESTS_TESTING_PREFAULTED_BUFFER_H_
#define STRATA_TESTS_TESTING_PREFAULTED_BUFFER_H_

#include <cstddef>
#include <memory>

#include "storage/dram_tier.h"

namespace strata::testing {

class PrefaultedBuffer {
 public:
  explicit PrefaultedBuffer(size_t bytes);  // bytes > 0
  PrefaultedBuffer(const PrefaultedBuffer&) = delete;
  PrefaultedBuffer& operator=(const PrefaultedBuffer&) = delete;

  char* data() const { return region_->data(); }
  size_t size() const { return region_->size(); }

 private:
  std::unique_ptr<DramRegion> region_;
};

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_PREFAULTED_BUFFER_H_
