// What fuzz targets use to report a broken invariant: print it and abort, so libFuzzer saves the
// input and the corpus replayer (replay_main.cc) fails its test. Not assert(): it must hold in
// release builds too.
#ifndef STRATA_FUZZ_FUZZ_CHECK_H_
#define STRATA_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define STRATA_FUZZ_CHECK(cond, what)                                                       \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#endif  // STRATA_FUZZ_FUZZ_CHECK_H_
