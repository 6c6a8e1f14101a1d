#include "storage/tier_shares.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {

std::string_view ShareUsage::NamespaceOf(std::string_view id) {
  return id.substr(0, id.find('\0'));
}

void ShareUsage::Set(std::shared_ptr<const TierShares> shares) {
  absl::MutexLock lock(&mu_);
  shares_ = std::move(shares);
  by_share_.clear();
  if (shares_ == nullptr) return;
  for (const auto& [ns, bytes] : by_namespace_) {
    const size_t s = shares_->ShareOf(ns);
    if (s == TierShares::kNoShare) continue;
    if (by_share_.size() < (s + 1) * tiers_) by_share_.resize((s + 1) * tiers_, 0);
    for (size_t t = 0; t < tiers_; ++t) by_share_[s * tiers_ + t] += bytes[t];
  }
}

void ShareUsage::Charge(std::string_view id, size_t tier, int64_t delta) {
  if (!track_ || delta == 0) return;
  const std::string_view ns = NamespaceOf(id);
  absl::MutexLock lock(&mu_);
  auto it = by_namespace_.find(AsAbsl(ns));
  if (it == by_namespace_.end()) {
    it = by_namespace_.emplace(std::string(ns), std::vector<uint64_t>(tiers_, 0)).first;
  }
  // Unsigned arithmetic: a removal never exceeds what was charged (the store charges and
  // refunds the same slot's bytes).
  it->second[tier] += static_cast<uint64_t>(delta);
  bool empty = true;
  for (uint64_t b : it->second) empty = empty && b == 0;
  if (empty) by_namespace_.erase(it);
  if (shares_ == nullptr) return;
  const size_t s = shares_->ShareOf(ns);
  if (s == TierShares::kNoShare) return;
  if (by_share_.size() < (s + 1) * tiers_) by_share_.resize((s + 1) * tiers_, 0);
  by_share_[s * tiers_ + tier] += static_cast<uint64_t>(delta);
}

size_t ShareUsage::ShareOfNamespace(std::string_view ns) const {
  if (!track_) return TierShares::kNoShare;
  absl::ReaderMutexLock lock(&mu_);
  return shares_ == nullptr ? TierShares::kNoShare : shares_->ShareOf(ns);
}

size_t ShareUsage::ShareOfId(std::string_view id) const {
  return ShareOfNamespace(NamespaceOf(id));
}

uint64_t ShareUsage::BytesLocked(size_t share, size_t tier) const {
  const size_t i = share * tiers_ + tier;
  return share == TierShares::kNoShare || i >= by_share_.size() ? 0 : by_share_[i];
}

bool ShareUsage::Fits(size_t share, size_t tier, uint64_t charge) const {
  if (!track_ || share == TierShares::kNoShare) return true;
  absl::ReaderMutexLock lock(&mu_);
  if (shares_ == nullptr) return true;
  const uint64_t limit = shares_->LimitBytes(share, tier);
  if (limit == TierShares::kUnlimited) return true;
  const uint64_t used = BytesLocked(share, tier);
  return used <= limit && charge <= limit - used;
}

bool ShareUsage::NeverFits(size_t share, size_t tier, uint64_t charge) const {
  if (!track_ || share == TierShares::kNoShare) return false;
  absl::ReaderMutexLock lock(&mu_);
  return shares_ != nullptr && charge > shares_->LimitBytes(share, tier);
}

bool ShareUsage::MayEvict(std::string_view id, size_t tier, size_t for_share) const {
  if (!track_) return true;
  absl::ReaderMutexLock lock(&mu_);
  if (shares_ == nullptr) return true;
  const size_t s = shares_->ShareOf(NamespaceOf(id));
  if (s == TierShares::kNoShare || s == for_share) return true;
  const uint64_t limit = shares_->LimitBytes(s, tier);
  // A share that does not limit this tier has no room of its own in it to protect.
  return limit == TierShares::kUnlimited || BytesLocked(s, tier) > limit;
}

uint64_t ShareUsage::Bytes(size_t share, size_t tier) const {
  absl::ReaderMutexLock lock(&mu_);
  return BytesLocked(share, tier);
}

std::string ShareUsage::Explain(size_t share, size_t tier) const {
  absl::ReaderMutexLock lock(&mu_);
  if (shares_ == nullptr || share == TierShares::kNoShare) return "no quota";
  return absl::StrCat(shares_->Describe(share), " holds ", BytesLocked(share, tier), " of ",
                      shares_->LimitBytes(share, tier), " bytes");
}

}  // namespace strata
