// Fuzz target: the Mooncake trace reader of stratactl replay (stratactl/replay/trace.h), which
// reads whatever file an operator points it at. Invariants checked:
//  - ReadTrace answers requests or INVALID_ARGUMENT (naming the line), nothing else;
//  - what it read writes back (WriteTrace) as a trace that reads to the same requests.
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz/fuzz_check.h"
#include "stratactl/replay/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<std::vector<strata::replay::TraceRequest>> trace =
      strata::replay::ReadTrace(in, "fuzz");
  if (!trace.ok()) {
    STRATA_FUZZ_CHECK(absl::IsInvalidArgument(trace.status()), "a bad trace is INVALID_ARGUMENT");
    return 0;
  }
  std::ostringstream out;
  strata::replay::WriteTrace(*trace, out);
  std::istringstream back(out.str());
  absl::StatusOr<std::vector<strata::replay::TraceRequest>> again =
      strata::replay::ReadTrace(back, "fuzz-rewritten");
  STRATA_FUZZ_CHECK(again.ok(), "a written trace reads back");
  STRATA_FUZZ_CHECK(again->size() == trace->size(), "same number of requests");
  for (size_t i = 0; i < trace->size(); ++i) {
    const auto& a = (*trace)[i];
    const auto& b = (*again)[i];
    STRATA_FUZZ_CHECK(a.input_length == b.input_length && a.output_length == b.output_length &&
                          a.hash_ids == b.hash_ids,
                      "a written trace reads back to the same requests");
  }
  return 0;
}
