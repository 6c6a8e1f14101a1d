// Quotas: tenants' shares of the tiers and their request rates (docs/security.md).
//
// A quota file (strata-node --quotas FILE) limits groups of namespaces:
//
//   quotas:
//     - namespaces: "acme/*"   # a pattern as in token files: an exact name, or a prefix + '*'
//       dram: 8GiB             # most bytes its namespaces hold together in the tier (optional)
//       ssd: 100GiB            # also hbm; a tier not named is not limited
//       requests_per_s: 2000   # calls per second, all its namespaces together (optional)
//       burst: 4000            # calls allowed at once after a quiet spell (default: one second's)
//
// A namespace counts against the most specific entry that matches it (an exact name before any
// prefix, then the longest prefix); a namespace no entry matches is not limited. Bytes are
// enforced by the store (storage/tier_shares.h): a tenant at its share of a tier makes room from
// its own blocks, and making room for anyone takes no block of a tenant within its share.
// Requests are metered per entry by a token bucket: every Put, Get, Exists, Remove, Lookup,
// GetInto and PutFrom (gRPC or UCX message) takes one token; none left is RESOURCE_EXHAUSTED
// carrying the milliseconds until one is (RetryAfterMs; gRPC trailing metadata
// "retry-after-ms").
//
// QuotaSet is immutable and thread-safe. Quotas holds the set in force and the buckets, swaps
// the set whole on Reload (SIGHUP) keeping the buckets of entries that stay, and leaves the
// current set in force when the file does not load. Thread-safe.
#ifndef STRATA_CACHENODE_QUOTAS_H_
#define STRATA_CACHENODE_QUOTAS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/tier_shares.h"
#include "storage/tiered_store.h"

namespace strata {

// The status payload (and gRPC trailing metadata key) carrying a retry hint in milliseconds.
inline constexpr char kRetryAfterPayload[] = "retry-after-ms";
// `status` with a retry hint attached (the message says it too).
absl::Status WithRetryAfter(const absl::Status& status, uint64_t ms);
// The hint WithRetryAfter attached, if any.
std::optional<uint64_t> RetryAfterMs(const absl::Status& status);

struct QuotaEntry {
  std::string pattern;
  // By tier name ("hbm", "dram", "ssd"); a tier not listed is not limited.
  std::vector<std::pair<std::string, uint64_t>> tier_bytes;
  double requests_per_s = 0;  // 0: not limited
  double burst = 0;
};

class QuotaSet final : public TierShares {
 public:
  // Parses a quota file's text; `tier_names` are the store's tiers, fastest first (limits for
  // tiers the node does not run are accepted and have no effect). INVALID_ARGUMENT naming
  // `source`, the entry and the field ("quotas[1].dram: ...").
  static absl::StatusOr<std::shared_ptr<const QuotaSet>> Parse(std::string_view yaml,
                                                               std::string_view source,
                                                               std::vector<std::string> tier_names);
  static absl::StatusOr<std::shared_ptr<const QuotaSet>> Load(const std::string& path,
                                                              std::vector<std::string> tier_names);

  size_t ShareOf(std::string_view ns) const override;
  uint64_t LimitBytes(size_t share, size_t tier) const override;
  std::string Describe(size_t share) const override;
  const std::vector<QuotaEntry>& entries() const { return entries_; }

 private:
  std::vector<QuotaEntry> entries_;
  std::vector<std::string> tier_names_;
  std::vector<std::vector<uint64_t>> limits_;  // [entry][tier]
};

class Quotas {
 public:
  // Microseconds on a monotonic clock; tests pass their own.
  using Clock = std::function<int64_t()>;

  // Loads `path` and puts its shares in force in `store` (which must outlive this object and
  // be opened with track_shares). Errors name --quotas and the file.
  static absl::StatusOr<std::unique_ptr<Quotas>> Open(const std::string& path, TieredStore* store,
                                                      Clock now_us = {});
  // Reads the file again and puts it in force; on error the current quotas stay and the error
  // says why. Returns the number of entries now in force.
  absl::StatusOr<size_t> Reload();

  // Takes one request token for namespace `ns`: OK, or RESOURCE_EXHAUSTED naming the entry,
  // with a retry hint (WithRetryAfter) of the milliseconds until a token is there.
  absl::Status AdmitCall(std::string_view ns);

  std::shared_ptr<const QuotaSet> current() const;
  const std::string& path() const { return path_; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_us = 0;
  };
  Quotas(std::string path, TieredStore* store, Clock now_us)
      : path_(std::move(path)), store_(store), now_us_(std::move(now_us)) {}
  absl::Status PutInForce(std::shared_ptr<const QuotaSet> set);

  const std::string path_;
  TieredStore* const store_;
  const Clock now_us_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const QuotaSet> set_ ABSL_GUARDED_BY(mu_);
  // By pattern, so a reload keeps the level of the buckets whose entries stay.
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_CACHENODE_QUOTAS_H_
