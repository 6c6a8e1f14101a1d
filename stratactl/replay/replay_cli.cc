#include "stratactl/replay/replay_cli.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <string_view>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "stratactl/replay/belady.h"
#include "stratactl/replay/generator.h"
#include "stratactl/replay/live_backend.h"
#include "stratactl/replay/progress.h"
#include "stratactl/replay/replay.h"
#include "stratactl/replay/suite.h"
#include "stratactl/replay/trace.h"
#include "stratactl/replay/workloads.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

namespace strata::replay {
namespace {

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kUsage = 2;

// Parses CLI11 arguments given without the program name. Returns an exit status when the
// command is done (help printed or a usage error), nullopt to go on.
std::optional<int> Parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed.
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kOk;
  } catch (const CLI::ParseError& e) {
    err << app.get_name() << ": " << e.what() << '\n';
    return kUsage;
  }
  return std::nullopt;
}

double GapClosed(double policy, double lru, double belady) {
  if (belady - lru <= 1e-12) return policy >= lru ? 1.0 : 0.0;
  return (policy - lru) / (belady - lru);
}

// "MIN:MAX" or a single number for both.
bool ParseRange(const std::string& text, uint32_t& lo, uint32_t& hi) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() == 1) parts.push_back(parts[0]);
  if (parts.size() != 2) return false;
  return absl::SimpleAtoi(parts[0], &lo) && absl::SimpleAtoi(parts[1], &hi) && lo <= hi;
}

// Sleeps until each request's arrival time (relative to the first Serve) before serving it.
class TimedBackend final : public ReplayBackend {
 public:
  explicit TimedBackend(ReplayBackend* inner) : inner_(inner) {}
  std::string Describe() const override { return inner_->Describe() + " (timed)"; }
  absl::StatusOr<RequestOutcome> Serve(const TraceRequest& request) override {
    if (!started_) {
      start_ = std::chrono::steady_clock::now();
      started_ = true;
    }
    std::this_thread::sleep_until(
        start_ + std::chrono::microseconds(static_cast<int64_t>(request.timestamp_ms * 1000)));
    return inner_->Serve(request);
  }

 private:
  ReplayBackend* const inner_;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_;
};

struct LiveArgs {
  std::string node;
  std::string nodes;  // a static cluster instead of one node: HOST:PORT[,HOST:PORT...]
  std::string ns;
  bool no_timing = false;
  bool keep = false;
  bool json = false;
  uint64_t capacity_blocks = 0;  // 0: derived from the node's capacity
};

