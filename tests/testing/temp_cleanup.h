// Temp paths a test binary made, removed when it exits with every test passed and kept (named on
// stderr) when one failed, for the logs and data inside. Header-only, so test binaries that do not
// link strata::testing can use it.
#ifndef STRATA_TESTS_TESTING_TEMP_CLEANUP_H_
#define STRATA_TESTS_TESTING_TEMP_CLEANUP_H_

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace strata::testing {

class TempPaths {
 public:
  void Add(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    paths_.push_back(path);
  }
  ~TempPaths() {
    const bool passed = ::testing::UnitTest::GetInstance()->Passed();
    for (const std::string& path : paths_) {
      if (passed) {
        std::error_code ec;  // best effort: a leftover must not fail the run
        std::filesystem::remove_all(path, ec);
      } else if (std::filesystem::exists(path)) {
        std::fprintf(stderr, "kept %s (a test failed)\n", path.c_str());
      }
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::string> paths_;
};

// Registers `path` for removal at exit. The registry is made on the first call, after gtest's
// UnitTest (so it is destroyed before it, and can still ask whether the run passed).
inline void RemoveAtExitIfPassed(const std::string& path) {
  static TempPaths paths;
  paths.Add(path);
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_TEMP_CLEANUP_H_
