#include "stratactl/replay/generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace strata::replay {
namespace {

// Samples ranks 0..n-1 with P(k) proportional to 1 / (k + 1)^s.
class ZipfSampler {
 public:
  ZipfSampler(uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(k + 1.0, s));
    for (double& c : cdf_) c /= sum;
  }
  template <typename Rng>
  uint32_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

struct SystemPrompt {
  uint32_t tokens = 0;
  // Ids of its full blocks, assigned on first use.
  std::vector<uint64_t> blocks;
};

struct Conversation {
  uint32_t prompt = 0;
  uint32_t turns = 1;
  uint32_t turn = 0;
  // Ids of the history's full blocks, and the tokens after them.
  std::vector<uint64_t> blocks;
  uint32_t tail_tokens = 0;
  uint32_t pending_output = 0;  // Answer to the previous turn, appended before the next one.
};

absl::Status Check(bool ok, const char* field, const char* what) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(field) + ": " + what);
}

}  // namespace

absl::StatusOr<std::vector<TraceRequest>> GenerateChatWorkload(const ChatWorkloadOptions& o) {
  for (absl::Status s : {
           Check(o.conversations > 0, "conversations", "must be at least 1"),
           Check(o.arrival_rate_per_s > 0, "arrival_rate_per_s", "must be positive"),
           Check(o.system_prompts > 0, "system_prompts", "must be at least 1"),
           Check(o.system_prompt_tokens_min <= o.system_prompt_tokens_max,
                 "system_prompt_tokens_min", "must not exceed system_prompt_tokens_max"),
           Check(o.max_turns > 0, "max_turns", "must be at least 1"),
           Check(o.mean_turn_gap_s >= 0, "mean_turn_gap_s", "must not be negative"),
           Check(o.user_tokens_min > 0 && o.user_tokens_min <= o.user_tokens_max, "user_tokens_min",
                 "must be in [1, user_tokens_max]"),
           Check(o.output_tokens_min <= o.output_tokens_max, "output_tokens_min",
                 "must not exceed output_tokens_max"),
           Check(o.block_tokens > 0, "block_tokens", "must be at least 1"),
           Check(o.max_input_tokens > 0, "max_input_tokens", "must be at least 1"),
       }) {
    if (!s.ok()) return s;
  }
  std::mt19937_64 rng(o.seed);
  auto uniform = [&rng](uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  };

  std::vector<SystemPrompt> prompts(o.system_prompts);
  for (SystemPrompt& p : prompts) {
    p.tokens = uniform(o.system_prompt_tokens_min, o.system_prompt_tokens_max);
  }
  ZipfSampler pick_prompt(o.system_prompts, o.system_prompt_zipf);

  // Popularity ranks are a random permutation of the conversations.
  std::vector<uint32_t> rank(o.conversations);
  std::iota(rank.begin(), rank.end(), 1);
  std::shuffle(rank.begin(), rank.end(), rng);

  std::vector<Conversation> convs(o.conversations);
  using Event = std::pair<double, uint32_t>;  // (time in s, conversation)
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  double t = 0;
  std::exponential_distribution<double> interarrival(o.arrival_rate_per_s);
  for (uint32_t c = 0; c < o.conversations; ++c) {
    Conversation& conv = convs[c];
    conv.prompt = pick_prompt(rng);
    conv.turns = std::max<uint32_t>(
        1,
        static_cast<uint32_t>(std::lround(o.max_turns / std::pow(rank[c], o.conversation_zipf))));
    t += interarrival(rng);
    events.push({t, c});
  }

  uint64_t next_id = 0;
  std::vector<TraceRequest> out;
  std::optional<double> first_time;
  while (!events.empty() && (o.max_requests == 0 || out.size() < o.max_requests)) {
    const auto [when, c] = events.top();
    events.pop();
    Conversation& conv = convs[c];
    // Append to the history: the system prompt (first turn) or the previous answer, then the
    // new user message. Completed blocks get ids; the straddling block is new content.
    auto append = [&](uint32_t tokens) {
      conv.tail_tokens += tokens;
      while (conv.tail_tokens >= o.block_tokens) {
        conv.blocks.push_back(next_id++);
        conv.tail_tokens -= o.block_tokens;
      }
    };
    if (conv.turn == 0) {
      SystemPrompt& p = prompts[conv.prompt];
      const size_t full = p.tokens / o.block_tokens;
      while (p.blocks.size() < full) p.blocks.push_back(next_id++);
      conv.blocks = p.blocks;
      conv.tail_tokens = p.tokens % o.block_tokens;
    } else {
      append(conv.pending_output);
    }
    append(uniform(o.user_tokens_min, o.user_tokens_max));
    const uint64_t input_tokens =
        static_cast<uint64_t>(conv.blocks.size()) * o.block_tokens + conv.tail_tokens;
    if (input_tokens > o.max_input_tokens) continue;  // The conversation ends here.

    TraceRequest r;
    if (!first_time) first_time = when;
    r.timestamp_ms = std::round((when - *first_time) * 1000.0);
    r.input_length = input_tokens;
    r.output_length = uniform(o.output_tokens_min, o.output_tokens_max);
    r.hash_ids = conv.blocks;
    if (conv.tail_tokens > 0) r.hash_ids.push_back(next_id++);
    out.push_back(std::move(r));

    conv.pending_output = static_cast<uint32_t>(out.back().output_length);
    if (++conv.turn < conv.turns) {
      const double gap = o.mean_turn_gap_s > 0
                             ? std::exponential_distribution<double>(1.0 / o.mean_turn_gap_s)(rng)
                             : 0.0;
      events.push({when + gap, c});
    }
  }
  // Conversations cut short by max_input_tokens leave unused ids: renumber densely, in order of
  // first appearance.
  absl::flat_hash_map<uint64_t, uint64_t> dense;
  for (TraceRequest& r : out) {
    for (uint64_t& id : r.hash_ids) id = dense.try_emplace(id, dense.size()).first->second;
  }
  return out;
}

}  // namespace strata::replay
