// The GPU codec API in a build without CUDA: nothing to run on.
#include "kernels/gpu_codec.h"

namespace strata::gpu {
namespace {
absl::Status NotBuilt() {
  return absl::UnavailableError(
      "GPU codecs: this build has no CUDA (configure with -DSTRATA_CUDA=ON)");
}
}  // namespace

bool Built() { return false; }
int DeviceCount() { return 0; }
bool Supports(const Codec&) { return false; }

absl::StatusOr<uint64_t> EncodeOnDevice(const Codec&, const BlockLayout&, const void*, uint64_t,
                                        void*, uint64_t, void*) {
  return NotBuilt();
}
absl::StatusOr<uint64_t> EncodeBodyAsync(const Codec&, const BlockLayout&, const void*, uint64_t,
                                         void*, uint64_t, char*, int*, void*) {
  return NotBuilt();
}
absl::Status DecodeOnDevice(const Codec&, const BlockLayout&, const void*, uint64_t, void*,
                            uint64_t, void*) {
  return NotBuilt();
}
absl::StatusOr<std::string> EncodeHost(const Codec&, const BlockLayout&, std::string_view) {
  return NotBuilt();
}
absl::StatusOr<std::string> DecodeHost(const Codec&, const BlockLayout&, std::string_view) {
  return NotBuilt();
}
absl::StatusOr<DeviceThroughput> MeasureDeviceThroughput(const Codec&, const BlockLayout&,
                                                         std::string_view, int) {
  return NotBuilt();
}

}  // namespace strata::gpu
