#include "storage/eviction_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "storage/eviction/lru.h"

namespace strata {

std::vector<std::string> EvictionPolicyNames() { return {"lru"}; }

absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name) {
  if (name == "lru") return std::make_unique<LruPolicy>();
  return absl::InvalidArgumentError(
      absl::StrCat("eviction policy '", AsAbsl(name),
                   "': unknown (known: ", absl::StrJoin(EvictionPolicyNames(), ", "), ")"));
}

}  // namespace strata
