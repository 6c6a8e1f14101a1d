// BlockChecksum is XXH3-64 whichever implementation the CPU gets (AVX2 or the packaged library):
// stored checksums must stay valid across hosts.
#include "common/checksum.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <random>
#include <string>

namespace strata {
namespace {

TEST(BlockChecksum, IsXxh3Of64BitsForEverySizeAndAlignment) {
  std::mt19937_64 rng(5);
  std::string buf(3 << 20, '\0');
  for (auto& c : buf) c = static_cast<char>(rng());
  // Every size around XXH3's internal boundaries (16, 128, 240, stripes, blocks), odd offsets.
  for (size_t size = 0; size <= 2048; ++size) {
    const size_t offset = size % 7;
    ASSERT_EQ(BlockChecksum(buf.data() + offset, size), XXH3_64bits(buf.data() + offset, size))
        << "size " << size;
  }
  for (size_t size : {size_t{4095}, size_t{65536}, size_t{1} << 20, buf.size() - 3}) {
    EXPECT_EQ(BlockChecksum(buf.data() + 3, size), XXH3_64bits(buf.data() + 3, size)) << size;
  }
  // A known value: XXH3-64 of the empty input.
  EXPECT_EQ(BlockChecksum("", 0), 0x2D06800538D394C2ull);
}

}  // namespace
}  // namespace strata
