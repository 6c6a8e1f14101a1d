// EtcdMembership and EtcdClient against a real etcd on loopback (tests/testing/etcd_process.h).
// Skipped when the machine has no etcd binary. Leases are 2 s (etcd's floor with its default
// election timeout) so expiry tests stay short; every wait is a bounded poll.
#include "cluster/etcd_membership.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster/etcd_client.h"
#include "tests/testing/etcd_process.h"
#include "tests/testing/tcp_proxy.h"

namespace strata::cluster {
namespace {

using ::strata::testing::EtcdProcess;
using ::strata::testing::TcpProxy;

constexpr int64_t kTtlS = 2;

// Polls `pred` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return pred();
}

NodeRecord Record(const std::string& id, int port, NodeState state = NodeState::kActive) {
  NodeRecord r;
  r.id = id;
  r.address = absl::StrCat("127.0.0.1:", port);
  r.data_plane = "ucx tcp";
  r.state = state;
  r.tiers = {{"dram", true, 32u << 20, 1u << 20, 4}};
  return r;
}

const NodeRecord* Find(const std::shared_ptr<const ClusterView>& v, const std::string& id) {
  return v->Find(id);
}

// The state of `id` in `v`, or nullopt when `v` does not list it. Takes the view by reference so
// that the caller's temporary (View() returns a fresh shared_ptr) outlives the read: a pointer
// from Find kept past the full expression that called View() points into a view the watcher may
// free at any moment by publishing the next one.
std::optional<NodeState> StateOf(const std::shared_ptr<const ClusterView>& v,
                                 const std::string& id) {
  const NodeRecord* n = v->Find(id);
  if (n == nullptr) return std::nullopt;
  return n->state;
}

std::vector<std::string> Ids(const std::shared_ptr<const ClusterView>& v) {
  std::vector<std::string> ids;
  for (const NodeRecord& n : v->nodes) ids.push_back(n.id);
  return ids;
}

class EtcdMembershipTest : public ::testing::Test {
 protected:
  void SetUp() override { STRATA_START_ETCD_OR_SKIP(etcd_); }

