// strata-replay: the trace replay and workload generator as a standalone tool (the same code
// runs as `stratactl replay` and `stratactl trace generate`).
//
//   strata-replay --trace FILE --policy P --capacity-fraction F --offline [--json]
//   strata-replay generate --out FILE [options]
#include <iostream>
#include <string>
#include <vector>

#include "stratactl/replay/replay_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "generate") {
    args.erase(args.begin());
    return strata::replay::RunGenerateTraceCommand(args, std::cout, std::cerr);
  }
  if (!args.empty() && args[0] == "replay") args.erase(args.begin());
  return strata::replay::RunReplayCommand(args, std::cout, std::cerr);
}
