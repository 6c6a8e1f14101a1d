// kill -9 in a loop (issue 17): a strata-node with a small DRAM tier (so writes demote to the
// SSD tier) is SIGKILLed while a writer keeps putting blocks, restarted on the same data
// directory, and every block it ever acknowledged is read back. Each read is byte-exact or a
// miss, never other bytes.
//
// The flush point (storage/ssd_tier.h, docs/failures.md): a block survives kill -9 once the SSD
// tier's Write returned, i.e. once it was demoted. With one index shard and the lru policy, DRAM
// holds the most recently used blocks only, and Put demotes synchronously before it answers, so
// a block acknowledged at least `dram / block` Puts before the last acknowledged one is past the
// flush point when the kill lands. Those must all survive (asserted: 0 lost); the newer ones may
// be lost with DRAM. Blocks found after one restart were on the SSD, so they must survive every
// later kill as well. Also measured: restart (spawn to serving) and the first read after it.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "client/client.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"

namespace strata {
namespace {

// Removes a directory when it goes out of scope.
struct RemoveOnExit {
  std::string dir;
  ~RemoveOnExit() { std::filesystem::remove_all(dir); }
};

using Clock = std::chrono::steady_clock;
using testing::ConnectTo;
using testing::NodeProcess;

constexpr size_t kBlock = 64 << 10;
constexpr size_t kDram = 8 << 20;
constexpr size_t kFlushWindow = kDram / kBlock;  // 128 blocks: more than DRAM can hold
constexpr int kKills = 5;
constexpr char kNs[] = "robust/kill";

std::string KeyOf(int round, int seq) {
  return "r" + std::to_string(round) + "-" + std::to_string(seq);
}

// The payload is a function of the key, so any block read back can be checked on its own.
std::string PayloadOf(const std::string& key) {
  std::string v(kBlock, '\0');
  // splitmix64: cheap enough for sanitizer builds, which check every byte read back.
  uint64_t state = std::hash<std::string>{}(key);
  for (size_t i = 0; i + 8 <= v.size(); i += 8) {
    uint64_t x = (state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    std::memcpy(&v[i], &x, 8);
  }
  return v;
}

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Acked {
  std::string key;
  bool durable = false;  // past the flush point when the last kill landed, or seen after a restart
};

TEST(KillLoop, EveryBlockPastTheFlushPointSurvivesKillNineAndNoneIsWrong) {
  const std::string home = testing::FreshDir("kill-loop");
  const RemoveOnExit cleanup{home};  // also when an assertion ends the test early
  {
    std::ofstream cfg(home + "/node.yaml");
    // One index shard and plain LRU: DRAM holds exactly the most recent blocks (see the top).
    cfg << "index_shards: 1\ntiers:\n  dram:\n    policy: lru\n";
  }
  const std::vector<std::string> args = {
      "--dram",    "8MiB",        "--ssd",    "512MiB",
      "--ssd-dir", home + "/ssd", "--config", home + "/node.yaml"};
  const auto test_start = Clock::now();
  std::mt19937 rng(17);
  std::vector<Acked> acked;
  size_t lost_past_flush = 0, lost_in_window = 0, wrong = 0, checked = 0;
  std::vector<double> restart_ms, first_read_ms;
  std::string error;

  auto node = NodeProcess::Start(home, args, &error);
  ASSERT_NE(node, nullptr) << error;
  for (int round = 0; round <= kKills; ++round) {
    auto client = ConnectTo(*node);
    ASSERT_NE(client, nullptr);
    if (round > 0) {
      // Read back everything ever acknowledged: exact or a miss.
      const auto read_start = Clock::now();
      std::vector<Acked> kept;
      for (size_t i = 0; i < acked.size(); ++i) {
        auto got = client->Get(kNs, {&acked[i].key, 1});
        ASSERT_TRUE(got.ok()) << got.status();
        if (i == 0) first_read_ms.push_back(MsSince(read_start));
        const GetResult& r = (*got)[0];
        ++checked;
        if (r.found()) {
          if (r.payload != PayloadOf(acked[i].key)) {
            ++wrong;
            ADD_FAILURE() << "wrong bytes served for " << acked[i].key;
          }
          kept.push_back({acked[i].key, true});
        } else {
          ASSERT_TRUE(absl::IsNotFound(r.status)) << acked[i].key << ": " << r.status;
          if (acked[i].durable) {
            ++lost_past_flush;
            ADD_FAILURE() << acked[i].key << " was past the flush point and is gone";
          } else {
            ++lost_in_window;
          }
        }
      }
      acked = std::move(kept);
    }
    if (round == kKills) break;

    // Sustained writes; the kill lands once `target` blocks of this round were acknowledged.
    const int target = std::uniform_int_distribution<int>(200, 400)(rng);
    std::atomic<int> acked_now{0};
    std::vector<std::string> round_keys;  // written only by the writer until it is joined
    std::thread writer([&] {
      for (int seq = 0; seq < 4 * target; ++seq) {
        const std::string key = KeyOf(round, seq);
        const std::string value = PayloadOf(key);
        const PutBlock b{key, "", {}, value};
        auto put = client->Put(kNs, {&b, 1});
        if (!put.ok() || !(*put)[0].ok()) return;  // the node is gone
        round_keys.push_back(key);
        acked_now.store(seq + 1);
      }
    });
    // Bounded, and generous: every Put demotes a block to RocksDB before it answers, which a
    // sanitizer build on a loaded host can make slow.
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (acked_now.load() < target && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const int reached = acked_now.load();
    ::kill(node->pid(), SIGKILL);
    writer.join();  // before any ASSERT returns: a joinable thread's destructor aborts
    ASSERT_GE(reached, target) << "the writer stalled";
    EXPECT_EQ(node->Stop(SIGKILL), 128 + SIGKILL);
    // Blocks acknowledged at least kFlushWindow Puts before the last one had been demoted.
    for (size_t i = 0; i < round_keys.size(); ++i) {
      const bool durable = i + kFlushWindow <= round_keys.size();
      acked.push_back({round_keys[i], durable});
    }
    // A Put in flight at the kill: if the node stored it, it must read back exact.
    const std::string in_flight = KeyOf(round, static_cast<int>(round_keys.size()));

    client.reset();
    const auto restart = Clock::now();
    node = NodeProcess::Start(home, args, &error);
    ASSERT_NE(node, nullptr) << error;
    restart_ms.push_back(MsSince(restart));
    auto probe = ConnectTo(*node);
    ASSERT_NE(probe, nullptr);
    auto got = probe->Get(kNs, {&in_flight, 1});
    ASSERT_TRUE(got.ok()) << got.status();
    if ((*got)[0].found()) {
      EXPECT_EQ((*got)[0].payload, PayloadOf(in_flight)) << in_flight;
    }
  }
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  client.reset();
  EXPECT_EQ(node->Stop(SIGTERM), 0);

  const double total_s = MsSince(test_start) / 1000;
  const double max_restart = *std::max_element(restart_ms.begin(), restart_ms.end());
  double sum = 0;
  for (double ms : restart_ms) sum += ms;
  std::printf(
      "kill-loop: %d kills, %zu reads checked, %zu blocks survive; lost past the flush point: "
      "%zu, lost within the last %zu acknowledged (DRAM): %zu, wrong bytes: %zu; restart "
      "(spawn to serving, recovery included) mean %.0f ms, max %.0f ms; first read after "
      "restart max %.1f ms; checksum failures at the end %llu; total %.1f s\n",
      kKills, checked, acked.size(), lost_past_flush, kFlushWindow, lost_in_window, wrong,
      sum / restart_ms.size(), max_restart,
      *std::max_element(first_read_ms.begin(), first_read_ms.end()),
      static_cast<unsigned long long>(stats->checksum_failures()), total_s);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(lost_past_flush, 0u);
  // What a kill may take is what DRAM held: at most the window, per kill.
  EXPECT_LE(lost_in_window, kKills * kFlushWindow);
  EXPECT_EQ(stats->checksum_failures(), 0u);
  EXPECT_GT(acked.size(), 0u);
}

}  // namespace
}  // namespace strata
