// strata._strata.Client and Registration: strata::Client (client/client.h) for Python.
//
// Every call reads its Python arguments under the GIL into C++ values (keys copied, buffers
// pinned in place, offsets checked against the registration), releases the GIL for the whole
// C++ call, and builds Python results after taking it back. Nothing is sent when an argument is
// wrong: the checks all run before the first byte moves.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "python/src/py_common.h"

namespace strata::python {
namespace {

// A registered buffer: the Python object's memory pinned, registered with the client. Shared
// by the Registration handle and every call in flight on it, so close() during a call leaves
// the memory registered and pinned until the call ends.
// Members are destroyed in reverse: deregistered, then unpinned, then the client let go.
// REQUIRES: destroyed with the GIL held.
struct RegState {
  RegState(std::shared_ptr<strata::Client> c, PinnedBytes b, py::object o)
      : client(std::move(c)), bytes(std::move(b)), owner(std::move(o)) {}
  std::shared_ptr<strata::Client> client;
  PinnedBytes bytes;
  py::object owner;  // the registered object, kept alive
  std::unique_ptr<RegisteredBuffer> reg;
};

class Registration {
 public:
  explicit Registration(std::shared_ptr<RegState> s) : state_(std::move(s)) {}
  std::shared_ptr<RegState> state(const char* what) const {
    if (!state_) throw py::value_error(std::string(what) + ": the registration is closed");
    return state_;
  }
  void close() { state_.reset(); }
  bool closed() const { return !state_; }
  uintptr_t address() const { return reinterpret_cast<uintptr_t>(state("address")->bytes.data()); }
  size_t size() const { return state("size")->bytes.size(); }
  bool writable() const { return !state("writable")->bytes.readonly(); }
  py::object obj() const { return state("obj")->owner; }

 private:
  std::shared_ptr<RegState> state_;
};

template <typename T>
T Unwrap(absl::StatusOr<T> r) {
  if (!r.ok()) RaiseStatus(r.status());
  return *std::move(r);
}

py::list Statuses(const std::vector<absl::Status>& in) {
  py::list out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = py::cast(KeyStatus::From(in[i]));
  return out;
}

// A GetInto result for Python: the size for a hit, None for a miss, a falsy Status otherwise.
py::list IntoResults(const std::vector<GetIntoResult>& in) {
  py::list out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].status.ok()) {
      out[i] = py::int_(in[i].size);
    } else if (absl::IsNotFound(in[i].status)) {
      out[i] = py::none();
    } else {
      out[i] = py::cast(KeyStatus::From(in[i].status));
    }
  }
  return out;
}

// The checked arguments of get_into / put_from.
struct Placement {
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> sizes;
};

Placement PlaceIn(const RegState& st, size_t nkeys, py::handle offsets, py::handle sizes,
                  const char* op, bool sizes_required) {
  Placement p;
  p.offsets = UintsFrom(offsets, std::string(op) + ": offsets");
  if (p.offsets.size() != nkeys) {
    throw py::value_error(std::string(op) + ": " + std::to_string(p.offsets.size()) +
                          " offsets for " + std::to_string(nkeys) + " keys");
  }
  const uint64_t cap = st.bytes.size();
  if (sizes.is_none()) {
    if (sizes_required) throw py::type_error(std::string(op) + ": sizes are required");
    for (uint64_t off : p.offsets) p.sizes.push_back(off < cap ? cap - off : 0);
  } else if (PyIndex_Check(sizes.ptr())) {
    const uint64_t each = UintsFrom(py::make_tuple(sizes), std::string(op) + ": sizes")[0];
    p.sizes.assign(nkeys, each);
  } else {
    p.sizes = UintsFrom(sizes, std::string(op) + ": sizes");
    if (p.sizes.size() != nkeys) {
      throw py::value_error(std::string(op) + ": " + std::to_string(p.sizes.size()) +
                            " sizes for " + std::to_string(nkeys) + " keys");
    }
  }
  for (size_t i = 0; i < nkeys; ++i) {
    if (p.offsets[i] >= cap || p.sizes[i] > cap - p.offsets[i] || p.sizes[i] == 0) {
      throw py::value_error(std::string(op) + ": key " + std::to_string(i) + ": [" +
                            std::to_string(p.offsets[i]) + ", +" + std::to_string(p.sizes[i]) +
                            ") is outside the registered buffer of " + std::to_string(cap) +
                            " bytes (or empty)");
    }
  }
  return p;
}

