#include "cachenode/quotas.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cachenode/auth.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/units.h"
#include "cachenode/yaml_list_file.h"
#include "common/validation.h"

namespace strata {
namespace {

constexpr std::string_view kTierNames[] = {"hbm", "dram", "ssd"};

int64_t SteadyNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How well `pattern` fits a namespace it matches: an exact name beats every prefix, then the
// longer prefix wins.
size_t Specificity(const std::string& pattern) {
  const bool prefix = !pattern.empty() && pattern.back() == '*';
  return prefix ? pattern.size() : pattern.size() + 1'000'000;
}

class EntryReader {
 public:
  EntryReader(std::string_view source, std::string at) : source_(source), at_(std::move(at)) {}

  absl::StatusOr<QuotaEntry> Read(const YAML::Node& node) const {
    if (!node.IsMap()) {
      return Error("", "expected {namespaces, dram, ssd, hbm, requests_per_s, burst}");
    }
    QuotaEntry e;
    bool has_pattern = false, has_burst = false;
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "namespaces") {
        if (!v.IsScalar()) return Error(".namespaces", "expected one pattern, e.g. \"acme/*\"");
        e.pattern = v.as<std::string>();
        STRATA_RETURN_IF_ERROR(CheckPattern(e.pattern));
        has_pattern = true;
      } else if (std::find(std::begin(kTierNames), std::end(kTierNames), key) !=
                 std::end(kTierNames)) {
        if (!v.IsScalar()) return Error("." + key, "expected a size such as 8GiB");
        absl::StatusOr<uint64_t> bytes = ParseSize(v.as<std::string>());
        if (!bytes.ok()) return Error("." + key, AsStd(bytes.status().message()));
        e.tier_bytes.emplace_back(key, *bytes);
      } else if (key == "requests_per_s" || key == "burst") {
        double x = 0;
        if (!v.IsScalar() || !absl::SimpleAtod(v.as<std::string>(), &x) || !std::isfinite(x) ||
            x <= 0 || x > 1e9) {
          return Error("." + key, "expected a number of calls above 0 (at most 1e9)");
        }
        (key == "burst" ? e.burst : e.requests_per_s) = x;
        has_burst = has_burst || key == "burst";
      } else {
        return Error("." + key,
                     "unknown key (want namespaces, hbm, dram, ssd, requests_per_s, burst)");
      }
    }
    if (!has_pattern) return Error(".namespaces", "missing");
    if (has_burst && e.requests_per_s == 0) return Error(".burst", "needs requests_per_s");
    if (has_burst && e.burst < 1) return Error(".burst", "below 1: no call could ever pass");
    if (!has_burst) e.burst = std::max(1.0, e.requests_per_s);
    return e;
  }

  absl::Status Error(std::string_view field, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source_), ": ", at_, AsAbsl(field), ": ", AsAbsl(what)));
  }

 private:
  absl::Status CheckPattern(const std::string& p) const {
    absl::Status st = ValidateNamespacePattern(p);
    return st.ok() ? st : Error(".namespaces", AsStd(st.message()));
  }

  const std::string_view source_;
  const std::string at_;
};

}  // namespace

absl::Status WithRetryAfter(const absl::Status& status, uint64_t ms) {
  absl::Status out(status.code(), absl::StrCat(status.message(), " (retry after ", ms, " ms)"));
  out.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat(ms)));
  return out;
}

std::optional<uint64_t> RetryAfterMs(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterPayload);
  uint64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms)) return std::nullopt;
  return ms;
}

absl::StatusOr<std::shared_ptr<const QuotaSet>> QuotaSet::Parse(
    std::string_view yaml, std::string_view source, std::vector<std::string> tier_names) {
  auto set = std::make_shared<QuotaSet>();
  set->tier_names_ = std::move(tier_names);
  try {  // yaml-cpp reports by exception; it stops here
    STRATA_ASSIGN_OR_RETURN(const YAML::Node quotas, ListOfDocument(yaml, source, "quotas"));
    absl::flat_hash_set<std::string> patterns;
    for (size_t i = 0; i < quotas.size(); ++i) {
      const EntryReader reader(source, absl::StrCat("quotas[", i, "]"));
      STRATA_ASSIGN_OR_RETURN(QuotaEntry e, reader.Read(quotas[i]));
      if (!patterns.insert(e.pattern).second) {
        return reader.Error(".namespaces",
                            absl::StrCat("'", e.pattern, "' is limited by an earlier entry"));
      }
      std::vector<uint64_t> limits(set->tier_names_.size(), kUnlimited);
      for (const auto& [tier, bytes] : e.tier_bytes) {
        for (size_t t = 0; t < set->tier_names_.size(); ++t) {
          if (set->tier_names_[t] == tier) limits[t] = bytes;
        }
      }
      set->limits_.push_back(std::move(limits));
      set->entries_.push_back(std::move(e));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": ", e.what()));
  }
  return std::shared_ptr<const QuotaSet>(std::move(set));
}

