// CPU/GPU agreement of the CUDA codecs. Skips, saying why, when the build has no CUDA or the
// machine has no GPU; scripts/gpu-check runs it on a GPU machine.
#include "kernels/gpu_codec.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/codec.h"
#include "kernels/codec_format.h"
#include "tests/kernels/test_data.h"

namespace strata {
namespace {

using ::strata::testing::MakeBlock;
using ::strata::testing::TiesBlock;
using ::strata::testing::ToFloats;

#define STRATA_SKIP_WITHOUT_GPU()                                                             \
  if (gpu::DeviceCount() == 0) {                                                              \
    GTEST_SKIP() << (gpu::Built() ? "no CUDA device on this machine: GPU codec tests skipped" \
                                  : "built without CUDA (-DSTRATA_CUDA=OFF or no nvcc): "     \
                                    "GPU codec tests skipped");                               \
  }

TEST(GpuCodecTest, ReportsAvailability) {
  if (!gpu::Built()) {
    EXPECT_EQ(gpu::DeviceCount(), 0);
    const BlockLayout layout = BlockLayout::Kv(DType::kF16, 1, 1, 8, 1);
    EXPECT_EQ(gpu::EncodeHost(*FindCodec("int8"), layout, std::string(layout.Bytes(), '\0'))
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
  }
  EXPECT_FALSE(gpu::Supports(*FindCodec("shuffle-zstd")));
}

constexpr const char* kGpuCodecs[] = {"int8", "fp8-e4m3", "kivi4", "kivi2", "kivi4-g128"};

TEST(GpuCodecTest, EncodingsMatchTheCpu) {
  STRATA_SKIP_WITHOUT_GPU();
  const BlockLayout layouts[] = {
      BlockLayout::Kv(DType::kF16, 2, 3, 20, 37), BlockLayout::Kv(DType::kBF16, 2, 8, 128, 64),
      BlockLayout::Kv(DType::kF32, 1, 4, 64, 130), BlockLayout::MlaLatent(DType::kF16, 3, 576, 16),
      // Many tokens: the min/max kernels split a channel's tokens into chunks.
      BlockLayout::Kv(DType::kF16, 3, 2, 64, 1003)};
  for (const char* name : kGpuCodecs) {
    const Codec* codec = FindCodec(name);
    ASSERT_TRUE(gpu::Supports(*codec)) << name;
    for (const BlockLayout& layout : layouts) {
      if (!codec->CheckLayout(layout, layout.Bytes()).ok()) continue;
      SCOPED_TRACE(::testing::Message()
                   << name << " " << DTypeName(layout.dtype) << " head_dim=" << layout.head_dim);
      const std::string src = MakeBlock(layout, 42);
      auto cpu_enc = codec->Encode(layout, src);
      auto gpu_enc = gpu::EncodeHost(*codec, layout, src);
      ASSERT_TRUE(cpu_enc.ok()) << cpu_enc.status();
      ASSERT_TRUE(gpu_enc.ok()) << gpu_enc.status();
      ASSERT_EQ(cpu_enc->size(), gpu_enc->size());
      size_t differing = 0;
      for (size_t i = 0; i < cpu_enc->size(); ++i) differing += (*cpu_enc)[i] != (*gpu_enc)[i];
      // Rounding is defined identically (same scalar functions, no FMA contraction): codes and
      // scales must match exactly.
      EXPECT_EQ(differing, 0u) << "of " << cpu_enc->size() << " bytes";
      // Each side decodes the other's encoding to the same values.
      auto cpu_dec = codec->Decode(layout, *gpu_enc);
      auto gpu_dec = gpu::DecodeHost(*codec, layout, *cpu_enc);
      auto cpu_ref = codec->Decode(layout, *cpu_enc);
      ASSERT_TRUE(cpu_dec.ok() && gpu_dec.ok() && cpu_ref.ok());
      EXPECT_TRUE(*gpu_dec == *cpu_ref) << "GPU decode differs from CPU decode";
      EXPECT_EQ(ToFloats(layout, *cpu_dec).size(), ToFloats(layout, src).size());
    }
  }
}

TEST(GpuCodecTest, ZeroSignTiesMatchTheCpu) {
  STRATA_SKIP_WITHOUT_GPU();
  const BlockLayout layouts[] = {BlockLayout::Kv(DType::kF16, 2, 2, 64, 300),
                                 BlockLayout::Kv(DType::kF32, 1, 3, 32, 77)};
  for (const char* name : kGpuCodecs) {
    const Codec* codec = FindCodec(name);
    for (const BlockLayout& layout : layouts) {
      if (!codec->CheckLayout(layout, layout.Bytes()).ok()) continue;
      SCOPED_TRACE(::testing::Message() << name << " " << DTypeName(layout.dtype));
      const std::string src = TiesBlock(layout);
      auto cpu_enc = codec->Encode(layout, src);
      auto gpu_enc = gpu::EncodeHost(*codec, layout, src);
      ASSERT_EQ(cpu_enc.status().code(), gpu_enc.status().code())
          << cpu_enc.status() << " / " << gpu_enc.status();
      if (!cpu_enc.ok()) continue;
      EXPECT_TRUE(*cpu_enc == *gpu_enc) << "GPU encoding differs from the CPU's";
    }
  }
}

TEST(GpuCodecTest, RejectsWhatTheCpuRejects) {
  STRATA_SKIP_WITHOUT_GPU();
  const BlockLayout layout = BlockLayout::Kv(DType::kF16, 1, 2, 8, 4);
  const std::string src = MakeBlock(layout, 1);
  auto enc = FindCodec("int8")->Encode(layout, src);
  ASSERT_TRUE(enc.ok());
  auto truncated = gpu::DecodeHost(*FindCodec("int8"), layout, enc->substr(0, enc->size() - 1));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(gpu::EncodeHost(*FindCodec("int8"), BlockLayout{}, src).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu::EncodeHost(*FindCodec("shuffle-lz4"), layout, src).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
