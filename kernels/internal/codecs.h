// Factories for the concrete codecs behind the registry in kernels/codec.cc, and helpers the
// codec implementations share. Internal to kernels/.
#ifndef STRATA_KERNELS_INTERNAL_CODECS_H_
#define STRATA_KERNELS_INTERNAL_CODECS_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "common/block_layout.h"
#include "kernels/codec.h"

namespace strata::internal {

// raw, shuffle-lz4, shuffle-zstd.
std::unique_ptr<Codec> NewLosslessCodec(CodecId id, CpuPath path);
// int8 and fp8-e4m3.
std::unique_ptr<Codec> NewAbsMaxCodec(CodecId id, CpuPath path);
// kivi4 / kivi2 with group size 32, 64 or 128.
std::unique_ptr<Codec> NewKiviCodec(CodecId id, uint32_t group, CpuPath path);

// INVALID_ARGUMENT unless layout.dtype is f32, f16 or bf16; names the codec.
absl::Status CheckFloatDType(const BlockLayout& layout, std::string_view codec);

}  // namespace strata::internal

#endif  // STRATA_KERNELS_INTERNAL_CODECS_H_
