// What the pieces of the _strata extension module share: turning absl::Status into Python
// (StrataError for a failed call, strata.Status for one key's outcome), holding a Python object's
// bytes in place while C++ reads or writes them (buffer protocol or DLPack), and reading keys and
// integer lists from Python.
//
// Every function here REQUIRES the GIL; the values they return may be used without it (a
// PinnedBytes' pointer stays valid while the PinnedBytes lives), but are destroyed with it.
#ifndef STRATA_PYTHON_SRC_PY_COMMON_H_
#define STRATA_PYTHON_SRC_PY_COMMON_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace strata::python {

namespace py = pybind11;

// One key's outcome: OK, or a code and message. Truthy when OK. Exposed as strata.Status.
struct KeyStatus {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
  static KeyStatus From(const absl::Status& s) {
    return KeyStatus{static_cast<int>(s.code()), std::string(s.message())};
  }
};

// Raises strata.StrataError(message) with .code (absl::StatusCode as int) and .code_name.
// REQUIRES: !status.ok(); InitErrors ran (module init).
[[noreturn]] void RaiseStatus(const absl::Status& status);
void InitErrors(py::module_& m);

// A Python object's memory, held in place (exported, so e.g. a numpy array cannot be resized)
// until this is destroyed. From() accepts the buffer protocol (numpy, memoryview, bytearray,
// bytes, mmap) and, for objects without it, DLPack (`__dlpack__`, CPU tensors only).
// Raises ValueError for a non-contiguous buffer, TypeError for an object with neither protocol
// or, when `writable`, a read-only one. `what` names the argument in messages.
class PinnedBytes {
 public:
  static PinnedBytes From(py::handle obj, bool writable, const std::string& what);
  PinnedBytes(PinnedBytes&& other) noexcept;
  PinnedBytes& operator=(PinnedBytes&&) = delete;
  PinnedBytes(const PinnedBytes&) = delete;
  ~PinnedBytes();  // REQUIRES: the GIL

  char* data() const { return data_; }
  size_t size() const { return size_; }
  bool readonly() const { return readonly_; }

 private:
  PinnedBytes() = default;
  char* data_ = nullptr;
  size_t size_ = 0;
  bool readonly_ = true;
  bool has_view_ = false;
  Py_buffer view_{};
  void* dlpack_ = nullptr;  // DLManagedTensor*, released through its deleter
  py::object capsule_;
};

// A key from str (UTF-8) or bytes-like. TypeError otherwise.
std::string KeyFrom(py::handle obj, const std::string& what);
std::vector<std::string> KeysFrom(py::handle seq, const std::string& what);
// Non-negative integers from a sequence of ints (numpy integers included) or an integer numpy
// array. TypeError for anything else (floats, strings); ValueError for negatives.
std::vector<uint64_t> UintsFrom(py::handle seq, const std::string& what);
// The length of a sized argument, TypeError when it has none.
size_t LenOf(py::handle obj, const std::string& what);

void InitBuffers(py::module_& m);
void InitClient(py::module_& m);
void InitHashing(py::module_& m);

}  // namespace strata::python

#endif  // STRATA_PYTHON_SRC_PY_COMMON_H_
