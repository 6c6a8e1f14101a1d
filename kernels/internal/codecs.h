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
// The body format (header param0) int8 / fp8-e4m3 write for `layout`: 2 (int8) or 1 (fp8),
// centered keys, for kv layouts; 0 (plain) for mla_latent (kernels/cpu/absmax_codecs.cc).
uint8_t AbsMaxParam0(CodecId id, const BlockLayout& layout);
// kivi4 / kivi2 with group size 32, 64 or 128.
std::unique_ptr<Codec> NewKiviCodec(CodecId id, uint32_t group, CpuPath path);

// INVALID_ARGUMENT unless layout.dtype is f32, f16 or bf16; names the codec.
absl::Status CheckFloatDType(const BlockLayout& layout, std::string_view codec);

}  // namespace strata::internal

#endif  // STRATA_KERNELS_INTERNAL_CODECS_H_
