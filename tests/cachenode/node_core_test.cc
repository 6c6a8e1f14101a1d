#include "cachenode/node_core.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cachenode/metrics.h"
#include "storage/dram_tier.h"
#include "storage/mem_tier.h"

namespace strata {
namespace {

class NodeCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.limits.max_batch = 8;
    options_.limits.max_payload_bytes = 64 * 1024;
    options_.max_message_bytes = 1 << 20;
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(*DramTier::Create({.capacity_bytes = 256 * 1024}));
    tiers.push_back(std::make_unique<MemTier>(MemTierOptions{.capacity_bytes = 1 << 20}));
    TieredStoreOptions so;
    so.max_leased_bytes = 64 << 20;  // leases may pin everything (the full-node test needs it)
    store_ = *TieredStore::Open(so, std::move(tiers));
    core_ = std::make_unique<NodeCore>(store_.get(), options_,
                                       std::vector<AbsentTier>{{"hbm", "--hbm 0"}});
  }

  v1::PutRequest OnePut(const std::string& key, const std::string& payload) {
    v1::PutRequest r;
    r.set_namespace_("ns");
    auto* item = r.add_items();
    item->set_key(key);
    item->set_payload(payload);
    return r;
  }

  // The request fails INVALID_ARGUMENT, the message names `field`, and nothing was stored.
  void ExpectRejected(const v1::PutRequest& request, const std::string& field) {
    v1::PutResponse response;
    absl::Status st = core_->Put(request, &response);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find(field), absl::string_view::npos)
        << "message '" << st.message() << "' does not name " << field;
    EXPECT_EQ(store_->Stats().puts, 0u) << "a rejected request stored something";
  }

  NodeOptions options_;
  std::unique_ptr<TieredStore> store_;
  std::unique_ptr<NodeCore> core_;
};

TEST_F(NodeCoreTest, PutGetAndPerKeyMisses) {
  v1::PutResponse put;
  ASSERT_TRUE(core_->Put(OnePut("k1", "hello"), &put).ok());
  ASSERT_EQ(put.results_size(), 1);
  EXPECT_EQ(put.results(0).code(), 0);
  v1::GetRequest get;
  get.set_namespace_("ns");
  get.add_keys("k1");
  get.add_keys("nope");
  v1::GetResponse got;
  ASSERT_TRUE(core_->Get(get, &got).ok());  // a miss is not an error of the call
  ASSERT_EQ(got.items_size(), 2);
  EXPECT_EQ(got.items(0).payload(), "hello");
  EXPECT_EQ(got.items(0).tier(), "dram");
  EXPECT_EQ(got.items(1).result().code(), static_cast<int>(absl::StatusCode::kNotFound));
}

TEST_F(NodeCoreTest, EveryPutFieldIsValidatedByName) {
  v1::PutRequest r = OnePut("k", "x");
  r.set_namespace_("");
  ExpectRejected(r, "namespace");
  r.set_namespace_(std::string(129, 'n'));
  ExpectRejected(r, "namespace");
  r.set_namespace_("bad namespace");
  ExpectRejected(r, "namespace");

  v1::PutRequest empty;
  empty.set_namespace_("ns");
  ExpectRejected(empty, "items");

  v1::PutRequest many;
  many.set_namespace_("ns");
  for (int i = 0; i < 9; ++i) {
    auto* item = many.add_items();
    item->set_key("k" + std::to_string(i));
    item->set_payload("x");
  }
  ExpectRejected(many, "items");

  // A bad item anywhere rejects the whole batch: the good item 0 is not stored either.
  v1::PutRequest two = OnePut("good", "x");
  auto* bad = two.add_items();
  bad->set_key(std::string(65, 'k'));
  bad->set_payload("x");
  ExpectRejected(two, "items[1].key");
  bad->set_key("");
  ExpectRejected(two, "items[1].key");
  bad->set_key("k2");
  bad->set_parent(std::string(65, 'p'));
  ExpectRejected(two, "items[1].parent");
  bad->set_parent("k2");
  ExpectRejected(two, "items[1].parent");
  bad->clear_parent();
  bad->set_payload("");
  ExpectRejected(two, "items[1].payload");
  bad->set_payload(std::string(64 * 1024 + 1, 'p'));
  ExpectRejected(two, "items[1].payload");
  bad->set_payload(std::string(64, 'p'));
  bad->mutable_layout()->set_kind(static_cast<v1::LayoutKind>(7));
  ExpectRejected(two, "items[1].layout.kind");
  bad->mutable_layout()->set_kind(v1::LAYOUT_KIND_KV);
  bad->mutable_layout()->set_dtype(static_cast<v1::DType>(9));
  ExpectRejected(two, "items[1].layout.dtype");
  // A KV layout that describes 1*2*4*1*8*2 = 128 bytes, but the payload has 64.
  auto* l = bad->mutable_layout();
  l->set_dtype(v1::DTYPE_F16);
  l->set_layers(1);
  l->set_kv_heads(1);
  l->set_head_dim(8);
  l->set_tokens(4);
  ExpectRejected(two, "items[1].layout");
  bad->set_payload(std::string(128, 'p'));
  v1::PutResponse ok;
  EXPECT_TRUE(core_->Put(two, &ok).ok());
  EXPECT_EQ(core_->rejected_requests(), 14u);
}