  std::unique_ptr<EtcdMembership> Member(const std::string& url = "") {
    EtcdMembershipOptions o;
    o.endpoints = {url.empty() ? etcd_->client_url() : url};
    o.cluster = "t1";
    o.lease_ttl_s = kTtlS;
    o.call_timeout = absl::Milliseconds(500);
    o.retry_interval = absl::Milliseconds(100);
    o.log = [this](const std::string& line) {
      absl::MutexLock lock(&log_mu_);
      log_.push_back(line);
    };
    absl::StatusOr<std::unique_ptr<EtcdMembership>> m = EtcdMembership::Start(std::move(o));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  std::vector<std::string> Logged() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  // How many logged lines (of every member) contain `needle`.
  size_t LoggedCount(const std::string& needle) {
    absl::MutexLock lock(&log_mu_);
    return std::count_if(log_.begin(), log_.end(), [&](const std::string& line) {
      return line.find(needle) != std::string::npos;
    });
  }

  std::unique_ptr<EtcdProcess> etcd_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

TEST(EtcdClientTest, PrefixEndAndEndpointParsing) {
  EXPECT_EQ(EtcdPrefixEnd("/strata/a/nodes/"), "/strata/a/nodes0");
  EXPECT_EQ(EtcdPrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(EtcdPrefixEnd(""), std::string(1, '\0'));
  EXPECT_THAT(SplitEtcdEndpoints("http://a:1, http://b:2,,"),
              ::testing::ElementsAre("http://a:1", "http://b:2"));
  EXPECT_EQ(EtcdClient::Create({{"https://127.0.0.1:2379"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::Create({{"http://127.0.0.1"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::Create({{"http://127.0.0.1:"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EtcdClient::Create({{"127.0.0.1:2379x"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(EtcdClient::Create({{"127.0.0.1:2379", "http://[::1]:2379/"}}).ok());
  EXPECT_EQ(EtcdClient::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdMembershipTest, ClientCallsRoundTrip) {
  auto c = EtcdClient::Create({{etcd_->client_url()}});
  ASSERT_TRUE(c.ok()) << c.status();
  EtcdClient& client = **c;
  ASSERT_TRUE(client.Put("/x/a", "1").ok());
  ASSERT_TRUE(client.Put("/x/b", "2").ok());
  ASSERT_TRUE(client.Put("/y", "3").ok());
  auto r = client.Range("/x/", EtcdPrefixEnd("/x/"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "/x/a");
  EXPECT_EQ(r->kvs[0].value, "1");
  EXPECT_EQ(r->kvs[1].value, "2");
  // Create-if-absent refuses an existing key and reports it.
  auto txn = client.PutIf("/x/a", EtcdClient::CompareTarget::kCreateRevision, 0, "9", 0);
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_FALSE(txn->succeeded);
  ASSERT_TRUE(txn->current.has_value());
  EXPECT_EQ(txn->current->value, "1");
  txn = client.PutIf("/x/c", EtcdClient::CompareTarget::kCreateRevision, 0, "4", 0);
  ASSERT_TRUE(txn.ok());
  EXPECT_TRUE(txn->succeeded);
  // Leases: a key under a revoked lease is gone; a revoked lease cannot be renewed.
  auto lease = client.LeaseGrant(5);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(client.Put("/x/leased", "v", *lease).ok());
  auto ttl = client.LeaseKeepAliveOnce(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, 5);
  ASSERT_TRUE(client.LeaseRevoke(*lease).ok());
  EXPECT_TRUE(client.Range("/x/leased")->kvs.empty());
  EXPECT_EQ(client.LeaseKeepAliveOnce(*lease).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*client.DeleteRange("/x/", EtcdPrefixEnd("/x/")), 3);
}

TEST_F(EtcdMembershipTest, SecondEndpointAnswersWhenTheFirstIsDown) {
  // Port 1 on loopback refuses connections at once.
  auto c = EtcdClient::Create({{"http://127.0.0.1:1", etcd_->client_url()}});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Put("/k", "v").ok());
  EXPECT_EQ((*c)->Range("/k")->kvs.at(0).value, "v");
  auto dead = EtcdClient::Create({{"http://127.0.0.1:1"}, absl::Milliseconds(300)});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ((*dead)->Put("/k", "v").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(EtcdMembershipTest, StartFailsUnavailableNamingTheEndpointsWhenEtcdIsDown) {
  EtcdMembershipOptions o;
  o.endpoints = {"http://127.0.0.1:1"};
  o.cluster = "t1";
  o.start_timeout = absl::Milliseconds(500);
  o.log = [](const std::string&) {};
  auto m = EtcdMembership::Start(o);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(m.status().message()), ::testing::HasSubstr("http://127.0.0.1:1"));
  o.cluster = "bad/name";
  EXPECT_EQ(EtcdMembership::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdMembershipTest, TwoMembersSeeEachOther) {
  auto a = Member();
  auto b = Member();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Register(Record("node-a", 7001)).ok());
  ASSERT_TRUE(b->Register(Record("node-b", 7002)).ok());
  for (EtcdMembership* m : {a.get(), b.get()}) {
    ASSERT_TRUE(WaitUntil([&] { return m->View()->nodes.size() == 2; }))
        << ::testing::PrintToString(Ids(m->View()));
    auto v = m->View();
    EXPECT_EQ(v->source, ViewSource::kEtcd);
    EXPECT_EQ(v->cluster, "t1");
    EXPECT_GT(v->revision, 0);
    EXPECT_THAT(Ids(v), ::testing::ElementsAre("node-a", "node-b"));
    EXPECT_EQ(v->nodes[0].address, "127.0.0.1:7001");
    EXPECT_EQ(v->nodes[1].address, "127.0.0.1:7002");
    EXPECT_EQ(v->nodes[1].data_plane, "ucx tcp");
    EXPECT_EQ(v->nodes[1].tiers.at(0).capacity_bytes, 32u << 20);
    EXPECT_GT(v->nodes[0].heartbeat_unix_ms, 0u);
  }
  // A graceful leave is seen at once, not after the TTL.
  ASSERT_TRUE(b->Deregister().ok());
  EXPECT_TRUE(WaitUntil([&] { return a->View()->nodes.size() == 1; }, absl::Seconds(1)));
  EXPECT_EQ(b->Deregister().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EtcdMembershipTest, UpdateToDrainingReachesWatchersAndSubscribers) {
  std::atomic<int> draining_views{0};  // before the watcher: its listener writes it
  auto node = Member();
  auto watcher = Member();
  ASSERT_TRUE(node && watcher);
  watcher->Subscribe([&](std::shared_ptr<const ClusterView> v) {
    const NodeRecord* n = v->Find("n1");
    if (n != nullptr && n->state == NodeState::kDraining) draining_views.fetch_add(1);
  });
  EXPECT_EQ(node->Update(Record("n1", 1)).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(node->Register(Record("n1", 7001)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "n1") != nullptr; }));
  NodeRecord draining = Record("n1", 7001, NodeState::kDraining);
  draining.hits = 42;
  ASSERT_TRUE(node->Update(draining).ok());
  ASSERT_TRUE(WaitUntil([&] { return StateOf(watcher->View(), "n1") == NodeState::kDraining; }));
  EXPECT_EQ(Find(watcher->View(), "n1")->hits, 42u);
  EXPECT_GE(draining_views.load(), 1);
  EXPECT_EQ(node->Update(Record("other", 1)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdMembershipTest, DeadMemberDisappearsWithinTtlPlusOneSecond) {
  auto node = Member();
  auto watcher = Member();
  ASSERT_TRUE(node && watcher);
  ASSERT_TRUE(node->Register(Record("doomed", 7001)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "doomed") != nullptr; }));
  node.reset();  // stops renewing without Deregister, as a crashed process would
  const absl::Time died = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "doomed") == nullptr; },
                        absl::Seconds(kTtlS + 1)))
      << "still listed after " << absl::Now() - died;
}

TEST_F(EtcdMembershipTest, DuplicateIdIsRefusedWhileItsHolderLives) {
  auto first = Member();
  auto second = Member();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Register(Record("dup", 7001)).ok());
  absl::Status s = second->Register(Record("dup", 7002));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("127.0.0.1:7001"));
  ASSERT_TRUE(WaitUntil([&] { return Find(second->View(), "dup") != nullptr; }));
  EXPECT_EQ(Find(second->View(), "dup")->address, "127.0.0.1:7001");
  EXPECT_EQ(first->Register(Record("dup", 7001)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second->Register(Record("bad id!", 1)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdMembershipTest, MalformedRecordsAreSkipped) {
  auto watcher = Member();
  ASSERT_TRUE(watcher);
  ASSERT_TRUE(watcher->client()->Put(EtcdNodeKey("t1", "junk"), "{not json").ok());
  ASSERT_TRUE(watcher->client()->Put(EtcdNodeKey("t1", "liar"), Record("other", 1).ToJson()).ok());
  ASSERT_TRUE(watcher->client()->Put(EtcdNodeKey("t1", "good"), Record("good", 1).ToJson()).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "good") != nullptr; }));
  EXPECT_THAT(Ids(watcher->View()), ::testing::ElementsAre("good"));
  std::vector<std::string> log = Logged();
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const std::string& l) {
    return l.find("/nodes/junk") != std::string::npos;
  }));
}

TEST_F(EtcdMembershipTest, EtcdDownKeepsTheLastViewAndTheRecordReturnsAfterRestart) {
  auto node = Member();
  auto watcher = Member();
  ASSERT_TRUE(node && watcher);
  ASSERT_TRUE(node->Register(Record("n1", 7001)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "n1") != nullptr; }));

  etcd_->Stop();
  auto during = watcher->View();
  ASSERT_NE(Find(during, "n1"), nullptr);
  // An update while etcd is away is refused for now but kept.
  EXPECT_EQ(node->Update(Record("n1", 7001, NodeState::kDraining)).code(),
            absl::StatusCode::kUnavailable);
  // Views keep answering, with the last nodes, and their confirmation time stops advancing.
  // An answer etcd sent just before it exited may still be on its way to a member's threads;
  // each thread logs its first failure after its last answer, so once both members' keep-alive
  // loops and watch streams have failed, nothing etcd said can move the confirmation time.
  ASSERT_TRUE(WaitUntil([&] {
    const size_t watches_failed =
        LoggedCount("stream lost") + LoggedCount("resyncing with a fresh Range");
    return LoggedCount("etcd unreachable") >= 2 && watches_failed >= 2;
  })) << ::testing::PrintToString(Logged());
  const uint64_t confirmed = watcher->View()->confirmed_unix_ms;
  absl::SleepFor(absl::Milliseconds(1500));  // a negative check: nothing may change meanwhile
  EXPECT_THAT(Ids(watcher->View()), ::testing::ElementsAre("n1"));
  EXPECT_EQ(watcher->View()->confirmed_unix_ms, confirmed);

  ASSERT_TRUE(etcd_->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] { return StateOf(watcher->View(), "n1") == NodeState::kDraining; },
                        absl::Seconds(15)))
      << ::testing::PrintToString(Logged());
  EXPECT_GT(watcher->View()->confirmed_unix_ms, confirmed);
  EXPECT_TRUE(WaitUntil([&] {  // the node's own watcher reconnects on its own schedule
    return StateOf(node->View(), "n1") == NodeState::kDraining;
  }));
}

TEST_F(EtcdMembershipTest, AnEtcdThatLostItsDataIsRepopulatedAndResynced) {
  auto node = Member();
  auto watcher = Member();
  ASSERT_TRUE(node && watcher);
  // Enough writes that the old revision is well ahead of a fresh etcd's.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node->client()->Put("/filler", "x").ok());
  ASSERT_TRUE(node->Register(Record("n1", 7001)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "n1") != nullptr; }));
  const int64_t old_revision = watcher->View()->revision;

  ASSERT_TRUE(etcd_->Restart(absl::Seconds(15), /*wipe_data=*/true).ok());
  // The node finds its lease gone and registers again; the watcher notices the store went
  // back in time and resyncs instead of waiting for revisions that mean nothing now.
  ASSERT_TRUE(WaitUntil([&] { return node->reregistrations() == 1; }, absl::Seconds(10)))
      << ::testing::PrintToString(Logged());
  ASSERT_TRUE(WaitUntil([&] {
    auto v = watcher->View();
    return Find(v, "n1") != nullptr && v->revision < old_revision;
  })) << ::testing::PrintToString(Logged());
  EXPECT_GE(watcher->watch_resyncs(), 1);
}

TEST_F(EtcdMembershipTest, LostLeaseIsReplacedAndTheRecordReRegistered) {
  auto node = Member();
  auto watcher = Member();
  ASSERT_TRUE(node && watcher);
  ASSERT_TRUE(node->Register(Record("n1", 7001)).ok());
  const int64_t first_lease = node->TEST_lease();
  ASSERT_NE(first_lease, 0);
  // The lease vanishes behind the node's back, as when it expires during a long outage.
  ASSERT_TRUE(watcher->client()->LeaseRevoke(first_lease).ok());
  ASSERT_TRUE(WaitUntil([&] { return node->reregistrations() == 1; }, absl::Seconds(5)));
  EXPECT_NE(node->TEST_lease(), first_lease);
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "n1") != nullptr; }));
  auto kv = watcher->client()->Range(EtcdNodeKey("t1", "n1"));
  ASSERT_TRUE(kv.ok());
  ASSERT_EQ(kv->kvs.size(), 1u);
  EXPECT_EQ(kv->kvs[0].lease, node->TEST_lease());
}

