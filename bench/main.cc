// strata-bench SUBCOMMAND [--json] ...: Strata's benchmarks. Each subcommand starts what it needs
// on loopback and measures its baseline (memcpy, ucx_perftest, ...) in the same run.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bench/bench_command.h"
#include "common/malloc_tuning.h"

namespace strata::bench {

namespace {
std::vector<BenchCommand>& MutableCommands() {
  static std::vector<BenchCommand> commands;
  return commands;
}
}  // namespace

const std::vector<BenchCommand>& BenchCommands() { return MutableCommands(); }

BenchRegistration::BenchRegistration(const char* name, const char* summary, BenchMain main) {
  MutableCommands().push_back({name, summary, main});
}

}  // namespace strata::bench

namespace {

void Usage(FILE* out) {
  std::fprintf(out, "usage: strata-bench SUBCOMMAND [--json] [options]\n\nsubcommands:\n");
  for (const auto& c : strata::bench::BenchCommands()) {
    std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  }
  std::fprintf(out, "\n'strata-bench SUBCOMMAND --help' lists a subcommand's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // As an application embedding strata::Client should: per-call gRPC buffers are reused instead
  // of mapped afresh (common/malloc_tuning.h).
  (void)strata::KeepLargeBuffersInHeap();
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string_view sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    Usage(stdout);
    return 0;
  }
  for (const auto& c : strata::bench::BenchCommands()) {
    if (sub == c.name) return c.main(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "strata-bench: unknown subcommand '%s'\n", argv[1]);
  Usage(stderr);
  return 2;
}
