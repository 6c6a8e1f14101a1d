#include "stratactl/ctl.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/block_hasher.h"

namespace strata::ctl {

int Fail(const absl::Status& status) {
  std::cerr << "stratactl: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitError;
}

int Usage(const std::string& message) {
  std::cerr << "stratactl: " << message << "\n";
  return kExitUsage;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const Globals& g) {
  ClientOptions o;
  o.address = g.node;
  o.tls_ca_file = g.tls_ca;
  o.token = g.token;
  o.deadline_ms = g.deadline_ms;
  o.data_path = g.data_path;
  return Client::Connect(o);
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

void PrintJson(const nlohmann::json& j) { std::cout << j.dump() << "\n"; }

}  // namespace strata::ctl
