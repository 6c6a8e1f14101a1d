// `stratactl demo multiturn`: a simulated multi-turn chat against a live node. Every
// conversation starts with the same system prompt; turn N+1 re-sends turns 1..N plus the new user
// message. Before each "prefill" the demo fetches the cached prefix (PrefixCache::Fetch), checks
// that every fetched block holds exactly the KV bytes that were stored for it, "computes" the rest
// (deterministic synthetic KV per block key) and stores the new full blocks. It prints per turn
// the prompt tokens reused vs computed.
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/prefix_cache.h"
#include "stratactl/data_commands.h"

namespace strata::ctl {
namespace {

using nlohmann::json;

// The KV a worker would compute for a block: a pure function of the block key.
std::string SyntheticKv(std::string_view key, size_t bytes) {
  std::seed_seq seed(key.begin(), key.end());
  std::mt19937_64 rng(seed);
  std::string kv(bytes, '\0');
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(kv.data() + i, &v, 8);
  }
  return kv;
}

std::vector<uint32_t> RandomTokens(size_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<uint32_t> t(n);
  for (auto& x : t) x = rng() % 32000;
  return t;
}

int MultiTurn(const Globals& g, const DemoArgs& a) {
  if (a.conversations == 0 || a.turns == 0 || a.block_tokens == 0 || a.kv_bytes_per_token == 0) {
    return Usage("demo multiturn: counts must be > 0");
  }
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  PrefixCache cache(client->get(), a.ns, {.block_tokens = a.block_tokens});
  const size_t block_bytes = a.block_tokens * a.kv_bytes_per_token;
  const std::vector<uint32_t> system = RandomTokens(a.system_tokens, 42);

  json turns = json::array();
  size_t total_prompt = 0, total_reused = 0, verified = 0;
  for (size_t c = 0; c < a.conversations; ++c) {
    std::vector<uint32_t> history = system;
    for (size_t t = 0; t < a.turns; ++t) {
      const auto user = RandomTokens(a.user_tokens, 1000 * (c + 1) + t);
      history.insert(history.end(), user.begin(), user.end());

      auto hit = cache.Fetch(history);
      if (!hit.ok()) return Fail(hit.status());
      for (size_t b = 0; b < hit->blocks; ++b) {
        if (hit->payloads[b] != SyntheticKv(hit->keys[b], block_bytes)) {
          return Fail(absl::DataLossError(
              absl::StrCat("conversation ", c + 1, " turn ", t + 1, ": block ", b,
                           " came back with different bytes than were stored")));
        }
        ++verified;
      }
      std::vector<std::string> computed;
      for (size_t b = hit->blocks; b < hit->keys.size(); ++b) {
        computed.push_back(SyntheticKv(hit->keys[b], block_bytes));
      }
      auto stored = cache.Store(history, computed, hit->blocks);
      if (!stored.ok()) return Fail(stored.status());

      const size_t reused = hit->tokens;
      total_prompt += history.size();
      total_reused += reused;
      turns.push_back({{"conversation", c + 1},
                       {"turn", t + 1},
                       {"prompt_tokens", history.size()},
                       {"reused_tokens", reused},
                       {"computed_tokens", history.size() - reused},
                       {"stored_blocks", *stored}});
      if (!g.json) {
        std::cout << "conversation " << c + 1 << " turn " << t + 1 << ": prompt " << history.size()
                  << " tokens, reused " << reused << " (" << (100 * reused / history.size())
                  << "%), computed " << history.size() - reused << "\n";
      }
      const auto reply = RandomTokens(a.reply_tokens, 7000 * (c + 1) + t);
      history.insert(history.end(), reply.begin(), reply.end());
    }
  }
  if (!a.keep) (void)(*client)->Evict(a.ns);  // best effort: the demo cleans up after itself
  const double ratio = total_prompt ? static_cast<double>(total_reused) / total_prompt : 0.0;
  if (g.json) {
    PrintJson({{"turns", turns},
               {"prompt_tokens", total_prompt},
               {"reused_tokens", total_reused},
               {"computed_tokens", total_prompt - total_reused},
               {"reuse_ratio", ratio},
               {"verified_blocks", verified}});
  } else {
    std::cout << "total: " << total_reused << " of " << total_prompt << " prompt tokens reused ("
              << static_cast<int>(100 * ratio) << "%), " << verified
              << " fetched blocks verified byte-exact\n";
  }
  return kExitOk;
}

}  // namespace

void AddDemoCommands(CLI::App& app, Globals& g, DemoArgs& a, std::function<int()>* run) {
  auto* demo = app.add_subcommand("demo", "demonstrations against a live node");
  demo->require_subcommand(1);
  auto* mt = demo->add_subcommand("multiturn", "multi-turn chat with a shared system prompt");
  mt->add_option("--ns", a.ns, "namespace (evicted afterwards unless --keep)");
  mt->add_option("--conversations", a.conversations);
  mt->add_option("--turns", a.turns);
  mt->add_option("--system-tokens", a.system_tokens);
  mt->add_option("--user-tokens", a.user_tokens);
  mt->add_option("--reply-tokens", a.reply_tokens);
  mt->add_option("--block-tokens", a.block_tokens);
  mt->add_option("--kv-bytes-per-token", a.kv_bytes_per_token);
  mt->add_flag("--keep", a.keep, "leave the demo's blocks in the node");
  mt->callback([&g, &a, run] { *run = [&g, &a] { return MultiTurn(g, a); }; });
}

}  // namespace strata::ctl