class PyClient {
 public:
  PyClient(std::optional<std::string> address, std::optional<std::vector<std::string>> nodes,
           std::optional<std::vector<std::string>> etcd, std::optional<std::string> cluster,
           int replicas, uint32_t deadline_ms, uint32_t connect_timeout_ms,
           const std::string& data_path, std::optional<std::string> token,
           std::optional<std::string> tls_ca_file) {
    ClientOptions o;
    if (address) o.address = *address;
    if (nodes) o.nodes = *nodes;
    if (etcd) {
      if (!cluster) throw py::value_error("Client: etcd= needs cluster=");
      o.etcd = *etcd;
    }
    if (cluster) o.cluster = *cluster;
    if (!address && !nodes && !etcd) {
      throw py::value_error("Client: give address='HOST:PORT', nodes=[...] or etcd=[...]");
    }
    if (replicas < 1) throw py::value_error("Client: replicas must be >= 1");
    o.placement.default_replicas = replicas;
    o.deadline_ms = deadline_ms;
    o.connect_timeout_ms = connect_timeout_ms;
    if (data_path == "auto") {
      o.data_path = ClientOptions::DataPath::kAuto;
    } else if (data_path == "ucx") {
      o.data_path = ClientOptions::DataPath::kUcx;
    } else if (data_path == "grpc") {
      o.data_path = ClientOptions::DataPath::kGrpc;
    } else {
      throw py::value_error("Client: data_path is 'auto', 'ucx' or 'grpc', not '" + data_path +
                            "'");
    }
    if (token) o.token = *token;
    if (tls_ca_file) o.tls_ca_file = *tls_ca_file;
    absl::StatusOr<std::unique_ptr<strata::Client>> c;
    {
      py::gil_scoped_release nogil;
      c = strata::Client::Connect(o);
    }
    client_ = std::shared_ptr<strata::Client>(Unwrap(std::move(c)));
  }

  // The connection, held for one call: close() from another thread while this call runs
  // without the GIL lets go of it only when the call ends. REQUIRES: the GIL.
  std::shared_ptr<strata::Client> Hold() const {
    if (!client_) throw py::value_error("Client is closed");
    return client_;
  }

  void close() {
    std::shared_ptr<strata::Client> c = std::move(client_);
    py::gil_scoped_release nogil;
    c.reset();  // registrations still alive keep the client until they go
  }