TEST_F(NodeCoreTest, KeyedCallsValidateNamespaceBatchAndKeys) {
  v1::GetRequest get;
  get.set_namespace_("ns");
  v1::GetResponse got;
  EXPECT_EQ(core_->Get(get, &got).code(), absl::StatusCode::kInvalidArgument);
  get.add_keys(std::string(70, 'k'));
  auto st = core_->Get(get, &got);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("keys[0]"), absl::string_view::npos);

  v1::LookupRequest lookup;
  lookup.set_namespace_("n s");
  lookup.add_keys("k");
  v1::LookupResponse lr;
  EXPECT_EQ(core_->Lookup(lookup, &lr).code(), absl::StatusCode::kInvalidArgument);
  v1::ExistsRequest exists;
  exists.set_namespace_("ns");
  for (int i = 0; i < 9; ++i) exists.add_keys("k");
  v1::ExistsResponse er;
  EXPECT_EQ(core_->Exists(exists, &er).code(), absl::StatusCode::kInvalidArgument);
  v1::RemoveRequest remove;
  remove.set_namespace_("ns");
  remove.add_keys("");
  v1::RemoveResponse rr;
  EXPECT_EQ(core_->Remove(remove, &rr).code(), absl::StatusCode::kInvalidArgument);
  v1::EvictRequest evict;
  v1::EvictResponse ev;
  EXPECT_EQ(core_->Evict(evict, &ev).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NodeCoreTest, LookupFollowsTheChainAndStatsListEveryTier) {
  v1::PutRequest chain;
  chain.set_namespace_("ns");
  for (int i = 0; i < 4; ++i) {
    auto* item = chain.add_items();
    item->set_key("b" + std::to_string(i));
    if (i) item->set_parent("b" + std::to_string(i - 1));
    item->set_payload("kv" + std::to_string(i));
  }
  v1::PutResponse pr;
  ASSERT_TRUE(core_->Put(chain, &pr).ok());
  v1::LookupRequest lookup;
  lookup.set_namespace_("ns");
  for (const char* k : {"b0", "b1", "b2", "missing", "b3"}) lookup.add_keys(k);
  v1::LookupResponse lr;
  ASSERT_TRUE(core_->Lookup(lookup, &lr).ok());
  EXPECT_EQ(lr.matched(), 3u);

  v1::StatsResponse stats;
  ASSERT_TRUE(core_->Stats(&stats).ok());
  ASSERT_EQ(stats.tiers_size(), 3);
  EXPECT_EQ(stats.tiers(0).name(), "hbm");
  EXPECT_FALSE(stats.tiers(0).available());
  EXPECT_EQ(stats.tiers(1).name(), "dram");
  EXPECT_EQ(stats.tiers(1).blocks(), 4u);
  EXPECT_EQ(stats.tiers(2).name(), "ssd");
  EXPECT_TRUE(stats.tiers(2).available());
  const std::string text = RenderPrometheus(stats);
  EXPECT_NE(text.find("strata_tier_blocks{tier=\"dram\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_puts_total 4\n"), std::string::npos);
}

TEST_F(NodeCoreTest, FullNodeAnswersResourceExhaustedForASingleKey) {
  // Lease everything so nothing can be evicted, then one more Put has nowhere to go.
  v1::PutRequest fill;
  fill.set_namespace_("ns");
  v1::LookupRequest lease;
  lease.set_namespace_("ns");
  lease.set_lease_ms(60'000);
  for (int i = 0; i < 8; ++i) {
    auto* item = fill.add_items();
    item->set_key("f" + std::to_string(i));
    item->set_payload(std::string(60 * 1024, 'f'));
    lease.add_keys(item->key());
  }
  v1::PutResponse pr;
  ASSERT_TRUE(core_->Put(fill, &pr).ok());
  v1::LookupResponse lr;
  ASSERT_TRUE(core_->Lookup(lease, &lr).ok());
  EXPECT_EQ(lr.matched(), 8u);
  // DRAM (256 KiB) and the 1 MiB second tier hold 8 x 60 KiB; fill the rest and lease it too.
  for (int round = 0; round < 40; ++round) {
    v1::PutRequest more = OnePut("m" + std::to_string(round), std::string(60 * 1024, 'm'));
    v1::PutResponse r;
    absl::Status st = core_->Put(more, &r);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
      return;
    }
    v1::LookupRequest l;
    l.set_namespace_("ns");
    l.set_lease_ms(60'000);
    l.add_keys("m" + std::to_string(round));
    ASSERT_TRUE(core_->Lookup(l, &lr).ok());
  }
  auto s = store_->Stats();
  FAIL() << "a node whose blocks are all leased kept accepting Puts " << s.tiers[0].blocks << " "
         << s.tiers[1].blocks << " " << s.leased_bytes << " ev=" << s.evictions << " "
         << s.tiers[1].used_bytes;
}

TEST_F(NodeCoreTest, DrainRefusesNewCallsAndWaitsForInFlightOnes) {
  ASSERT_TRUE(core_->BeginCall());  // one call in flight
  std::thread finisher([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    core_->EndCall();
  });
  EXPECT_EQ(core_->Drain(/*grace_ms=*/10'000), 0);  // returned once the call ended
  finisher.join();
  EXPECT_FALSE(core_->BeginCall());
  // A call that never ends is abandoned after the grace period.
  NodeCore other(store_.get(), options_, {});
  ASSERT_TRUE(other.BeginCall());
  EXPECT_EQ(other.Drain(/*grace_ms=*/20), 1);
}

TEST(CallStatusFromResults, OnlyAUniformFailureFailsTheCall) {
  EXPECT_TRUE(CallStatusFromResults({absl::OkStatus(), absl::ResourceExhaustedError("x")}).ok());
  EXPECT_TRUE(CallStatusFromResults({absl::NotFoundError("miss")}).ok());
  EXPECT_EQ(CallStatusFromResults({absl::ResourceExhaustedError("x")}).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CallStatusFromResults({absl::InternalError("a"), absl::InternalError("b")}).code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace strata