TEST_F(EtcdMembershipTest, WatcherResyncsAfterCompactionWhileCutOff) {
  auto proxy = TcpProxy::Start(etcd_->client_port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto node = Member();
  auto watcher = Member((*proxy)->url());
  ASSERT_TRUE(node && watcher);
  ASSERT_TRUE(node->Register(Record("n1", 7001)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Find(watcher->View(), "n1") != nullptr; }));
  const int64_t seen = watcher->View()->revision;

  (*proxy)->Cut();
  // Behind the watcher's back: n1 leaves, n2 joins, and history is compacted past what the
  // watcher saw, so it cannot resume its watch from there.
  auto other = Member();
  ASSERT_TRUE(other);
  ASSERT_TRUE(node->Deregister().ok());
  ASSERT_TRUE(other->Register(Record("n2", 7002)).ok());
  auto now = node->client()->Range("/", "", /*count_only=*/true);
  ASSERT_TRUE(now.ok());
  ASSERT_GT(now->revision, seen + 1);
  ASSERT_TRUE(node->client()->Compact(now->revision).ok());
  EXPECT_THAT(Ids(watcher->View()), ::testing::ElementsAre("n1"));  // the last view it had

  (*proxy)->Restore();
  ASSERT_TRUE(WaitUntil([&] { return Ids(watcher->View()) == std::vector<std::string>{"n2"}; }))
      << ::testing::PrintToString(Ids(watcher->View()));
  EXPECT_GE(watcher->watch_resyncs(), 1);
  EXPECT_GE(watcher->View()->revision, now->revision);
}

}  // namespace
}  // namespace strata::cluster
