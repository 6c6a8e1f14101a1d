// The device the HbmTier tests run on: the in-memory twin in storage_test, a CUDA device in
// hbm_gpu_test (the same test file, linked with a different hbm_test_device_*.cc).
#ifndef STRATA_TESTS_STORAGE_HBM_TEST_DEVICE_H_
#define STRATA_TESTS_STORAGE_HBM_TEST_DEVICE_H_

#include <memory>
#include <string>

#include "storage/device_memory.h"

namespace strata::storage_test {

// The device, or nullptr with *why_not saying why the tests cannot run here.
std::unique_ptr<DeviceMemory> HbmTestDevice(std::string* why_not);

}  // namespace strata::storage_test

#define STRATA_HBM_DEVICE_OR_SKIP(var)                                       \
  std::string strata_why_not_##var;                                             \
  std::unique_ptr<DeviceMemory> var =                                        \
      ::strata::storage_test::HbmTestDevice(&strata_why_not_##var);             \
  if (var == nullptr) GTEST_SKIP() << strata_why_not_##var

#endif  // STRATA_TESTS_STORAGE_HBM_TEST_DEVICE_H_
