#include "tests/testing/prefaulted_buffer.h"

#include <cstdio>
#include <cstdlib>

namespace strata::testing {

PrefaultedBuffer::PrefaultedBuffer(size_t bytes) {
  auto region = DramRegion::Map(bytes);
  if (!region.ok()) {
    std::fprintf(stderr, "PrefaultedBuffer: %s\n", region.status().ToString().c_str());
    std::abort();
  }
  region_ = std::move(*region);
}

}  // namespace strata::testing
