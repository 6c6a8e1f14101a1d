#include "cachenode/quotas.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "storage/dram_tier.h"

namespace strata {
namespace {

const std::vector<std::string> kTiers = {"dram", "ssd"};

absl::Status ParseError(const std::string& yaml) {
  return QuotaSet::Parse(yaml, "q.yaml", kTiers).status();
}

TEST(QuotaSet, ParsesLimitsAndPicksTheMostSpecificEntry) {
  auto set = QuotaSet::Parse(R"(quotas:
  - namespaces: "acme/*"
    dram: 64MiB
    ssd: 1GiB
    requests_per_s: 100
  - namespaces: "acme/big/*"
    ssd: 2GiB
  - namespaces: "acme/big/x"
    hbm: 1GiB
    requests_per_s: 5
    burst: 2
  - namespaces: "*"
    dram: 1MiB
)",
                             "q.yaml", kTiers);
  ASSERT_TRUE(set.ok()) << set.status();
  const QuotaSet& q = **set;
  EXPECT_EQ(q.ShareOf("acme/llama"), 0u);
  EXPECT_EQ(q.ShareOf("acme/big/y"), 1u);
  EXPECT_EQ(q.ShareOf("acme/big/x"), 2u);  // an exact name beats every prefix
  EXPECT_EQ(q.ShareOf("globex/m"), 3u);
  EXPECT_EQ(q.LimitBytes(0, 0), 64ull << 20);
  EXPECT_EQ(q.LimitBytes(0, 1), 1ull << 30);
  EXPECT_EQ(q.LimitBytes(1, 0), TierShares::kUnlimited);
  EXPECT_EQ(q.LimitBytes(2, 0), TierShares::kUnlimited);  // hbm: not a tier of this node
  EXPECT_EQ(q.entries()[0].burst, 100);                   // default: one second's calls
  EXPECT_EQ(q.entries()[2].burst, 2);
  EXPECT_EQ(q.Describe(1), "quota 'acme/big/*'");

  auto none = QuotaSet::Parse("quotas: []\n", "q.yaml", kTiers);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->ShareOf("acme/x"), TierShares::kNoShare);
}

TEST(QuotaSet, RefusesBadFilesNamingTheEntryAndField) {
  EXPECT_EQ(
      ParseError("quotas: [{namespaces: a/*, dram: lots}]").message(),
      "q.yaml: quotas[0].dram: size 'lots': expected a number of bytes such as 64MiB or 4096");
  EXPECT_EQ(ParseError("limits: []").message(), "q.yaml: expected a mapping with a 'quotas' list");
  EXPECT_EQ(ParseError("quotas: [{dram: 1MiB}]").message(),
            "q.yaml: quotas[0].namespaces: missing");
  EXPECT_EQ(ParseError("quotas: [{namespaces: a/*, rate: 4}]").message(),
            "q.yaml: quotas[0].rate: unknown key (want namespaces, hbm, dram, ssd, "
            "requests_per_s, burst)");
  EXPECT_EQ(ParseError("quotas: [{namespaces: a/*, requests_per_s: 0}]").message(),
            "q.yaml: quotas[0].requests_per_s: expected a number of calls above 0 (at most 1e9)");
  EXPECT_EQ(ParseError("quotas: [{namespaces: a/*, burst: 3}]").message(),
            "q.yaml: quotas[0].burst: needs requests_per_s");
  EXPECT_EQ(
      ParseError("quotas: [{namespaces: a/*}, {namespaces: b/*}, {namespaces: a/*}]").message(),
      "q.yaml: quotas[2].namespaces: 'a/*' is limited by an earlier entry");
  EXPECT_EQ(ParseError("quotas: [{namespaces: a*b}]").message(),
            "q.yaml: quotas[0].namespaces: 'a*b': '*' may only end a pattern");
  EXPECT_EQ(ParseError("quotas: [{namespaces: [a/*]}]").code(), absl::StatusCode::kInvalidArgument);
}