  py::list put(const std::string& ns, py::handle keys_in, py::handle values,
               py::handle parents_in) {
    std::vector<std::string> keys = KeysFrom(keys_in, "put: keys");
    if (LenOf(values, "put: values") != keys.size()) {
      throw py::value_error("put: " + std::to_string(LenOf(values, "put: values")) +
                            " values for " + std::to_string(keys.size()) + " keys");
    }
    std::vector<std::string> parents;
    if (!parents_in.is_none()) {
      parents = KeysFrom(parents_in, "put: parents");
      if (parents.size() != keys.size()) throw py::value_error("put: parents must match keys");
    }
    std::vector<PinnedBytes> pinned;
    pinned.reserve(keys.size());
    size_t i = 0;
    for (py::handle v : py::iter(values)) {
      pinned.push_back(PinnedBytes::From(v, false, "put: values[" + std::to_string(i++) + "]"));
    }
    std::vector<PutBlock> blocks(keys.size());
    for (size_t k = 0; k < keys.size(); ++k) {
      blocks[k].key = keys[k];
      if (!parents.empty()) blocks[k].parent = parents[k];
      blocks[k].payload = std::string_view(pinned[k].data(), pinned[k].size());
    }
    absl::StatusOr<std::vector<absl::Status>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->Put(ns, blocks);
    }
    return Statuses(Unwrap(std::move(r)));
  }

  py::list get(const std::string& ns, py::handle keys_in) {
    std::vector<std::string> keys = KeysFrom(keys_in, "get: keys");
    absl::StatusOr<std::vector<GetResult>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->Get(ns, keys);
    }
    std::vector<GetResult> res = Unwrap(std::move(r));
    py::list out(res.size());
    for (size_t i = 0; i < res.size(); ++i) {
      if (res[i].status.ok()) {
        out[i] = py::bytes(res[i].payload);
      } else if (absl::IsNotFound(res[i].status)) {
        out[i] = py::none();
      } else {
        out[i] = py::cast(KeyStatus::From(res[i].status));
      }
    }
    return out;
  }

  std::vector<bool> exists(const std::string& ns, py::handle keys_in) {
    std::vector<std::string> keys = KeysFrom(keys_in, "exists: keys");
    absl::StatusOr<std::vector<bool>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->Exists(ns, keys);
    }
    return Unwrap(std::move(r));
  }

  std::vector<bool> remove(const std::string& ns, py::handle keys_in) {
    std::vector<std::string> keys = KeysFrom(keys_in, "remove: keys");
    absl::StatusOr<std::vector<bool>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->Remove(ns, keys);
    }
    return Unwrap(std::move(r));
  }

  size_t lookup(const std::string& ns, py::handle keys_in, uint32_t lease_ms) {
    std::vector<std::string> keys = KeysFrom(keys_in, "lookup: keys");
    if (keys.empty()) return 0;
    absl::StatusOr<size_t> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->Lookup(ns, keys, lease_ms);
    }
    return Unwrap(std::move(r));
  }

  Registration register_buffer(py::object obj) {
    if (!client_) throw py::value_error("Client is closed");
    auto st = std::make_shared<RegState>(client_, PinnedBytes::From(obj, false, "register"), obj);
    if (st->bytes.size() == 0) throw py::value_error("register: the buffer is empty");
    absl::StatusOr<std::unique_ptr<RegisteredBuffer>> r;
    {
      py::gil_scoped_release nogil;
      r = st->client->RegisterBuffer(st->bytes.data(), st->bytes.size());
    }
    st->reg = Unwrap(std::move(r));
    return Registration(std::move(st));
  }

  py::list get_into(const std::string& ns, py::handle keys_in, const Registration& handle,
                    py::handle offsets, py::handle sizes) {
    std::shared_ptr<RegState> st = handle.state("get_into");
    if (st->bytes.readonly()) {
      throw py::type_error(
          "get_into: the registered buffer is read-only (register a writable one)");
    }
    std::vector<std::string> keys = KeysFrom(keys_in, "get_into: keys");
    Placement p = PlaceIn(*st, keys.size(), offsets, sizes, "get_into", false);
    absl::StatusOr<std::vector<GetIntoResult>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->GetInto(ns, keys, *st->reg, p.offsets, p.sizes);
    }
    return IntoResults(Unwrap(std::move(r)));
  }

  py::list put_from(const std::string& ns, py::handle keys_in, const Registration& handle,
                    py::handle offsets, py::handle sizes, py::handle parents_in) {
    std::shared_ptr<RegState> st = handle.state("put_from");
    std::vector<std::string> keys = KeysFrom(keys_in, "put_from: keys");
    Placement p = PlaceIn(*st, keys.size(), offsets, sizes, "put_from", true);
    std::vector<std::string> parents;
    if (!parents_in.is_none()) {
      parents = KeysFrom(parents_in, "put_from: parents");
      if (parents.size() != keys.size()) throw py::value_error("put_from: parents must match keys");
    }
    std::vector<PutFromBlock> blocks(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      blocks[i].key = keys[i];
      if (!parents.empty()) blocks[i].parent = parents[i];
      blocks[i].offset = p.offsets[i];
      blocks[i].size = p.sizes[i];
    }
    absl::StatusOr<std::vector<absl::Status>> r;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      r = cl->PutFrom(ns, *st->reg, blocks);
    }
    return Statuses(Unwrap(std::move(r)));
  }

  // The timing hook benchmarks compare against: the same get_into / put_from as C++ calls in a
  // C++ loop (no Python between iterations), seconds per iteration.
  std::vector<double> time_cpp(const std::string& op, const std::string& ns, py::handle keys_in,
                               const Registration& handle, py::handle offsets, py::handle sizes,
                               int iterations) {
    std::shared_ptr<RegState> st = handle.state("_time_cpp");
    std::vector<std::string> keys = KeysFrom(keys_in, "_time_cpp: keys");
    Placement p = PlaceIn(*st, keys.size(), offsets, sizes, "_time_cpp", true);
    std::vector<PutFromBlock> blocks(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      blocks[i].key = keys[i];
      blocks[i].offset = p.offsets[i];
      blocks[i].size = p.sizes[i];
    }
    const bool get = op == "get_into";
    if (!get && op != "put_from") throw py::value_error("_time_cpp: op is get_into or put_from");
    std::vector<double> secs;
    absl::Status failed;
    std::shared_ptr<strata::Client> cl = Hold();
    {
      py::gil_scoped_release nogil;
      for (int it = 0; it < iterations && failed.ok(); ++it) {
        const auto t0 = std::chrono::steady_clock::now();
        if (get) {
          auto r = cl->GetInto(ns, keys, *st->reg, p.offsets, p.sizes);
          if (!r.ok()) failed = r.status();
        } else {
          auto r = cl->PutFrom(ns, *st->reg, blocks);
          if (!r.ok()) failed = r.status();
        }
        secs.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    if (!failed.ok()) RaiseStatus(failed);
    return secs;
  }

  std::string data_path() const { return std::string(Hold()->data_path()); }
  py::dict counters() const {
    const auto k = Hold()->data_path_counters();
    py::dict d;
    d["ucx_calls"] = k.ucx_calls;
    d["grpc_calls"] = k.grpc_calls;
    d["fallbacks"] = k.fallbacks;
    d["sessions"] = k.sessions;
    d["message_calls"] = k.message_calls;
    return d;
  }
  size_t max_batch() const { return Hold()->limits().max_batch; }
  uint64_t max_payload() const { return Hold()->limits().max_payload_bytes; }

 private:
  std::shared_ptr<strata::Client> client_;
};

}  // namespace

