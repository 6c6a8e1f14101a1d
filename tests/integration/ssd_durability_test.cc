// strata-node with its SSD directory on a small tmpfs that fills up (issue 20): no acknowledged
// block is lost or wrong, the SSD tier reports itself degraded, SIGTERM exits 0, and a restart
// on the full disk serves every block that was on the SSD. Needs root for the mount; skipped
// (with the reason) otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "client/client.h"
#include "tests/testing/process.h"
#include "tests/testing/start_node.h"

namespace strata {
namespace {

using testing::ConnectTo;
using testing::NodeProcess;

// A tmpfs of `size_mib` MiB mounted on a fresh directory, unmounted on destruction.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& name, int size_mib) : dir_(testing::FreshDir(name)) {
    const std::string opts = "size=" + std::to_string(size_mib) + "m";
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

const v1::TierInfo& TierNamed(const v1::StatsResponse& s, const std::string& name) {
  for (const auto& t : s.tiers()) {
    if (t.name() == name) return t;
  }
  static const v1::TierInfo kNone;
  return kNone;
}

void FullDiskRound(const std::string& ssd_size, int blocks) {
  Tmpfs disk("ssd-full-" + ssd_size, 20);
  if (!disk.mounted()) {
    GTEST_SKIP() << "cannot mount a 20 MiB tmpfs (" << disk.error()
                 << "); this test needs root to fill a real disk";
  }
  const std::string home = testing::FreshDir("ssd-full-home-" + ssd_size);
  const std::vector<std::string> args = {"--dram", "8MiB",      "--ssd",
                                         ssd_size, "--ssd-dir", disk.dir() + "/ssd"};
  std::string error;
  auto node = NodeProcess::Start(home, args, &error);
  ASSERT_NE(node, nullptr) << error;
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);

  std::mt19937_64 rng(20);
  std::vector<std::string> keys, values;
  std::set<size_t> acked;
  size_t refused = 0;
  for (int i = 0; i < blocks; ++i) {
    keys.push_back("block-" + std::to_string(i));
    std::string v(1 << 20, '\0');
    for (auto& c : v) c = static_cast<char>(rng());
    values.push_back(std::move(v));
    const PutBlock b{keys.back(), "", {}, values.back()};
    auto put = client->Put("it/full", {&b, 1});
    // A call whose every key failed answers with that key's status.
    const absl::Status st = put.ok() ? (*put)[0] : put.status();
    if (st.ok()) {
      acked.insert(i);
    } else {
      ++refused;
      EXPECT_TRUE(absl::IsUnavailable(st) || absl::IsResourceExhausted(st)) << st;
      EXPECT_NE(st.message().find("ssd"), std::string_view::npos) << st;
    }
  }
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  const uint64_t evicted = stats->evictions();

  // Every acknowledged block is still there, or was evicted from the last tier (and counted):
  // Exists has no side effects, so the count is exact.
  std::vector<std::string> acked_keys;
  for (size_t i : acked) acked_keys.push_back(keys[i]);
  auto present = client->Exists("it/full", acked_keys);
  ASSERT_TRUE(present.ok()) << present.status();
  const size_t still = std::count(present->begin(), present->end(), true);
  EXPECT_EQ(acked.size() - still, evicted)
      << "acknowledged blocks lost: " << acked.size() - still - evicted;
  // And every one there reads back exact.
  size_t exact = 0, wrong = 0;
  for (size_t k = 0; k < acked_keys.size(); ++k) {
    if (!(*present)[k]) continue;
    auto got = client->Get("it/full", {&acked_keys[k], 1});
    ASSERT_TRUE(got.ok()) << got.status();
    const size_t i = std::stoul(acked_keys[k].substr(6));
    if (!(*got)[0].found()) continue;  // evicted by the reads' own promotions (counted)
    ((*got)[0].payload == values[i] ? exact : wrong)++;
  }
  EXPECT_EQ(wrong, 0u);
  stats = client->Stats();
  ASSERT_TRUE(stats.ok());
  const v1::TierInfo& ssd = TierNamed(*stats, "ssd");
  if (refused > 0) {
    EXPECT_TRUE(ssd.degraded()) << ssd.detail();
    EXPECT_NE(ssd.detail().find("degraded"), std::string::npos) << ssd.detail();
  }
  // Accounting true: 1 MiB blocks, each charged its stored bytes plus a small record.
  EXPECT_GE(ssd.used_bytes(), ssd.blocks() * (1u << 20));
  EXPECT_LE(ssd.used_bytes(), ssd.blocks() * ((1u << 20) + 4096));
  const uint64_t ssd_blocks = ssd.blocks();
  std::cerr << "[ssd " << ssd_size << "] acked " << acked.size() << ", refused " << refused
            << ", evicted " << evicted << ", present " << still << ", exact " << exact
            << ", ssd blocks " << ssd_blocks << ", degraded " << ssd.degraded() << " ("
            << ssd.detail() << ")\n";

