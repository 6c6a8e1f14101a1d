// Fuzz target: the node's YAML config reader (cachenode/options.h: ApplyConfigFile) and option
// validation, fed arbitrary files. Invariants checked:
//  - ApplyConfigFile answers OK or INVALID_ARGUMENT (naming the file), never throws or crashes;
//  - NodeOptions::Validate on whatever was applied answers OK or INVALID_ARGUMENT, or
//    UNIMPLEMENTED for features this release refuses by name.
// ApplyConfigFile reads a path, so the input goes into an anonymous in-memory file (memfd) read
// through /proc/self/fd: no disk, nothing left behind, and no test-only entry point in cachenode.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "cachenode/options.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("strata-config-fuzz", 0);
  STRATA_FUZZ_CHECK(fd >= 0, "memfd_create");
  STRATA_FUZZ_CHECK(
      ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == static_cast<ssize_t>(size),
      "write the input to the memfd");
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  strata::NodeOptions options;
  absl::Status st = strata::ApplyConfigFile(path, &options);
  if (!st.ok()) {
    STRATA_FUZZ_CHECK(absl::IsInvalidArgument(st), "a bad config is INVALID_ARGUMENT");
    STRATA_FUZZ_CHECK(st.message().find(path) != absl::string_view::npos,
                      "the error names the file");
    return 0;
  }
  st = options.Validate();
  STRATA_FUZZ_CHECK(st.ok() || absl::IsInvalidArgument(st) || absl::IsUnimplemented(st),
                    "Validate answers OK or INVALID_ARGUMENT");
  (void)options.EffectiveMetricsListen();
  (void)options.EffectiveInflightBytes();
  (void)options.EffectiveMaxMessageBytes();
  return 0;
}