absl::StatusOr<std::shared_ptr<const QuotaSet>> QuotaSet::Load(
    const std::string& path, std::vector<std::string> tier_names) {
  STRATA_ASSIGN_OR_RETURN(const std::string yaml, ReadListFile(path));
  return Parse(yaml, path, std::move(tier_names));
}

size_t QuotaSet::ShareOf(std::string_view ns) const {
  size_t best = kNoShare, best_fit = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!NamespacePatternMatches(entries_[i].pattern, ns)) continue;
    const size_t fit = Specificity(entries_[i].pattern) + 1;
    if (fit > best_fit) {
      best = i;
      best_fit = fit;
    }
  }
  return best;
}

uint64_t QuotaSet::LimitBytes(size_t share, size_t tier) const {
  if (share >= limits_.size() || tier >= limits_[share].size()) return kUnlimited;
  return limits_[share][tier];
}

std::string QuotaSet::Describe(size_t share) const {
  if (share >= entries_.size()) return "no quota";
  return absl::StrCat("quota '", entries_[share].pattern, "'");
}

absl::StatusOr<std::unique_ptr<Quotas>> Quotas::Open(const std::string& path, TieredStore* store,
                                                     Clock now_us) {
  std::unique_ptr<Quotas> q(
      new Quotas(path, store, now_us ? std::move(now_us) : Clock(SteadyNowUs)));
  absl::StatusOr<size_t> loaded = q->Reload();
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--quotas: ", loaded.status().message()));
  }
  return q;
}

absl::StatusOr<size_t> Quotas::Reload() {
  std::vector<std::string> tier_names;
  for (size_t t = 0; t < store_->tier_count(); ++t) {
    tier_names.emplace_back(store_->tier(t).name());
  }
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<const QuotaSet> set,
                          QuotaSet::Load(path_, std::move(tier_names)));
  const size_t n = set->entries().size();
  STRATA_RETURN_IF_ERROR(PutInForce(std::move(set)));
  return n;
}

absl::Status Quotas::PutInForce(std::shared_ptr<const QuotaSet> set) {
  STRATA_RETURN_IF_ERROR(store_->SetShares(set));
  const int64_t now = now_us_();
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, Bucket> buckets;
  for (const QuotaEntry& e : set->entries()) {
    if (e.requests_per_s == 0) continue;
    auto old = buckets_.find(e.pattern);
    Bucket b = old != buckets_.end() ? old->second : Bucket{e.burst, now};
    b.tokens = std::min(b.tokens, e.burst);
    buckets.emplace(e.pattern, b);
  }
  buckets_ = std::move(buckets);
  set_ = std::move(set);
  return absl::OkStatus();
}

std::shared_ptr<const QuotaSet> Quotas::current() const {
  absl::MutexLock lock(&mu_);
  return set_;
}

absl::Status Quotas::AdmitCall(std::string_view ns) {
  const int64_t now = now_us_();
  absl::MutexLock lock(&mu_);
  const size_t share = set_->ShareOf(ns);
  if (share == TierShares::kNoShare) return absl::OkStatus();
  const QuotaEntry& e = set_->entries()[share];
  if (e.requests_per_s == 0) return absl::OkStatus();
  Bucket& b = buckets_[e.pattern];
  if (now > b.last_us) {
    b.tokens = std::min(e.burst,
                        b.tokens + static_cast<double>(now - b.last_us) * 1e-6 * e.requests_per_s);
    b.last_us = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return absl::OkStatus();
  }
  const double wait_ms = (1 - b.tokens) / e.requests_per_s * 1e3;
  return WithRetryAfter(
      absl::ResourceExhaustedError(
          absl::StrCat("namespace '", AsAbsl(ns), "': quota '", e.pattern, "' allows ",
                       e.requests_per_s, " requests per second (burst ", e.burst, "): back off")),
      static_cast<uint64_t>(std::ceil(wait_ms)));
}

}  // namespace strata