  client.reset();
  EXPECT_EQ(node->Stop(SIGTERM), 0) << "SIGTERM on a full disk must exit 0, never abort";

  // Restart on the same (still full) disk: every block the SSD held is back, exact.
  node = NodeProcess::Start(home, args, &error);
  ASSERT_NE(node, nullptr) << "restart on the full disk: " << error;
  client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  size_t back = 0;
  for (size_t i : acked) {
    auto got = client->Get("it/full", {&keys[i], 1});
    ASSERT_TRUE(got.ok()) << got.status();
    if (!(*got)[0].found()) continue;
    EXPECT_EQ((*got)[0].payload, values[i]) << keys[i];
    ++back;
  }
  EXPECT_EQ(back, ssd_blocks) << "every block the SSD held before the restart";
  client.reset();
  EXPECT_EQ(node->Stop(SIGTERM), 0);
}

TEST(SsdDurability, FullTmpfsWithSsdSmallerThanTheDisk) { FullDiskRound("8MiB", 40); }

TEST(SsdDurability, FullTmpfsWithSsdLargerThanTheDisk) { FullDiskRound("64MiB", 60); }

// Issue 20's second reproduction: reads promote blocks into DRAM, which must not take them off
// the SSD. Two SIGTERM/restart rounds with every block read in between: the second restart
// still finds every block the first one did.
TEST(SsdDurability, ReadingBlocksKeepsThemAcrossRestarts) {
  const std::string home = testing::FreshDir("ssd-reads");
  const std::vector<std::string> args = {"--dram", "32MiB",     "--ssd",
                                         "256MiB", "--ssd-dir", home + "/ssd"};
  std::string error;
  auto node = NodeProcess::Start(home, args, &error);
  ASSERT_NE(node, nullptr) << error;
  auto client = ConnectTo(*node);
  ASSERT_NE(client, nullptr);
  std::mt19937_64 rng(21);
  std::vector<std::string> keys, values;
  for (int i = 0; i < 200; ++i) {
    keys.push_back("b" + std::to_string(i));
    std::string v(256 << 10, '\0');
    for (auto& c : v) c = static_cast<char>(rng());
    values.push_back(std::move(v));
    const PutBlock b{keys.back(), "", {}, values.back()};
    auto put = client->Put("it/reads", {&b, 1});
    ASSERT_TRUE(put.ok() && (*put)[0].ok());
  }
  client.reset();
  ASSERT_EQ(node->Stop(SIGTERM), 0);
  size_t first = 0;
  for (int round = 0; round < 2; ++round) {
    node = NodeProcess::Start(home, args, &error);
    ASSERT_NE(node, nullptr) << error;
    client = ConnectTo(*node);
    ASSERT_NE(client, nullptr);
    size_t hits = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto got = client->Get("it/reads", {&keys[i], 1});
      ASSERT_TRUE(got.ok());
      if (!(*got)[0].found()) continue;
      ASSERT_EQ((*got)[0].payload, values[i]) << keys[i];
      ++hits;
    }
    if (round == 0) first = hits;
    EXPECT_EQ(hits, first) << "round " << round;
    client.reset();
    ASSERT_EQ(node->Stop(SIGTERM), 0);
  }
  EXPECT_GE(first, 200u - 32 * 4);  // all but what DRAM held at the first shutdown
}

}  // namespace
}  // namespace strata
