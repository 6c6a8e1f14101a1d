// GPU implementations of the lossy block codecs (fp8-e4m3, int8, kivi4, kivi2) in kernels/cuda/.
// They read and write exactly the encoded form the CPU codecs do (same header, same body, same
// codes where rounding is defined identically), so a block encoded on one side decodes on the
// other. Built when CMake's STRATA_HAVE_CUDA is ON; otherwise every call answers UNAVAILABLE and
// DeviceCount() is 0. This header names no CUDA type: streams are passed as `void*`
// (a cudaStream_t; nullptr is the default stream).
//
// Thread-safety: the functions are thread-safe; concurrent calls on one stream serialize on it.
#ifndef STRATA_KERNELS_GPU_CODEC_H_
#define STRATA_KERNELS_GPU_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/block_layout.h"
#include "kernels/codec.h"

namespace strata::gpu {

// True when this build includes the CUDA kernels.
bool Built();
// Number of usable CUDA devices; 0 when there are none or the build has no CUDA.
int DeviceCount();
// Whether `codec` has a GPU implementation in this build (false in a build without CUDA).
bool Supports(const Codec& codec);
// Whether the CUDA kernels implement `codec`, whatever this build has: what Supports answers in
// a CUDA build, for code that stands in for a GPU (storage's device-memory twin).
bool HasKernels(const Codec& codec);

// Encodes layout.Bytes() bytes at device pointer `d_src` into `d_dst` (device memory of at least
// codec.MaxEncodedSize bytes), header included; returns the encoded length. Asynchronous on
// `stream` except for argument checks; the result is ready when the stream is.
absl::StatusOr<uint64_t> EncodeOnDevice(const Codec& codec, const BlockLayout& layout,
                                        const void* d_src, uint64_t src_bytes, void* d_dst,
                                        uint64_t dst_capacity, void* stream = nullptr);
// The asynchronous form, for pipelines that copy encoded blocks off the device: launches the
// encode of the body (everything after the header) into `d_body` (device memory of at least
// codec.MaxEncodedSize - EncodedHeader::kSize bytes) on `stream` and writes the header, which
// needs no device work, into `header` (host memory, EncodedHeader::kSize bytes). Returns the
// encoded length, header included, without waiting. Values the codec cannot represent set
// *d_error (a device int the caller zeroed) non-zero; the caller checks it once the stream is done.
absl::StatusOr<uint64_t> EncodeBodyAsync(const Codec& codec, const BlockLayout& layout,
                                         const void* d_src, uint64_t src_bytes, void* d_body,
                                         uint64_t body_capacity, char* header, int* d_error,
                                         void* stream = nullptr);
// Decodes an encoded block in device memory into `d_dst` (exactly layout.Bytes()). Reads the
// header back to the host first (one small synchronous copy) and validates it as the CPU decoder
// does; DATA_LOSS / INVALID_ARGUMENT as Codec::DecodeTo.
absl::Status DecodeOnDevice(const Codec& codec, const BlockLayout& layout, const void* d_encoded,
                            uint64_t encoded_bytes, void* d_dst, uint64_t dst_bytes,
                            void* stream = nullptr);

// Host-memory conveniences for tests and tools: copy to device 0, run, copy back.
absl::StatusOr<std::string> EncodeHost(const Codec& codec, const BlockLayout& layout,
                                       std::string_view src);
absl::StatusOr<std::string> DecodeHost(const Codec& codec, const BlockLayout& layout,
                                       std::string_view encoded);

// Device throughput of one codec on one block (GB/s of decoded bytes), with a device-to-device
// copy of the same bytes measured in the same run as the baseline. Medians of `runs` runs.
struct DeviceThroughput {
  double encode_gbps = 0;
  double decode_gbps = 0;
  double d2d_copy_gbps = 0;
};
absl::StatusOr<DeviceThroughput> MeasureDeviceThroughput(const Codec& codec,
                                                         const BlockLayout& layout,
                                                         std::string_view src, int runs = 5);

}  // namespace strata::gpu

#endif  // STRATA_KERNELS_GPU_CODEC_H_