TEST(RetryAfter, TravelsAsAPayloadAndInTheMessage) {
  absl::Status st = WithRetryAfter(absl::ResourceExhaustedError("slow down"), 250);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(st.message(), "slow down (retry after 250 ms)");
  EXPECT_EQ(RetryAfterMs(st), 250u);
  EXPECT_EQ(RetryAfterMs(absl::ResourceExhaustedError("x")), std::nullopt);
}

class QuotasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/quotas-" + std::to_string(::getpid()) + ".yaml";
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 1 << 20, .page_bytes = 4096}));
    TieredStoreOptions so;
    so.track_shares = true;
    store_ = *TieredStore::Open(so, std::move(tiers));
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  std::unique_ptr<Quotas> Open() {
    auto q = Quotas::Open(path_, store_.get(), [this] { return now_us_.load(); });
    EXPECT_TRUE(q.ok()) << q.status();
    return q.ok() ? std::move(*q) : nullptr;
  }

  std::string path_;
  std::unique_ptr<TieredStore> store_;
  std::atomic<int64_t> now_us_{1'000'000};
};

TEST_F(QuotasTest, TokenBucketAdmitsItsBurstThenItsRateWithAnExactRetryHint) {
  Write("quotas: [{namespaces: a/*, requests_per_s: 10, burst: 3}]\n");
  auto q = Open();
  ASSERT_NE(q, nullptr);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(q->AdmitCall("a/x").ok()) << i;
  absl::Status over = q->AdmitCall("a/y");
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfterMs(over), 100u);    // one token at 10 per second
  EXPECT_TRUE(q->AdmitCall("b/x").ok());  // not limited
  now_us_ += 60'000;                      // 0.6 of a token
  over = q->AdmitCall("a/x");
  EXPECT_EQ(RetryAfterMs(over), 40u);
  now_us_ += 40'000;
  EXPECT_TRUE(q->AdmitCall("a/x").ok());
  EXPECT_FALSE(q->AdmitCall("a/x").ok());
  now_us_ += 10'000'000;  // a long quiet spell refills only up to the burst
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(q->AdmitCall("a/x").ok()) << i;
  EXPECT_FALSE(q->AdmitCall("a/x").ok());
}

TEST_F(QuotasTest, ReloadKeepsBucketsOfEntriesThatStayAndKeepsTheOldSetOnABadFile) {
  Write("quotas: [{namespaces: a/*, requests_per_s: 1, burst: 2}]\n");
  auto q = Open();
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(q->AdmitCall("a/x").ok());
  EXPECT_TRUE(q->AdmitCall("a/x").ok());
  EXPECT_FALSE(q->AdmitCall("a/x").ok());
  Write("quotas: [{namespaces: a/*, requests_per_s: 1, burst: 5}, {namespaces: b/*, dram: 0}]\n");
  ASSERT_EQ(*q->Reload(), 2u);
  EXPECT_FALSE(q->AdmitCall("a/x").ok()) << "a reload is not a way to refill a bucket";
  Write("quotas: [{namespaces: a/*, requests_per_s: nope}]\n");
  absl::StatusOr<size_t> bad = q->Reload();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(q->current()->entries().size(), 2u);
  // The store has the shares: b/* may hold nothing in DRAM, and there is no other tier.
  EXPECT_EQ(store_->Put("b/x", "k", "", {}, std::string(100, 'b')).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store_->Put("a/x", "k", "", {}, std::string(100, 'a')).ok());
}

TEST_F(QuotasTest, OpenNamesTheFlagAndTheFile) {
  Write("quotas: [{namespaces: a/*, dram: -1}]\n");
  auto q = Quotas::Open(path_, store_.get());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(q.status().message().substr(0, 10), "--quotas: ") << q.status();
  EXPECT_NE(q.status().message().find("quotas[0].dram"), std::string::npos) << q.status();
}

}  // namespace
}  // namespace strata
