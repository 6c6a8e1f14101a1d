// The replay and generate command lines: exit statuses, messages, JSON output.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "stratactl/replay/replay_cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace strata::replay {
namespace {

using ::testing::HasSubstr;

struct Result {
  int status;
  std::string out, err;
};

Result Replay(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = RunReplayCommand(args, out, err);
  return {status, out.str(), err.str()};
}

Result Generate(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = RunGenerateTraceCommand(args, out, err);
  return {status, out.str(), err.str()};
}

class ReplayCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("strata_prefix_cli_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    trace_ = (dir_ / "chat.jsonl").string();
    const Result g = Generate({"--out", trace_, "--conversations", "150", "--seed", "9"});
    ASSERT_EQ(g.status, 0) << g.err;
    ASSERT_THAT(g.err, HasSubstr("requests"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string trace_;
};

TEST_F(ReplayCliTest, JsonReportHasTheContractFields) {
  const Result r = Replay({"--trace", trace_, "--policy", "leaf-lru", "--capacity-fraction", "0.2",
                           "--offline", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["policy"], "leaf-lru");
  for (const char* key : {"capacity_blocks", "hit_ratio", "token_hit_ratio", "belady_hit_ratio",
                          "lru_hit_ratio", "gap_closed", "tiers", "stored_bytes", "served_bytes"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_LE(j["hit_ratio"].get<double>(), j["belady_hit_ratio"].get<double>());
  EXPECT_GT(j["capacity_blocks"].get<uint64_t>(), 0u);
}

TEST_F(ReplayCliTest, SeveralPoliciesAndTextOutput) {
  const Result r = Replay({"--trace", trace_, "--policy", "lru,prefix-aware", "--capacity-blocks",
                           "50", "--offline", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> policies;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["capacity_blocks"], 50);
    policies.push_back(j["policy"]);
  }
  EXPECT_THAT(policies, ::testing::ElementsAre("lru", "prefix-aware"));
  const Result text = Replay({"--trace", trace_, "--capacity-blocks", "50", "--offline"});
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("policy adaptive"));  // the default
  EXPECT_THAT(text.out, HasSubstr("belady"));
}

TEST_F(ReplayCliTest, UsageErrorsExitTwoWithOneLine) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--trace", trace_, "--offline"},  // no capacity
           {"--trace", trace_, "--capacity-blocks", "5", "--capacity-fraction", "0.1"},
           {"--trace", trace_, "--capacity-fraction", "1.5", "--offline"},
           {"--trace", trace_, "--capacity-blocks", "0", "--offline"},
           {"--capacity-blocks", "5", "--offline"},  // no trace
           {"--trace", trace_, "--capacity-blocks", "5", "--bogus"},
       }) {
    const Result r = Replay(args);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const Result r =
      Replay({"--trace", trace_, "--policy", "mru", "--capacity-blocks", "5", "--offline"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("'mru'"));
}

TEST_F(ReplayCliTest, OtherErrorsExitOne) {
  // Live mode (no --offline) with no node listening: one line, exit 1.
  const Result live = Replay({"--trace", trace_, "--capacity-blocks", "5", "--node",
                              "127.0.0.1:1"});
  EXPECT_EQ(live.status, 1);
  EXPECT_THAT(live.err, HasSubstr("no strata node answers at 127.0.0.1:1"));
  const Result missing =
      Replay({"--trace", (dir_ / "none.jsonl").string(), "--capacity-blocks", "5", "--offline"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.jsonl"));
  EXPECT_EQ(Replay({"--help"}).status, 0);
}

TEST_F(ReplayCliTest, GenerateValidatesAndWritesToStdout) {
  const Result r = Generate({"--conversations", "5", "--max-turns", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"hash_ids\""));
  EXPECT_EQ(Generate({"--user-tokens", "9:3"}).status, 2);
  EXPECT_EQ(Generate({"--conversations", "0"}).status, 2);
  EXPECT_EQ(Generate({"--out", "/nonexistent/dir/x.jsonl"}).status, 1);
}

TEST_F(ReplayCliTest, GenerateFamilyAndSuite) {
  const Result g = Generate({"--family", "agent", "--requests", "50", "--seed", "3"});
  ASSERT_EQ(g.status, 0) << g.err;
  EXPECT_EQ(std::count(g.out.begin(), g.out.end(), '\n'), 50);
  EXPECT_THAT(g.err, HasSubstr("generate: 50 requests"));
  const Result bad = Generate({"--family", "batch"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.err, HasSubstr("known: chat, rag, agent, scan, mix"));

  // Five generated families and the given trace, four capacities, belady + lru + cost.
  const Result s = Replay({"--suite", "--offline", "--requests", "60", "--trace", trace_,
                           "--policy", "cost", "--json"});
  ASSERT_EQ(s.status, 0) << s.err;
  std::istringstream lines(s.out);
  std::string line;
  int rows = 0, chat_rows = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ++rows;
    chat_rows += j["family"] == "chat";
    EXPECT_LE(j["hit_ratio"].get<double>(), j["belady_hit_ratio"].get<double>() + 1e-12);
    EXPECT_TRUE(j.contains("gap_closed"));
  }
  EXPECT_EQ(rows, 6 * 4 * 3);
  EXPECT_EQ(chat_rows, 2 * 4 * 3);  // the generated family and the fixture's chat.jsonl
  const Result table = Replay({"--suite", "--offline", "--requests", "60", "--policy", "cost"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("| family | F | blocks | belady | lru | cost |"));
  EXPECT_THAT(table.out, HasSubstr("| mix | 0.50 |"));
  EXPECT_EQ(Replay({"--suite", "--requests", "60"}).status, 2);  // needs --offline
  EXPECT_EQ(Replay({"--suite", "--offline", "--capacity-fraction", "0.1"}).status, 2);
  EXPECT_EQ(Replay({"--offline", "--capacity-fraction", "0.1"}).status, 2);  // no --trace
}

}  // namespace
}  // namespace strata::replay
