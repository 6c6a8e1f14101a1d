// Control messages (Transport::SendMessage / SetMessageHandler) on every backend: whole, in order,
// exact bytes both ways across the eager/rendezvous boundary; the handler's immediate reply;
// failures (disconnected, stale, dead peer) as UNAVAILABLE, never a hang.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/transfer/transfer_test_util.h"
#include "transfer/loopback_transport.h"
#include "transfer/transport.h"
#include "transfer/ucx_transport.h"

namespace strata::transfer::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(5);

// Collects the messages a transport's handler receives.
class Inbox {
 public:
  MessageHandler Handler(std::optional<std::string> reply = std::nullopt) {
    return [this, reply](std::string message) -> std::optional<std::string> {
      absl::MutexLock lock(&mu_);
      messages_.push_back(std::move(message));
      return reply;
    };
  }
  // The first `n` messages, waiting up to kTimeout for them.
  std::vector<std::string> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return messages_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kTimeout);
    return messages_;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return messages_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
};

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Compares message lists without printing megabytes: the first difference, or "".
std::string FirstDifference(const std::vector<std::string>& got,
                            const std::vector<std::string>& want) {
  if (got.size() != want.size()) {
    return absl::StrCat(got.size(), " messages arrived, ", want.size(), " sent");
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return absl::StrCat("message ", i, ": ", got[i].size(), " bytes arrived, ", want[i].size(),
                          " sent", got[i].size() == want[i].size() ? " (contents differ)" : "");
    }
  }
  return "";
}

absl::Status Send(Transport& transport, const PeerHandle& peer, std::string message,
                  absl::Duration timeout = kTimeout) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> done = promise->get_future();
  transport.SendMessage(peer, std::move(message), absl::Now() + timeout,
                        [promise](absl::Status st) { promise->set_value(std::move(st)); });
  if (done.wait_for(std::chrono::seconds(15)) != std::future_status::ready) {
    return absl::InternalError("SendMessage never completed");
  }
  return done.get();
}

class MessagesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    factory_ = std::make_unique<TransportFactory>(GetParam());
    auto node = factory_->Make();
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    auto client = factory_->Make();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    node_->SetMessageHandler(node_inbox_.Handler());
    client_->SetMessageHandler(client_inbox_.Handler());
    // Each side connects to the other, as the client (requests) and the node (replies) do.
    auto to_client = node_->Connect("client-1", client_->LocalAddress());
    ASSERT_TRUE(to_client.ok()) << to_client.status();
    to_client_ = *to_client;
    auto to_node = client_->Connect("node", node_->LocalAddress());
    ASSERT_TRUE(to_node.ok()) << to_node.status();
    to_node_ = *to_node;
  }

  Inbox node_inbox_;
  Inbox client_inbox_;
  std::unique_ptr<TransportFactory> factory_;
  std::unique_ptr<Transport> node_;
  std::unique_ptr<Transport> client_;
  PeerHandle to_client_;
  PeerHandle to_node_;
};

TEST_P(MessagesTest, ExactBytesInOrderBothWaysAcrossTheRendezvousThreshold) {
  std::mt19937_64 rng(42);
  std::vector<std::string> to_node, to_client;
  // 1 byte to 256 KiB: eager and (over UCX) rendezvous, interleaved.
  for (int i = 0; i < 60; ++i) {
    const size_t n = (i % 3 == 0) ? 1 + rng() % 64 : 1 + rng() % (256 << 10);
    to_node.push_back(RandomBytes(rng, n));
    to_client.push_back(RandomBytes(rng, n / 2 + 1));
  }
  std::vector<std::future<absl::Status>> sent;
  for (size_t i = 0; i < to_node.size(); ++i) {
    for (auto [from, peer, bytes] : {std::tuple{client_.get(), to_node_, &to_node[i]},
                                     std::tuple{node_.get(), to_client_, &to_client[i]}}) {
      auto promise = std::make_shared<std::promise<absl::Status>>();
      sent.push_back(promise->get_future());
      from->SendMessage(peer, *bytes, absl::Now() + kTimeout,
                        [promise](absl::Status st) { promise->set_value(std::move(st)); });
    }
  }
  for (auto& f : sent) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(f.get().ok());
  }
  EXPECT_EQ(FirstDifference(node_inbox_.Await(to_node.size()), to_node), "");
  EXPECT_EQ(FirstDifference(client_inbox_.Await(to_client.size()), to_client), "");
}

