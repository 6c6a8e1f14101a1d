// PinnedBytes and the argument readers of py_common.h.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>

#include "python/src/py_common.h"

namespace strata::python {
namespace {

// DLPack's ABI (dlpack.h, v0.x): the structs a `__dlpack__()` capsule named "dltensor" points to.
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null: compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
constexpr int32_t kDLCPU = 1;
constexpr int32_t kDLCUDAHost = 3;

bool IntegerFormat(const char* format) {
  if (format == nullptr) return false;
  std::string_view f(format);
  if (!f.empty() && (f[0] == '<' || f[0] == '=' || f[0] == '@' || f[0] == '!' || f[0] == '>')) {
    f.remove_prefix(1);
  }
  return f.size() == 1 && std::strchr("bBhHiIlLqQnN", f[0]) != nullptr;
}

bool SignedFormat(const char* format) {
  std::string_view f(format);
  const char c = f.back();
  return c == 'b' || c == 'h' || c == 'i' || c == 'l' || c == 'q' || c == 'n';
}

}  // namespace

PinnedBytes::PinnedBytes(PinnedBytes&& o) noexcept
    : data_(o.data_),
      size_(o.size_),
      readonly_(o.readonly_),
      has_view_(o.has_view_),
      view_(o.view_),
      dlpack_(o.dlpack_),
      capsule_(std::move(o.capsule_)) {
  o.has_view_ = false;
  o.dlpack_ = nullptr;
  o.data_ = nullptr;
  o.size_ = 0;
}

PinnedBytes::~PinnedBytes() {
  if (has_view_) PyBuffer_Release(&view_);
  if (dlpack_ != nullptr) {
    auto* t = static_cast<DLManagedTensor*>(dlpack_);
    if (t->deleter != nullptr) t->deleter(t);
  }
}

PinnedBytes PinnedBytes::From(py::handle obj, bool writable, const std::string& what) {
  PinnedBytes out;
  if (PyObject_CheckBuffer(obj.ptr())) {
    // Ask for strides so a non-contiguous array is exported (and then refused with a clear
    // message) rather than failing inside the exporter with a generic one.
    const int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj.ptr(), &out.view_, flags) != 0) {
      PyErr_Clear();
      if (writable && PyObject_GetBuffer(obj.ptr(), &out.view_, PyBUF_STRIDES) == 0) {
        PyBuffer_Release(&out.view_);
        throw py::type_error(what + ": the buffer is read-only; a destination must be writable");
      }
      PyErr_Clear();
      throw py::type_error(what + ": cannot export a buffer from " +
                           std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    out.has_view_ = true;
    if (!PyBuffer_IsContiguous(&out.view_, 'C')) {
      throw py::value_error(
          what + ": the buffer is not C-contiguous (a strided view or a " +
          "transposed array); pass a contiguous one, e.g. numpy.ascontiguousarray");
    }
    out.data_ = static_cast<char*>(out.view_.buf);
    out.size_ = static_cast<size_t>(out.view_.len);
    out.readonly_ = out.view_.readonly != 0;
    return out;
  }
  if (py::hasattr(obj, "__dlpack__")) {
    py::object capsule = obj.attr("__dlpack__")();
    auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
    if (t == nullptr) {
      PyErr_Clear();
      throw py::type_error(what + ": __dlpack__() did not return an unused 'dltensor' capsule");
    }
    // Take ownership: the capsule no longer deletes the tensor, we do (~PinnedBytes).
    PyCapsule_SetName(capsule.ptr(), "used_dltensor");
    out.dlpack_ = t;
    out.capsule_ = std::move(capsule);
    const DLTensor& d = t->dl_tensor;
    if (d.device.device_type != kDLCPU && d.device.device_type != kDLCUDAHost) {
      throw py::type_error(what + ": DLPack tensor is not in host memory (device type " +
                           std::to_string(d.device.device_type) + "); copy it to the CPU first");
    }
    const size_t itembits = static_cast<size_t>(d.dtype.bits) * d.dtype.lanes;
    if (itembits % 8 != 0) throw py::type_error(what + ": DLPack dtype is not whole bytes");
    size_t count = 1;
    int64_t expected = 1;
    bool contiguous = true;
    for (int i = d.ndim - 1; i >= 0; --i) {
      if (d.strides != nullptr && d.shape[i] != 1 && d.strides[i] != expected) contiguous = false;
      expected *= d.shape[i];
      count *= static_cast<size_t>(d.shape[i]);
    }
    if (!contiguous) {
      throw py::value_error(what + ": the tensor is not contiguous; call .contiguous() first");
    }
    out.data_ = static_cast<char*>(d.data) + d.byte_offset;
    out.size_ = count * (itembits / 8);
    out.readonly_ = false;  // DLPack 0.x has no read-only flag
    return out;
  }
  throw py::type_error(what + ": expected a buffer (numpy array, memoryview, bytearray, bytes) " +
                       "or a DLPack tensor, got " +
                       std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
}

std::string KeyFrom(py::handle obj, const std::string& what) {
  if (PyUnicode_Check(obj.ptr())) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
    if (s == nullptr) throw py::error_already_set();
    return std::string(s, static_cast<size_t>(n));
  }
  if (PyBytes_Check(obj.ptr())) {
    return std::string(PyBytes_AS_STRING(obj.ptr()),
                       static_cast<size_t>(PyBytes_GET_SIZE(obj.ptr())));
  }
  if (PyObject_CheckBuffer(obj.ptr())) {
    PinnedBytes b = PinnedBytes::From(obj, false, what);
    return std::string(b.data(), b.size());
  }
  throw py::type_error(what + ": a key is str or bytes, got " +
                       std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
}

std::vector<std::string> KeysFrom(py::handle seq, const std::string& what) {
  if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr())) {
    throw py::type_error(what + ": expected a list of keys, got a single str/bytes");
  }
  std::vector<std::string> keys;
  keys.reserve(LenOf(seq, what));
  size_t i = 0;
  for (py::handle k : py::iter(seq)) {
    keys.push_back(KeyFrom(k, what + "[" + std::to_string(i++) + "]"));
  }
  return keys;
}

