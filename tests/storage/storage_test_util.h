// Helpers shared by the storage tests (one binary, storage_test).
#ifndef STRATA_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
#define STRATA_TESTS_STORAGE_STORAGE_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "tests/testing/temp_cleanup.h"

namespace strata::storage_test {

// n pseudo-random bytes, the same for the same seed.
inline std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// An empty directory path under the temp dir, unique to this process (removed if it existed;
// created by whoever uses it; removed at exit when every test passed).
inline std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("strata-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  strata::testing::RemoveAtExitIfPassed(dir.string());
  return dir.string();
}

}  // namespace strata::storage_test

#endif  // STRATA_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