TEST_P(MessagesTest, HandlerReplyGoesBackOnTheArrivingConnection) {
  // The node answers without using any handle of its own (as for a session it does not know).
  node_->SetMessageHandler(node_inbox_.Handler(std::string("unknown session")));
  ASSERT_TRUE(Send(*client_, to_node_, "request").ok());
  EXPECT_EQ(node_inbox_.Await(1), std::vector<std::string>{"request"});
  EXPECT_EQ(client_inbox_.Await(1), std::vector<std::string>{"unknown session"});
}

TEST_P(MessagesTest, HandlerMaySendMessages) {
  // An echo server: the handler replies through SendMessage on its own handle to the client.
  node_->SetMessageHandler([this](std::string message) -> std::optional<std::string> {
    node_->SendMessage(to_client_, "echo:" + message, absl::Now() + kTimeout, [](absl::Status) {});
    return std::nullopt;
  });
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(*client_, to_node_, std::to_string(i)).ok());
  EXPECT_EQ(client_inbox_.Await(5),
            (std::vector<std::string>{"echo:0", "echo:1", "echo:2", "echo:3", "echo:4"}));
}

TEST_P(MessagesTest, WithoutAHandlerMessagesAreDropped) {
  node_->SetMessageHandler(nullptr);
  ASSERT_TRUE(Send(*client_, to_node_, "lost").ok());
  // A send completes when handed over, not on receipt: wait until the node has had it.
  if (auto* ucx = dynamic_cast<UcxTransport*>(node_.get())) {
    const absl::Time until = absl::Now() + kTimeout;
    while (ucx->GetStats().messages_received < 1 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(ucx->GetStats().messages_received, 1u);
  } else if (auto* loopback = dynamic_cast<LoopbackTransport*>(node_.get())) {
    // Not a fixed sleep: a slow message thread could meet the handler installed below first.
    const absl::Time until = absl::Now() + kTimeout;
    while (loopback->TEST_MessagesTaken() < 1 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(loopback->TEST_MessagesTaken(), 1u);
  } else {
    FAIL() << "a backend this test cannot observe";
  }
  node_->SetMessageHandler(node_inbox_.Handler());
  ASSERT_TRUE(Send(*client_, to_node_, "kept").ok());
  EXPECT_EQ(node_inbox_.Await(1), std::vector<std::string>{"kept"});
}

TEST_P(MessagesTest, DisconnectedOrStalePeerIsUnavailable) {
  ASSERT_TRUE(node_->Disconnect(to_client_).ok());
  EXPECT_EQ(Send(*node_, to_client_, "x").code(), absl::StatusCode::kUnavailable);
  auto again = node_->Connect("client-1", client_->LocalAddress());
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_NE(again->generation, to_client_.generation);
  EXPECT_EQ(Send(*node_, to_client_, "x").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(Send(*node_, *again, "y").ok());
  EXPECT_EQ(client_inbox_.Await(1), std::vector<std::string>{"y"});
}

// The layout the node and the client use (see the caveat in transport.h): the client's transport
// keeps its own endpoints on a second worker (ConnectAddress); the node's session endpoint goes
// to the first (LocalAddress, where the client's memory is reached), its answers to the second.
// Closing the session endpoint (a dropped session) leaves requests and answers working, and a
// new session endpoint moves bytes into the client's registered memory again.
TEST_P(MessagesTest, ClosingTheDataEndpointLeavesTheControlConnectionWorking) {
  Inbox client_inbox;  // before the transport whose handler uses it
  auto made = factory_->Make(/*separate_connect_worker=*/true);
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<Transport> client = std::move(*made);
  client->SetMessageHandler(client_inbox.Handler());
  if (GetParam() != Backend::kLoopback) {
    EXPECT_NE(client->ConnectAddress(), client->LocalAddress());
  }
  auto memory = RegisterBuffer(*client, 1 << 20);
  ASSERT_TRUE(memory.ok()) << memory.status();
  auto pool = RegisterBuffer(*node_, 1 << 20);
  ASSERT_TRUE(pool.ok()) << pool.status();
  FillPattern((*pool)->data, 1 << 20, 3);

  auto session = node_->Connect("session-1", client->LocalAddress());
  ASSERT_TRUE(session.ok()) << session.status();
  auto answers = node_->Connect("control-1", client->ConnectAddress());
  ASSERT_TRUE(answers.ok()) << answers.status();
  auto requests = client->Connect("node", node_->LocalAddress());
  ASSERT_TRUE(requests.ok()) << requests.status();
  auto put = [&](const PeerHandle& peer) {
    auto remote = node_->AddRemoteRegion(peer, (*memory)->region.descriptor);
    if (!remote.ok()) return remote.status();
    TransferOp op{OpKind::kPut, (*pool)->region.id, 0, *remote, 0, 256 << 10};
    return node_->Run({op}, kTimeout);
  };
  ASSERT_TRUE(put(*session).ok());
  EXPECT_EQ(0, std::memcmp((*pool)->data, (*memory)->data, 256 << 10));
  ASSERT_TRUE(Send(*client, *requests, "request 1").ok());
  ASSERT_TRUE(Send(*node_, *answers, "answer 1").ok());
  EXPECT_EQ(node_inbox_.Await(1), std::vector<std::string>{"request 1"});
  EXPECT_EQ(client_inbox.Await(1), std::vector<std::string>{"answer 1"});

  ASSERT_TRUE(node_->Disconnect(*session).ok());  // the session endpoint goes
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(Send(*client, *requests, "request 2").ok());
  ASSERT_TRUE(Send(*node_, *answers, "answer 2").ok());
  EXPECT_EQ(node_inbox_.Await(2), (std::vector<std::string>{"request 1", "request 2"}));
  EXPECT_EQ(client_inbox.Await(2), (std::vector<std::string>{"answer 1", "answer 2"}));
  auto again = node_->Connect("session-2", client->LocalAddress());
  ASSERT_TRUE(again.ok()) << again.status();
  std::memset((*memory)->data, 0, 256 << 10);
  ASSERT_TRUE(put(*again).ok());
  EXPECT_EQ(0, std::memcmp((*pool)->data, (*memory)->data, 256 << 10));
  client.reset();  // before the buffers it may still touch
}

// A peer that dies is reported: messages to it fail UNAVAILABLE within their deadline, or (shared
// memory without peer error handling, where a send into a dead peer's FIFO completes locally) at
// least never hang.
TEST_P(MessagesTest, DeadPeerIsUnavailableWithinTheDeadline) {
  client_.reset();
  const absl::Time start = absl::Now();
  absl::Status last;
  while (absl::Now() - start < absl::Seconds(3)) {
    last = Send(*node_, to_client_, std::string(1024, 'x'), absl::Milliseconds(500));
    ASSERT_NE(last.code(), absl::StatusCode::kInternal) << last;  // the callback always ran
    if (!last.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (GetParam() != Backend::kUcxShm) {
    EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
  } else {
    // Every send ended within its own deadline, as delivered or as UNAVAILABLE, nothing else.
    EXPECT_TRUE(last.ok() || last.code() == absl::StatusCode::kUnavailable) << last;
  }
  if (auto* ucx = dynamic_cast<UcxTransport*>(node_.get())) {
    // A stuck send is abandoned after a grace period (500 ms); poll for it, bounded.
    const absl::Time until = absl::Now() + absl::Seconds(3);
    while (ucx->TEST_LiveBatches() != 0 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_EQ(ucx->TEST_LiveBatches(), 0u);
  }
}

// UcxTransport::Drive: a caller runs the loop itself while it waits for a reply (as the client's
// data session does), so its request, the peer's reply and the handler run on the caller.
TEST_P(MessagesTest, DriveSendsAndTakesTheReplyOnTheCallingThread) {
  auto* ucx = dynamic_cast<UcxTransport*>(client_.get());
  if (ucx == nullptr) GTEST_SKIP() << "Drive is UcxTransport's";
  node_->SetMessageHandler([this](std::string message) -> std::optional<std::string> {
    node_->SendMessage(to_client_, "echo:" + message, absl::Now() + kTimeout, [](absl::Status) {});
    return std::nullopt;
  });
  const std::thread::id caller = std::this_thread::get_id();
  absl::Mutex mu;
  std::vector<std::string> replies;
  std::vector<bool> on_caller;
  client_->SetMessageHandler([&](std::string message) -> std::optional<std::string> {
    absl::MutexLock lock(&mu);
    replies.push_back(std::move(message));
    on_caller.push_back(std::this_thread::get_id() == caller);
    return std::nullopt;
  });
  std::mt19937_64 rng(7);
  std::vector<std::string> want;
  int driven = 0;
  for (int i = 0; i < 20; ++i) {
    // Eager and rendezvous sizes both ways.
    std::string request = RandomBytes(rng, (i % 2 == 0) ? 1 + rng() % 64 : 1 + rng() % (96 << 10));
    want.push_back("echo:" + request);
    const size_t n = want.size();
    auto sent = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> sent_status = sent->get_future();
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return replies.size() >= n; };
    const UcxTransport::DriveResult r = ucx->Drive(
        [&] {
          client_->SendMessage(to_node_, request, absl::Now() + kTimeout,
                               [sent](absl::Status st) { sent->set_value(std::move(st)); });
        },
        [&] {
          absl::MutexLock lock(&mu);
          return arrived();
        },
        kTimeout);
    ASSERT_NE(r, UcxTransport::DriveResult::kTimedOut) << "no reply within " << kTimeout;
    if (r == UcxTransport::DriveResult::kReady) {
      ++driven;
      // The send's callback ran on this thread, before the reply was taken in.
      ASSERT_EQ(sent_status.wait_for(std::chrono::seconds(0)), std::future_status::ready);
      EXPECT_TRUE(sent_status.get().ok());
    } else {  // kBusy: the progress thread was mid-pass; it delivers the reply
      absl::MutexLock lock(&mu);
      ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&arrived), kTimeout));
    }
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(FirstDifference(replies, want), "");
  // Nothing else runs the loop here, so the calls were driven, and a driven reply's handler ran
  // on the caller (the progress thread may take the odd one between passes).
  EXPECT_GT(driven, 0);
  EXPECT_EQ(ucx->TEST_DrivenCalls(), static_cast<uint64_t>(driven));
  EXPECT_GT(std::count(on_caller.begin(), on_caller.end(), true), 0);
}

TEST_P(MessagesTest, DriveTimesOutThenTheProgressThreadDeliversTheLateReply) {
  auto* ucx = dynamic_cast<UcxTransport*>(client_.get());
  if (ucx == nullptr) GTEST_SKIP() << "Drive is UcxTransport's";
  // The node answers only when told to, from a thread of its own, after the caller gave up.
  absl::Mutex node_mu;
  bool answer = false;
  node_->SetMessageHandler([&](std::string) -> std::optional<std::string> {
    absl::MutexLock lock(&node_mu);
    answer = true;
    return std::nullopt;
  });
  bool sent = false;
  UcxTransport::DriveResult r = UcxTransport::DriveResult::kBusy;
  // kBusy: the progress thread was mid-pass (it runs the send); try again, bounded.
  for (int i = 0; i < 1000 && r == UcxTransport::DriveResult::kBusy; ++i) {
    r = ucx->Drive(
        [&] {
          if (!sent) {
            client_->SendMessage(to_node_, "question", absl::Now() + kTimeout,
                                 [](absl::Status) {});
          }
          sent = true;
        },
        [] { return false; }, absl::Milliseconds(30));
    if (r == UcxTransport::DriveResult::kBusy) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(r, UcxTransport::DriveResult::kTimedOut);
  {
    absl::MutexLock lock(&node_mu);
    ASSERT_TRUE(node_mu.AwaitWithTimeout(absl::Condition(&answer), kTimeout));
  }
  ASSERT_TRUE(Send(*node_, to_client_, "late answer").ok());
  EXPECT_EQ(client_inbox_.Await(1), std::vector<std::string>{"late answer"});
}

TEST_P(MessagesTest, ConcurrentDriversAllGetTheirReplies) {
  auto* ucx = dynamic_cast<UcxTransport*>(client_.get());
  if (ucx == nullptr) GTEST_SKIP() << "Drive is UcxTransport's";
  node_->SetMessageHandler([this](std::string message) -> std::optional<std::string> {
    node_->SendMessage(to_client_, "echo:" + message, absl::Now() + kTimeout, [](absl::Status) {});
    return std::nullopt;
  });
  absl::Mutex mu;
  std::set<std::string> replies;
  client_->SetMessageHandler([&](std::string message) -> std::optional<std::string> {
    absl::MutexLock lock(&mu);
    replies.insert(std::move(message));
    return std::nullopt;
  });
  constexpr int kThreads = 4;
  constexpr int kCalls = 25;
  std::atomic<int> missing{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string request = absl::StrCat(t, "/", i);
        auto arrived = [&] {
          absl::MutexLock lock(&mu);
          return replies.count("echo:" + request) > 0;
        };
        bool sent = false;
        const absl::Time until = absl::Now() + kTimeout;
        while (!arrived() && absl::Now() < until) {
          const UcxTransport::DriveResult r = ucx->Drive(
              [&] {
                if (!sent) {
                  client_->SendMessage(to_node_, request, until, [](absl::Status) {});
                }
                sent = true;
              },
              arrived, absl::Milliseconds(20));
          if (r == UcxTransport::DriveResult::kBusy) absl::SleepFor(absl::Milliseconds(1));
        }
        if (!arrived()) missing.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(missing.load(), 0);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(replies.size(), static_cast<size_t>(kThreads * kCalls));
}

INSTANTIATE_TEST_SUITE_P(Backends, MessagesTest,
                         ::testing::Values(Backend::kLoopback, Backend::kUcxShm, Backend::kUcxTcp),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

}  // namespace
}  // namespace strata::transfer::testing
