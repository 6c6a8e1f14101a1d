#include "stratactl/ctl.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/block_hasher.h"

namespace strata::ctl {
namespace {

// A view older than this is announced on stderr (a lease TTL plus a little).
constexpr uint64_t kStaleViewMs = 6'000;

}  // namespace

int Fail(const absl::Status& status) {
  std::cerr << "stratactl: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitError;
}

int Usage(const std::string& message) {
  std::cerr << "stratactl: " << message << "\n";
  return kExitUsage;
}

uint64_t ViewAgeMs(const cluster::ClusterView& view) {
  const uint64_t now = cluster::NowUnixMs();
  return now > view.confirmed_unix_ms ? now - view.confirmed_unix_ms : 0;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const Globals& g) {
  ClientOptions o;
  if (!g.etcd.empty()) {
    if (g.cluster.empty()) return absl::InvalidArgumentError("--cluster: required with --etcd");
    for (absl::string_view part : absl::StrSplit(g.etcd, ',', absl::SkipEmpty())) {
      o.etcd.emplace_back(part);
    }
    o.cluster = g.cluster;
  } else if (!g.nodes.empty()) {
    for (absl::string_view part : absl::StrSplit(g.nodes, ',', absl::SkipEmpty())) {
      o.nodes.emplace_back(part);
    }
  }
  if (g.replicas < 1) return absl::InvalidArgumentError("--replicas: must be at least 1");
  o.placement.default_replicas = g.replicas;
  o.address = g.node;
  o.tls_ca_file = g.tls_ca;
  o.tls_cert_file = g.tls_cert;
  o.tls_key_file = g.tls_key;
  o.token = g.token;
  o.deadline_ms = g.deadline_ms;
  o.data_path = g.data_path;
  auto client = Client::Connect(o);
  if (client.ok()) {
    std::shared_ptr<const cluster::ClusterView> view = (*client)->view();
    const uint64_t age = ViewAgeMs(*view);
    if (age > kStaleViewMs) {
      std::cerr << "stratactl: using the " << cluster::ViewSourceName(view->source) << " view, "
                << age / 1000 << " s old\n";
    }
  }
  return client;
}

absl::StatusOr<std::string> HexKey(const std::string& hex, const std::string& flag) {
  std::string key;
  if (hex.empty() || !FromHex(hex, &key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", hex, "' is not an even-length hex string"));
  }
  return key;
}

absl::StatusOr<std::vector<std::string>> HexKeys(const std::string& csv, const std::string& flag) {
  std::vector<std::string> keys;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    auto key = HexKey(std::string(part), flag);
    if (!key.ok()) return key.status();
    keys.push_back(*std::move(key));
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": no keys given"));
  return keys;
}

nlohmann::json TiersJson(const google::protobuf::RepeatedPtrField<v1::TierInfo>& tiers) {
  nlohmann::json out = nlohmann::json::array();
  for (const v1::TierInfo& t : tiers) {
    out.push_back({{"name", t.name()},
                   {"available", t.available()},
                   {"capacity_bytes", t.capacity_bytes()},
                   {"used_bytes", t.used_bytes()},
                   {"blocks", t.blocks()},
                   {"policy", t.policy()},
                   {"detail", t.detail()}});
  }
  return out;
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump() << "\n"; }

}  // namespace strata::ctl