void InitClient(py::module_& m) {
  py::class_<Registration>(m, "Registration",
                           "A buffer registered with Client.register(); pass it to get_into / "
                           "put_from. The buffer stays pinned until close() (or until the handle "
                           "and every call using it are gone).")
      .def_property_readonly("address", &Registration::address,
                             "address of the registered memory's first byte")
      .def_property_readonly("size", &Registration::size, "bytes registered")
      .def_property_readonly("writable", &Registration::writable)
      .def_property_readonly("closed", &Registration::closed)
      .def_property_readonly("obj", &Registration::obj, "the registered object")
      .def("close", &Registration::close)
      .def("__enter__", [](Registration& r) -> Registration& { return r; })
      .def("__exit__", [](Registration& r, py::args) { r.close(); });

  py::class_<PyClient>(m, "_Client", py::dynamic_attr())
      .def(py::init<std::optional<std::string>, std::optional<std::vector<std::string>>,
                    std::optional<std::vector<std::string>>, std::optional<std::string>, int,
                    uint32_t, uint32_t, const std::string&, std::optional<std::string>,
                    std::optional<std::string>>(),
           py::arg("address") = py::none(), py::kw_only(), py::arg("nodes") = py::none(),
           py::arg("etcd") = py::none(), py::arg("cluster") = py::none(), py::arg("replicas") = 1,
           py::arg("deadline_ms") = 30'000, py::arg("connect_timeout_ms") = 5'000,
           py::arg("data_path") = "auto", py::arg("token") = py::none(),
           py::arg("tls_ca_file") = py::none())
      .def("close", &PyClient::close)
      .def("put", &PyClient::put, py::arg("namespace"), py::arg("keys"), py::arg("values"),
           py::arg("parents") = py::none())
      .def("get", &PyClient::get, py::arg("namespace"), py::arg("keys"))
      .def("exists", &PyClient::exists, py::arg("namespace"), py::arg("keys"))
      .def("remove", &PyClient::remove, py::arg("namespace"), py::arg("keys"))
      .def("lookup", &PyClient::lookup, py::arg("namespace"), py::arg("keys"),
           py::arg("lease_ms") = 0)
      .def("register", &PyClient::register_buffer, py::arg("buffer"))
      .def("get_into", &PyClient::get_into, py::arg("namespace"), py::arg("keys"),
           py::arg("handle"), py::arg("offsets"), py::arg("sizes") = py::none())
      .def("put_from", &PyClient::put_from, py::arg("namespace"), py::arg("keys"),
           py::arg("handle"), py::arg("offsets"), py::arg("sizes"), py::arg("parents") = py::none())
      .def("_time_cpp", &PyClient::time_cpp, py::arg("op"), py::arg("namespace"), py::arg("keys"),
           py::arg("handle"), py::arg("offsets"), py::arg("sizes"), py::arg("iterations"))
      .def_property_readonly("data_path", &PyClient::data_path)
      .def_property_readonly("counters", &PyClient::counters)
      .def_property_readonly("max_batch", &PyClient::max_batch)
      .def_property_readonly("max_payload", &PyClient::max_payload);
}

}  // namespace strata::python
