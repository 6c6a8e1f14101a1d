// CPU/GPU agreement of the CUDA pruning kernels (kernels/gpu_pruning.h): the same kept tokens,
// positions and bytes, the same page bounds. Skips, saying why, when the build has no CUDA or the
// machine has no GPU. CTest label `gpu` (ctest -L gpu).
#include "kernels/gpu_pruning.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/gpu_codec.h"
#include "kernels/pruning.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;

#define STRATA_SKIP_WITHOUT_GPU()                                                         \
  if (gpu::DeviceCount() == 0) {                                                          \
    GTEST_SKIP() << (gpu::Built() ? "no CUDA device on this machine: GPU pruning tests "  \
                                    "skipped"                                             \
                                  : "built without CUDA (-DSTRATA_CUDA=OFF or no nvcc): " \
                                    "GPU pruning tests skipped");                         \
  }

TEST(GpuPruningTest, ReportsAvailability) {
  const BlockLayout l = BlockLayout::Kv(DType::kF16, 1, 1, 8, 4);
  const std::string src(l.Bytes(), '\0');
  PruneOptions o;
  o.budget_tokens = 2;
  if (!gpu::Built()) {
    EXPECT_EQ(gpu::PruneBlockHost(l, src, {}, o).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(gpu::ComputePageBoundsHost(l, src).status().code(), absl::StatusCode::kUnavailable);
  } else {
    // Argument checks run on the host, device or not.
    o.budget_tokens = -1;
    EXPECT_EQ(gpu::PruneBlockHost(l, src, {}, o).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(GpuPruningTest, KeepsWhatTheCpuKeeps) {
  STRATA_SKIP_WITHOUT_GPU();
  const BlockLayout layouts[] = {
      BlockLayout::Kv(DType::kF16, 5, 4, 8, 64), BlockLayout::Kv(DType::kBF16, 2, 8, 128, 256),
      BlockLayout::Kv(DType::kF32, 3, 3, 20, 37), BlockLayout::Kv(DType::kF16, 1, 2, 64, 1500)};
  for (const BlockLayout& l : layouts) {
    const std::string src = MakeBlock(l, 9);
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> scores(size_t{l.layers} * l.kv_heads * l.tokens);
    // Coarse scores (16 levels) so ties are common and the tie rule is exercised.
    for (float& s : scores) s = static_cast<float>(static_cast<int>(u(rng) * 16));
    for (PruneSelector sel :
         {PruneSelector::kSinkWindow, PruneSelector::kScoresTopK, PruneSelector::kKeyNorm}) {
      for (BudgetShape shape : {BudgetShape::kConstant, BudgetShape::kPyramid}) {
        for (int64_t budget :
             {int64_t{1}, int64_t{l.tokens / 10 + 1}, int64_t{l.tokens / 2}, int64_t{l.tokens}}) {
          SCOPED_TRACE(::testing::Message() << PruneSelectorName(sel) << " shape "
                                            << static_cast<int>(shape) << " budget " << budget
                                            << " " << DTypeName(l.dtype) << " tokens " << l.tokens);
          PruneOptions o;
          o.selector = sel;
          o.budget_tokens = budget;
          o.shape = shape;
          const std::span<const float> sc = sel == PruneSelector::kScoresTopK
                                                ? std::span<const float>(scores)
                                                : std::span<const float>();
          auto cpu = PruneBlock(l, src, sc, o);
          auto gpu = gpu::PruneBlockHost(l, src, sc, o);
          ASSERT_TRUE(cpu.ok()) << cpu.status();
          ASSERT_TRUE(gpu.ok()) << gpu.status();
          EXPECT_EQ(gpu->kept, cpu->kept);
          EXPECT_EQ(gpu->positions, cpu->positions);
          EXPECT_TRUE(gpu->payload == cpu->payload) << "pruned payload bytes differ";
        }
      }
    }
  }
}

TEST(GpuPruningTest, PageBoundsMatchTheCpu) {
  STRATA_SKIP_WITHOUT_GPU();
  for (const BlockLayout& l :
       {BlockLayout::Kv(DType::kF16, 5, 4, 8, 64), BlockLayout::Kv(DType::kBF16, 4, 8, 128, 256),
        BlockLayout::Kv(DType::kF32, 2, 3, 20, 37)}) {
    const std::string src = MakeBlock(l, 13);
    auto cpu = ComputePageBounds(l, src);
    auto gpu = gpu::ComputePageBoundsHost(l, src);
    ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status();
    EXPECT_EQ(gpu->min, cpu->min);
    EXPECT_EQ(gpu->max, cpu->max);
  }
  const BlockLayout opaque;
  EXPECT_EQ(gpu::ComputePageBoundsHost(opaque, "abc").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
