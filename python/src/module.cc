// The _strata extension module: errors and per-key statuses here, the rest in py_*.cc.
#include <pybind11/pybind11.h>

#include "absl/status/status.h"
#include "common/malloc_tuning.h"
#include "python/src/py_common.h"

namespace strata::python {
namespace {

// The StrataError type, created at module init and kept for the process's life (modules are
// never unloaded in CPython); a plain pointer so no destructor runs after the interpreter ends.
PyObject* g_error_type = nullptr;

}  // namespace

void RaiseStatus(const absl::Status& status) {
  py::object type = py::reinterpret_borrow<py::object>(g_error_type);
  py::object exc = type(py::str(std::string(status.message())));
  exc.attr("code") = static_cast<int>(status.code());
  exc.attr("code_name") = absl::StatusCodeToString(status.code());
  PyErr_SetObject(g_error_type, exc.ptr());
  throw py::error_already_set();
}

void InitErrors(py::module_& m) {
  g_error_type = PyErr_NewExceptionWithDoc(
      "strata.StrataError",
      "A Strata call failed as a whole. .code is the status code (strata.StatusCode), "
      ".code_name its name; a miss is never an error.",
      PyExc_RuntimeError, nullptr);
  m.add_object("StrataError", py::reinterpret_borrow<py::object>(g_error_type));

  py::module_ codes = m.def_submodule("StatusCode", "absl::StatusCode values, as ints");
  for (int c = 0; c <= 16; ++c) {
    codes.attr(py::str(absl::StatusCodeToString(static_cast<absl::StatusCode>(c)))) = c;
  }

  py::class_<KeyStatus>(m, "Status",
                        "One key's outcome: truthy when OK, else .code / .code_name / .message.")
      .def_property_readonly("ok", &KeyStatus::ok)
      .def_readonly("code", &KeyStatus::code)
      .def_readonly("message", &KeyStatus::message)
      .def_property_readonly(
          "code_name",
          [](const KeyStatus& s) {
            return absl::StatusCodeToString(static_cast<absl::StatusCode>(s.code));
          })
      .def("__bool__", &KeyStatus::ok)
      .def("__eq__", [](const KeyStatus& a, const KeyStatus& b) { return a.code == b.code; })
      .def("__repr__", [](const KeyStatus& s) {
        if (s.ok()) return std::string("Status(OK)");
        return "Status(" + absl::StatusCodeToString(static_cast<absl::StatusCode>(s.code)) + ", '" +
               s.message + "')";
      });
}

}  // namespace strata::python

PYBIND11_MODULE(_strata, m) {
  m.doc() = "Strata's C++ client (strata::Client) for Python; use the `strata` package.";
  strata::python::InitErrors(m);
  strata::python::InitBuffers(m);
  strata::python::InitClient(m);
  strata::python::InitHashing(m);
  m.def("keep_large_buffers_in_heap", &strata::KeepLargeBuffersInHeap,
        "strata::KeepLargeBuffersInHeap (common/malloc_tuning.h): glibc keeps large transient "
        "buffers for reuse, so gRPC-bytes calls (get, put, and get_into/put_from without UCX) "
        "do not page-fault fresh memory every call. Process-wide; call it first, before threads "
        "start. Returns False where the allocator ignores it. Opt-in: importing strata does not.");
}
