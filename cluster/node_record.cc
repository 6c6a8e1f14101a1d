#include "cluster/node_record.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace strata::cluster {

std::string_view NodeStateName(NodeState state) {
  return state == NodeState::kDraining ? "draining" : "active";
}

std::string_view ViewSourceName(ViewSource source) {
  switch (source) {
    case ViewSource::kEtcd:
      return "etcd";
    case ViewSource::kNode:
      return "node";
    case ViewSource::kStatic:
      break;
  }
  return "static";
}

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t NodeRecord::Weight() const {
  uint64_t w = 0;
  for (const TierUsage& t : tiers) {
    if (t.available && (t.name == "dram" || t.name == "ssd")) w += t.capacity_bytes;
  }
  return std::max<uint64_t>(w, 1);
}

std::string NodeRecord::ToJson() const {
  nlohmann::json j;
  j["id"] = id;
  j["address"] = address;
  j["data_plane"] = data_plane;
  j["state"] = std::string(NodeStateName(state));
  j["tiers"] = nlohmann::json::array();
  for (const TierUsage& t : tiers) {
    j["tiers"].push_back({{"name", t.name},
                          {"available", t.available},
                          {"capacity_bytes", t.capacity_bytes},
                          {"used_bytes", t.used_bytes},
                          {"blocks", t.blocks}});
  }
  j["hits"] = hits;
  j["misses"] = misses;
  j["heartbeat_unix_ms"] = heartbeat_unix_ms;
  j["started_unix_ms"] = started_unix_ms;
  return j.dump();
}

absl::StatusOr<NodeRecord> NodeRecord::FromJson(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("node record: not a JSON object");
  NodeRecord r;
  // Reads an optional field of the expected type; a present field of another type is an error.
  absl::Status bad;
  auto get = [&](const char* name, auto* out) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return false;
    using T = std::remove_pointer_t<decltype(out)>;
    bool ok = false;
    if constexpr (std::is_same_v<T, std::string>) {
      ok = it->is_string();
    } else if constexpr (std::is_same_v<T, bool>) {
      ok = it->is_boolean();
    } else {
      ok = it->is_number_unsigned() || (it->is_number_integer() && it->template get<int64_t>() >= 0);
    }
    if (!ok) {
      if (bad.ok()) bad = absl::InvalidArgumentError(absl::StrCat("node record: field '", name,
                                                                  "' has the wrong type"));
      return false;
    }
    *out = it->template get<T>();
    return true;
  };
  if (!get("id", &r.id) || r.id.empty()) {
    return bad.ok() ? absl::InvalidArgumentError("node record: field 'id' is missing") : bad;
  }
  if (!get("address", &r.address) || r.address.empty()) {
    return bad.ok() ? absl::InvalidArgumentError("node record: field 'address' is missing") : bad;
  }
  get("data_plane", &r.data_plane);
  std::string state = "active";
  get("state", &state);
  if (state == "draining") {
    r.state = NodeState::kDraining;
  } else if (state != "active") {
    return absl::InvalidArgumentError(absl::StrCat("node record: field 'state' is '", state,
                                                   "', not active or draining"));
  }
  get("hits", &r.hits);
  get("misses", &r.misses);
  get("heartbeat_unix_ms", &r.heartbeat_unix_ms);
  get("started_unix_ms", &r.started_unix_ms);
  if (auto it = j.find("tiers"); it != j.end() && it->is_array()) {
    for (const nlohmann::json& t : *it) {
      if (!t.is_object()) return absl::InvalidArgumentError("node record: a tier is not an object");
      TierUsage u;
      u.name = t.value("name", "");
      u.available = t.value("available", false);
      u.capacity_bytes = t.value("capacity_bytes", uint64_t{0});
      u.used_bytes = t.value("used_bytes", uint64_t{0});
      u.blocks = t.value("blocks", uint64_t{0});
      r.tiers.push_back(std::move(u));
    }
  }
  if (!bad.ok()) return bad;
  return r;
}

std::vector<const NodeRecord*> ClusterView::Active() const {
  std::vector<const NodeRecord*> out;
  for (const NodeRecord& n : nodes) {
    if (n.state == NodeState::kActive) out.push_back(&n);
  }
  return out;
}

const NodeRecord* ClusterView::Find(std::string_view id) const {
  for (const NodeRecord& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

}  // namespace strata::cluster
