#include "storage/eviction_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "storage/eviction/adaptive.h"
#include "storage/eviction/cost.h"
#include "storage/eviction/demote_lru.h"
#include "storage/eviction/leaf_lru.h"
#include "storage/eviction/lru.h"
#include "storage/eviction/prefix_aware.h"
#include "storage/eviction/s3fifo.h"

namespace strata {

std::vector<std::string> EvictionPolicyNames() {
  return {"lru", "s3fifo", "leaf-lru", "cost", "prefix-aware", "demote-lru", "adaptive"};
}

absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name) {
  if (name == "lru") return std::make_unique<LruPolicy>();
  if (name == "s3fifo") return std::make_unique<S3FifoPolicy>();
  if (name == "leaf-lru") return std::make_unique<LeafFirstLru>();
  if (name == "cost") return std::make_unique<GdsfCostPolicy>();
  if (name == "prefix-aware") return std::make_unique<PrefixAwarePolicy>();
  if (name == "demote-lru") return std::make_unique<DemoteLruPolicy>();
  if (name == "adaptive") {
    auto p = AdaptivePolicy::Create(AdaptivePolicy::Options{});
    if (!p.ok()) return p.status();
    return std::unique_ptr<EvictionPolicy>(std::move(*p));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("eviction policy '", AsAbsl(name),
                   "': unknown (known: ", absl::StrJoin(EvictionPolicyNames(), ", "), ")"));
}

}  // namespace strata
