#include "cluster/replay/replay_cli.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cluster/replay/belady.h"
#include "cluster/replay/generator.h"
#include "cluster/replay/progress.h"
#include "cluster/replay/replay.h"
#include "cluster/replay/trace.h"
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
  app.add_option("--trace", trace_path, "Mooncake JSONL trace")->required();
  app.add_option("--policy", policies, "eviction policy, or several separated by commas");
  auto* blocks_opt = app.add_option("--capacity-blocks", capacity_blocks, "capacity in blocks");
  auto* frac_opt = app.add_option("--capacity-fraction", capacity_fraction,
                                  "capacity as a fraction of the trace's distinct blocks");
  blocks_opt->excludes(frac_opt);
  app.add_flag("--offline", offline, "replay in-process over an accounting-only cache");
  app.add_flag("--json", json, "print one JSON object per policy");
  app.add_flag("--no-timing", no_timing, "send requests back to back (live replay)");
  app.add_option("--block-tokens", block_tokens, "tokens per trace block")->capture_default_str();
  app.add_option("--block-bytes", block_bytes_text, "bytes per block (SIZE; default 64MiB)");
  if (auto done = Parse(app, args, out, err)) return *done;

  if (blocks_opt->count() == 0 && frac_opt->count() == 0) {
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
  if (!offline) {
    // The live mode drives a node through a ReplayBackend over strata::Client (Lookup the
    // prefix, Put the rest, timestamps honoured unless --no-timing); it lands with the client.
    err << "replay: live replay needs --offline until the client lands\n";
    return kError;
  }

  auto trace = ReadTraceFile(trace_path);
  if (!trace.ok()) {
    err << "replay: " << trace.status().message() << '\n';
    return kError;
  }
  const uint64_t distinct = CountDistinctBlocks(*trace);
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
  auto trace = GenerateChatWorkload(o);
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