// Replays `trace` against a running node and reports the node's hit ratios next to the offline
// Belady and LRU at the same capacity in blocks.
int RunLive(const std::vector<TraceRequest>& trace, const LiveArgs& a,
            const BlockGeometry& geometry, std::ostream& out, std::ostream& err) {
  ClientOptions co;
  co.address = a.node;
  for (absl::string_view part : absl::StrSplit(a.nodes, ',', absl::SkipEmpty())) {
    co.nodes.emplace_back(part);
  }
  auto client = Client::Connect(co);
  if (!client.ok()) {
    err << "replay: " << client.status().message() << '\n';
    return kError;
  }
  auto info = (*client)->NodeInfo();
  if (!info.ok()) {
    err << "replay: " << info.status().message() << '\n';
    return kError;
  }
  if (geometry.block_bytes > info->max_payload_bytes()) {
    err << "replay: --block-bytes " << geometry.block_bytes << " exceeds the node's max payload "
        << info->max_payload_bytes() << '\n';
    return kUsage;
  }
  uint64_t node_bytes = 0;
  std::string policy = "?";
  for (const auto& t : info->tiers()) {
    if (!t.available()) continue;
    node_bytes += t.capacity_bytes();
    if (t.name() == "dram") policy = t.policy();
  }
  OfflineCacheOptions cache;
  cache.geometry = geometry;
  cache.capacity_blocks = a.capacity_blocks != 0
                              ? a.capacity_blocks
                              : std::max<uint64_t>(1, node_bytes / geometry.block_bytes);
  (void)(*client)->Evict(a.ns);  // start from an empty namespace

  LiveNodeBackend live(client->get(), a.ns, geometry);
  TimedBackend timed(&live);
  ReplayBackend& backend = a.no_timing ? static_cast<ReplayBackend&>(live) : timed;
  ProgressBar bar(err, "replay");
  ReplayOptions options;
  options.geometry = geometry;
  options.progress = [&](size_t done, size_t total) { bar.Update(done, total); };
  const auto start = std::chrono::steady_clock::now();
  auto stats = Replay(trace, backend, options);
  bar.Finish();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!stats.ok()) {
    err << "replay: " << stats.status().message() << '\n';
    return kError;
  }
  auto node_stats = (*client)->Stats();
  if (!a.keep) (void)(*client)->Evict(a.ns);  // best effort: leave the node as found
  auto belady = ReplayBeladyLeaves(trace, cache);
  auto lru_cache = OfflinePrefixCache::Create("lru", cache);
  absl::StatusOr<ReplayStats> lru =
      lru_cache.ok() ? Replay(trace, **lru_cache, ReplayOptions{geometry, nullptr})
                     : absl::StatusOr<ReplayStats>(lru_cache.status());
  if (!belady.ok() || !lru.ok()) {
    err << "replay: " << (belady.ok() ? lru.status() : belady.status()).message() << '\n';
    return kError;
  }
  const ReplayStats& s = *stats;
  nlohmann::json tiers = nlohmann::json::array();
  for (const auto& [name, hits] : live.tier_hits()) {
    tiers.push_back({{"name", name},
                     {"hit_blocks", hits},
                     {"hit_ratio", s.blocks ? double(hits) / double(s.blocks) : 0.0}});
  }
  if (a.json) {
    nlohmann::json j;
    j["policy"] = policy;
    j["mode"] = "live";
    j["node"] = a.node;
    j["capacity_blocks"] = cache.capacity_blocks;
    j["requests"] = s.requests;
    j["blocks"] = s.blocks;
    j["hit_blocks"] = s.hit_blocks;
    j["hit_ratio"] = s.hit_ratio();
    j["token_hit_ratio"] = s.token_hit_ratio();
    j["belady_hit_ratio"] = belady->hit_ratio();
    j["lru_hit_ratio"] = lru->hit_ratio();
    j["tiers"] = tiers;
    j["stored_blocks"] = s.stored_blocks;
    j["unstored_blocks"] = s.unstored_blocks;
    j["stored_bytes"] = s.stored_bytes;
    j["served_bytes"] = s.served_bytes;
    j["wrong_blocks"] = live.wrong_blocks();
    if (node_stats.ok()) {
      j["node_demotions"] = node_stats->demotions();
      j["node_evictions"] = node_stats->evictions();
    }
    j["block_bytes"] = geometry.block_bytes;
    j["elapsed_s"] = elapsed;
    out << j.dump() << '\n';
  } else {
    out << std::fixed << std::setprecision(4) << "live replay against " << a.node << " (policy "
        << policy << "), " << s.requests << " requests in " << std::setprecision(2) << elapsed
        << " s\n"
        << std::setprecision(4) << "  hit ratio " << s.hit_ratio() << "  token hit ratio "
        << s.token_hit_ratio() << "\n  offline at " << cache.capacity_blocks << " blocks: belady "
        << belady->hit_ratio() << "  lru " << lru->hit_ratio() << "\n";
    for (const auto& [name, hits] : live.tier_hits()) {
      out << "  " << name << " hits " << hits << '\n';
    }
    out << "  stored " << FormatSize(s.stored_bytes) << "  served " << FormatSize(s.served_bytes)
        << "  refused " << s.unstored_blocks << " blocks  wrong bytes in " << live.wrong_blocks()
        << " blocks\n";
  }
  return live.wrong_blocks() == 0 ? kOk : kError;
}

}  // namespace

int RunReplayCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("Replays a Mooncake-format trace against an eviction policy", "replay");
  std::string trace_path;
  std::string policies = kRecommendedPolicy;
  uint64_t capacity_blocks = 0;
  double capacity_fraction = 0;
  bool offline = false, json = false, no_timing = false;
  uint32_t block_tokens = 512;
  std::string block_bytes_text;
  app.add_option("--trace", trace_path, "Mooncake JSONL trace (with --suite: one more family)");
  bool suite = false;
  uint64_t suite_seed = 1;
  uint32_t suite_requests = 4000;
  app.add_flag("--suite", suite,
               "offline: every policy x workload family x capacity {0.05,0.1,0.25,0.5} in one table");
  app.add_option("--seed", suite_seed, "--suite: seed of the generated families")
      ->capture_default_str();
  app.add_option("--requests", suite_requests, "--suite: requests per generated family")
      ->capture_default_str();
  app.add_option("--policy", policies, "eviction policy, or several separated by commas");
  auto* blocks_opt = app.add_option("--capacity-blocks", capacity_blocks, "capacity in blocks");
  auto* frac_opt = app.add_option("--capacity-fraction", capacity_fraction,
                                  "capacity as a fraction of the trace's distinct blocks");
  blocks_opt->excludes(frac_opt);
  app.add_flag("--offline", offline, "replay in-process over an accounting-only cache");
  app.add_flag("--json", json, "print one JSON object per policy");
  app.add_flag("--no-timing", no_timing, "send requests back to back (live replay)");
  app.add_option("--block-tokens", block_tokens, "tokens per trace block")->capture_default_str();
  app.add_option("--block-bytes", block_bytes_text,
                 "bytes per block (SIZE; default 64MiB offline, 64KiB live)");
  LiveArgs live;
  live.node = "127.0.0.1:7100";
  live.ns = "strata-replay";
  size_t max_requests = 0;
  app.add_option("--node", live.node, "live replay: node address HOST:PORT");
  app.add_option("--nodes", live.nodes, "live replay: a static cluster HOST:PORT[,HOST:PORT...]");
  app.add_option("--ns", live.ns, "live replay: namespace (evicted before and after)");
  app.add_flag("--keep", live.keep, "live replay: leave the replayed blocks in the node");
  app.add_option("--max-requests", max_requests, "replay only the first N requests");
  if (auto done = Parse(app, args, out, err)) return *done;

  if (suite) {
    if (!offline) {
      err << "replay: --suite needs --offline\n";
      return kUsage;
    }
    if (blocks_opt->count() > 0 || frac_opt->count() > 0) {
      err << "replay: --suite sets its own capacities\n";
      return kUsage;
    }
  } else if (trace_path.empty()) {
    err << "replay: --trace is required\n";
    return kUsage;
  }
  if (offline && !suite && blocks_opt->count() == 0 && frac_opt->count() == 0) {
    err << "replay: one of --capacity-blocks or --capacity-fraction is required\n";
    return kUsage;
  }
  if (frac_opt->count() > 0 && !(capacity_fraction > 0 && capacity_fraction <= 1)) {
    err << "replay: --capacity-fraction must be in (0, 1]\n";
    return kUsage;
  }
  if (blocks_opt->count() > 0 && capacity_blocks == 0) {
    err << "replay: --capacity-blocks must be at least 1\n";
    return kUsage;
  }
  if (block_tokens == 0) {
    err << "replay: --block-tokens must be at least 1\n";
    return kUsage;
  }
  BlockGeometry geometry;
  geometry.block_tokens = block_tokens;
  if (!block_bytes_text.empty()) {
    auto bytes = ParseSize(block_bytes_text);
    if (!bytes.ok() || *bytes == 0) {
      err << "replay: --block-bytes: expected a positive SIZE, got '" << block_bytes_text << "'\n";
      return kUsage;
    }
    geometry.block_bytes = *bytes;
  }
  std::vector<std::string> names = absl::StrSplit(policies, ',', absl::SkipEmpty());
  if (names.empty()) {
    err << "replay: --policy: expected a policy name\n";
    return kUsage;
  }
  for (const std::string& name : names) {
    auto probe = MakeEvictionPolicy(name);
    if (!probe.ok()) {
      err << "replay: --policy: " << probe.status().message() << '\n';
      return kUsage;
    }
  }
  if (suite) {
    const bool all = app.get_option("--policy")->count() == 0;
    std::vector<SuiteTrace> extra;
    if (!trace_path.empty()) {
      auto trace = ReadTraceFile(trace_path);
      if (!trace.ok()) {
        err << "replay: " << trace.status().message() << '\n';
        return kError;
      }
      std::string stem = trace_path.substr(trace_path.find_last_of('/') + 1);
      stem = stem.substr(0, stem.find('.'));
      extra.push_back(SuiteTrace{stem, std::move(*trace)});
    }
    auto traces = SuiteTraces(suite_seed, suite_requests, std::move(extra));
    if (!traces.ok()) {
      err << "replay: " << traces.status().message() << '\n';
      return kUsage;
    }
    SuiteOptions so;
    so.policies = all ? EvictionPolicyNames() : names;
    so.geometry = geometry;
    const auto start = std::chrono::steady_clock::now();
    auto cells = RunSuite(*traces, so);
    if (!cells.ok()) {
      err << "replay: " << cells.status().message() << '\n';
      return kError;
    }
    if (json) {
      PrintSuiteJson(*cells, out);
    } else {
      PrintSuiteTable(*cells, out);
      out << "suite: " << traces->size() << " traces in " << std::setprecision(1)
          << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
          << " s\n";
    }
    return kOk;
  }
  auto trace = ReadTraceFile(trace_path);
  if (!trace.ok()) {
    err << "replay: " << trace.status().message() << '\n';
    return kError;
  }
  if (max_requests > 0 && trace->size() > max_requests) trace->resize(max_requests);
  const uint64_t distinct = CountDistinctBlocks(*trace);
  if (!offline) {
    if (block_bytes_text.empty()) geometry.block_bytes = 64 * 1024;
    live.no_timing = no_timing;
    live.json = json;
    if (blocks_opt->count() > 0) live.capacity_blocks = capacity_blocks;
    if (frac_opt->count() > 0) {
      live.capacity_blocks = std::max<uint64_t>(
          1, static_cast<uint64_t>(capacity_fraction * static_cast<double>(distinct)));
    }
    return RunLive(*trace, live, geometry, out, err);
  }
  OfflineCacheOptions cache;
  cache.geometry = geometry;
  cache.capacity_blocks =
      blocks_opt->count() > 0
          ? capacity_blocks
          : std::max<uint64_t>(
                1, static_cast<uint64_t>(capacity_fraction * static_cast<double>(distinct)));

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar(err, "replay");
  // Each policy run, LRU and Belady count as one step of the bar.
  const size_t steps = (names.size() + 2) * trace->size();
  size_t base = 0;
  ReplayOptions options;
  options.geometry = geometry;
  options.progress = [&](size_t done, size_t) { bar.Update(base + done, steps); };
  auto run = [&](const std::string& name) -> absl::StatusOr<ReplayStats> {
    auto backend = OfflinePrefixCache::Create(name, cache);
    if (!backend.ok()) return backend.status();
    auto stats = Replay(*trace, **backend, options);
    base += trace->size();
    return stats;
  };
  auto belady = ReplayBeladyLeaves(*trace, cache);
  base += trace->size();
  auto lru = run("lru");
  if (!belady.ok() || !lru.ok()) {
    err << "replay: " << (belady.ok() ? lru.status() : belady.status()).message() << '\n';
    return kError;
  }
  std::vector<std::pair<std::string, ReplayStats>> results;
  for (const std::string& name : names) {
    auto stats = name == "lru" ? lru : run(name);
    if (!stats.ok()) {
      err << "replay: " << stats.status().message() << '\n';
      return kError;
    }
    results.emplace_back(name, *stats);
  }
  bar.Finish();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const auto& [name, s] : results) {
    const double gap = GapClosed(s.hit_ratio(), lru->hit_ratio(), belady->hit_ratio());
    if (json) {
      nlohmann::json j;
      j["policy"] = name;
      j["capacity_blocks"] = cache.capacity_blocks;
      if (frac_opt->count() > 0) j["capacity_fraction"] = capacity_fraction;
      j["distinct_blocks"] = distinct;
      j["requests"] = s.requests;
      j["blocks"] = s.blocks;
      j["hit_blocks"] = s.hit_blocks;
      j["hit_ratio"] = s.hit_ratio();
      j["token_hit_ratio"] = s.token_hit_ratio();
      j["belady_hit_ratio"] = belady->hit_ratio();
      j["belady_token_hit_ratio"] = belady->token_hit_ratio();
      j["lru_hit_ratio"] = lru->hit_ratio();
      j["lru_token_hit_ratio"] = lru->token_hit_ratio();
      j["gap_closed"] = gap;
      j["tiers"] = nlohmann::json::array(
          {{{"name", "offline"}, {"hit_ratio", s.hit_ratio()}, {"hit_blocks", s.hit_blocks}}});
      j["stored_blocks"] = s.stored_blocks;
      j["evicted_blocks"] = s.evicted_blocks;
      j["unstored_blocks"] = s.unstored_blocks;
      j["stored_bytes"] = s.stored_bytes;
      j["served_bytes"] = s.served_bytes;
      j["block_tokens"] = geometry.block_tokens;
      j["block_bytes"] = geometry.block_bytes;
      j["mode"] = "offline";
      j["elapsed_s"] = elapsed;
      out << j.dump() << '\n';
    } else {
      out << std::fixed << std::setprecision(4) << "policy " << name << "  capacity "
          << cache.capacity_blocks << " blocks (" << std::setprecision(3)
          << static_cast<double>(cache.capacity_blocks) / static_cast<double>(distinct) << " of "
          << distinct << " distinct)\n"
          << std::setprecision(4) << "  hit ratio " << s.hit_ratio() << "  token hit ratio "
          << s.token_hit_ratio() << "\n  belady " << belady->hit_ratio() << " (tokens "
          << belady->token_hit_ratio() << ")  lru " << lru->hit_ratio() << "  gap closed "
          << std::setprecision(3) << gap << "\n  stored " << FormatSize(s.stored_bytes)
          << "  served " << FormatSize(s.served_bytes) << "  evicted " << s.evicted_blocks
          << " blocks  " << s.requests << " requests in " << std::setprecision(2) << elapsed
          << " s\n";
    }
  }
  return kOk;
}

int RunGenerateTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                            std::ostream& err) {
  CLI::App app("Generates a multi-turn chat workload in Mooncake's trace format", "generate");
  ChatWorkloadOptions o;
  std::string out_path, prompt_tokens, user_tokens, output_tokens;
  app.add_option("--out", out_path, "output file (default: standard output)");
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_option("--conversations", o.conversations)->capture_default_str();
  app.add_option("--max-requests", o.max_requests, "0 = no limit")->capture_default_str();
  app.add_option("--arrival-rate", o.arrival_rate_per_s, "new conversations per second")
      ->capture_default_str();
  app.add_option("--system-prompts", o.system_prompts)->capture_default_str();
  app.add_option("--system-prompt-zipf", o.system_prompt_zipf)->capture_default_str();
  app.add_option("--system-prompt-tokens", prompt_tokens, "MIN:MAX (default 1024:8192)");
  app.add_option("--conversation-zipf", o.conversation_zipf)->capture_default_str();
  app.add_option("--max-turns", o.max_turns)->capture_default_str();
  app.add_option("--turn-gap-s", o.mean_turn_gap_s, "mean gap between turns")
      ->capture_default_str();
  app.add_option("--user-tokens", user_tokens, "MIN:MAX (default 32:1024)");
  app.add_option("--output-tokens", output_tokens, "MIN:MAX (default 32:512)");
  app.add_option("--max-input-tokens", o.max_input_tokens)->capture_default_str();
  app.add_option("--block-tokens", o.block_tokens)->capture_default_str();
  std::string family;
  uint32_t requests = 4000;
  app.add_option("--family", family,
                 "a workload family of the suite (chat, rag, agent, scan, mix) instead of the "
                 "chat model above; takes --seed, --requests, --block-tokens");
  app.add_option("--requests", requests, "--family: requests in the trace")->capture_default_str();
  if (auto done = Parse(app, args, out, err)) return *done;
  struct Range {
    const char* flag;
    const std::string& text;
    uint32_t& lo;
    uint32_t& hi;
  };
  for (const Range& r :
       {Range{"--system-prompt-tokens", prompt_tokens, o.system_prompt_tokens_min,
              o.system_prompt_tokens_max},
        Range{"--user-tokens", user_tokens, o.user_tokens_min, o.user_tokens_max},
        Range{"--output-tokens", output_tokens, o.output_tokens_min, o.output_tokens_max}}) {
    if (!r.text.empty() && !ParseRange(r.text, r.lo, r.hi)) {
      err << "generate: " << r.flag << ": expected MIN:MAX with MIN <= MAX, got '" << r.text
          << "'\n";
      return kUsage;
    }
  }
  absl::StatusOr<std::vector<TraceRequest>> trace;
  if (!family.empty()) {
    WorkloadOptions w;
    w.seed = o.seed;
    w.requests = requests;
    w.block_tokens = o.block_tokens;
    trace = GenerateWorkload(family, w);
  } else {
    trace = GenerateChatWorkload(o);
  }
  if (!trace.ok()) {
    err << "generate: " << trace.status().message() << '\n';
    return kUsage;
  }
  if (out_path.empty()) {
    WriteTrace(*trace, out);
  } else {
    std::ofstream file(out_path);
    if (!file) {
      err << "generate: cannot open '" << out_path << "' for writing\n";
      return kError;
    }
    WriteTrace(*trace, file);
    file.close();
    if (!file) {
      err << "generate: error writing '" << out_path << "'\n";
      return kError;
    }
  }
  err << "generate: " << trace->size() << " requests, " << CountDistinctBlocks(*trace)
      << " distinct blocks\n";
  return kOk;
}

}  // namespace strata::replay
