// strata-bench subcommands. Each benchmark file registers itself with STRATA_BENCH_COMMAND; the
// table is filled during static initialisation and read-only afterwards.
#ifndef STRATA_BENCH_BENCH_COMMAND_H_
#define STRATA_BENCH_BENCH_COMMAND_H_

#include <vector>

namespace strata::bench {

// argv[0] is the subcommand name; returns the process exit status.
using BenchMain = int (*)(int argc, char** argv);

struct BenchCommand {
  const char* name;
  const char* summary;
  BenchMain main;
};

const std::vector<BenchCommand>& BenchCommands();

struct BenchRegistration {
  BenchRegistration(const char* name, const char* summary, BenchMain main);
};

}  // namespace strata::bench

#define STRATA_BENCH_COMMAND(name, summary, fn) \
  static ::strata::bench::BenchRegistration strata_bench_registration_##fn(name, summary, fn)

#endif  // STRATA_BENCH_BENCH_COMMAND_H_