size_t LenOf(py::handle obj, const std::string& what) {
  const Py_ssize_t n = PyObject_Length(obj.ptr());
  if (n < 0) {
    PyErr_Clear();
    throw py::type_error(what + ": expected a sequence");
  }
  return static_cast<size_t>(n);
}

std::vector<uint64_t> UintsFrom(py::handle seq, const std::string& what) {
  std::vector<uint64_t> out;
  if (PyObject_CheckBuffer(seq.ptr())) {
    Py_buffer view;
    if (PyObject_GetBuffer(seq.ptr(), &view, PyBUF_STRIDES | PyBUF_FORMAT) != 0) {
      throw py::error_already_set();
    }
    struct Release {
      Py_buffer* v;
      ~Release() { PyBuffer_Release(v); }
    } release{&view};
    if (!IntegerFormat(view.format)) {
      throw py::type_error(what + ": must be integers, got an array of format '" +
                           std::string(view.format ? view.format : "?") + "'");
    }
    if (view.ndim > 1) throw py::value_error(what + ": must be one-dimensional");
    const size_t n = view.ndim == 0 ? 1 : static_cast<size_t>(view.shape[0]);
    const Py_ssize_t stride = view.ndim == 0 ? view.itemsize : view.strides[0];
    const bool is_signed = SignedFormat(view.format);
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const char* p = static_cast<const char*>(view.buf) + static_cast<Py_ssize_t>(i) * stride;
      int64_t v = 0;
      uint64_t u = 0;
      switch (view.itemsize) {
        case 1:
          is_signed ? v = *reinterpret_cast<const int8_t*>(p)
                    : u = *reinterpret_cast<const uint8_t*>(p);
          break;
        case 2: {
          int16_t s;
          uint16_t w;
          std::memcpy(&s, p, 2);
          std::memcpy(&w, p, 2);
          is_signed ? v = s : u = w;
          break;
        }
        case 4: {
          int32_t s;
          uint32_t w;
          std::memcpy(&s, p, 4);
          std::memcpy(&w, p, 4);
          is_signed ? v = s : u = w;
          break;
        }
        case 8: {
          int64_t s;
          uint64_t w;
          std::memcpy(&s, p, 8);
          std::memcpy(&w, p, 8);
          is_signed ? v = s : u = w;
          break;
        }
        default:
          throw py::type_error(what + ": unsupported integer size");
      }
      if (is_signed) {
        if (v < 0) throw py::value_error(what + "[" + std::to_string(i) + "] is negative");
        u = static_cast<uint64_t>(v);
      }
      out.push_back(u);
    }
    return out;
  }
  if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr())) {
    throw py::type_error(what + ": must be a sequence of integers, got a string");
  }
  out.reserve(LenOf(seq, what));
  size_t i = 0;
  for (py::handle item : py::iter(seq)) {
    if (!PyIndex_Check(item.ptr())) {
      throw py::type_error(what + "[" + std::to_string(i) + "]: must be an integer, got " +
                           std::string(py::str(py::type::handle_of(item).attr("__name__"))));
    }
    py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(item.ptr()));
    if (!idx) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(idx.ptr(), &overflow);
    if (overflow != 0 || v < 0) {
      throw py::value_error(what + "[" + std::to_string(i) +
                            "]: out of range (negative or > 2^63)");
    }
    out.push_back(static_cast<uint64_t>(v));
    ++i;
  }
  return out;
}

void InitBuffers(py::module_& m) {
  m.def(
      "address_of",
      [](py::handle obj) {
        PinnedBytes b = PinnedBytes::From(obj, false, "buffer");
        return reinterpret_cast<uintptr_t>(b.data());
      },
      py::arg("buffer"),
      "The address of a contiguous buffer's first byte (buffer protocol or DLPack), as the "
      "module sees it: for checking that transfers land in place.");
}

}  // namespace strata::python
