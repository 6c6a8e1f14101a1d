#include "stratactl/replay/workloads.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <random>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace strata::replay {
namespace {

// Samples ranks 0..n-1 with P(k) proportional to 1 / (k + 1)^s.
class Zipf {
 public:
  Zipf(uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(k + 1.0, s));
    for (double& c : cdf_) c /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

// A prompt under construction: ids of its full blocks and the tokens after them.
struct Context {
  std::vector<uint64_t> blocks;
  uint32_t tail_tokens = 0;
};

// A shared prefix (system prompt, document, tool definitions); ids assigned on first use.
struct Prefix {
  uint32_t tokens = 0;
  std::vector<uint64_t> blocks;
};

// Event loop shared by the families: sessions scheduled in time, requests emitted in order.
class Engine {
 public:
  static constexpr uint32_t kArrival = UINT32_MAX;

  Engine(const WorkloadOptions& o) : rng(o.seed), bt_(o.block_tokens), limit_(o.requests) {}

  std::mt19937_64 rng;

  uint32_t Uniform(uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  }
  double UniformReal(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  }
  bool Coin(double p) { return UniformReal(0, 1) < p; }
  double Exp(double mean) { return std::exponential_distribution<double>(1.0 / mean)(rng); }
  double LogUniform(double lo, double hi) {
    return std::exp(UniformReal(std::log(lo), std::log(hi)));
  }

  Context Start(Prefix& p) {
    const size_t full = p.tokens / bt_;
    while (p.blocks.size() < full) p.blocks.push_back(next_id_++);
    Context c;
    c.blocks = p.blocks;
    c.tail_tokens = p.tokens % bt_;
    return c;
  }
  void Append(Context& c, uint32_t tokens) {
    c.tail_tokens += tokens;
    while (c.tail_tokens >= bt_) {
      c.blocks.push_back(next_id_++);
      c.tail_tokens -= bt_;
    }
  }
  // Emits a request for `c` at `when` (seconds) with `output` generated tokens.
  void Emit(double when, const Context& c, uint32_t output) {
    if (done()) return;
    if (out_.empty()) first_ = when;
    TraceRequest r;
    r.timestamp_ms = std::round((when - first_) * 1000.0);
    r.input_length = uint64_t{c.blocks.size()} * bt_ + c.tail_tokens;
    r.output_length = output;
    r.hash_ids = c.blocks;
    if (c.tail_tokens > 0) r.hash_ids.push_back(next_id_++);
    out_.push_back(std::move(r));
  }

  void Schedule(double when, uint32_t session) { q_.push({when, seq_++, session}); }
  bool done() const { return out_.size() >= limit_; }

  // Runs events until `limit` requests: `arrival(t)` handles kArrival events (and schedules the
  // next one), `step(t, s)` a session's.
  std::vector<TraceRequest> Run(const std::function<void(double)>& arrival,
                                const std::function<void(double, uint32_t)>& step) {
    Schedule(0, kArrival);
    while (!done() && !q_.empty()) {
      const auto [when, seq, s] = q_.top();
      q_.pop();
      if (s == kArrival) {
        arrival(when);
      } else {
        step(when, s);
      }
    }
    // Dense ids in order of first appearance.
    absl::flat_hash_map<uint64_t, uint64_t> dense;
    for (TraceRequest& r : out_) {
      for (uint64_t& id : r.hash_ids) id = dense.try_emplace(id, dense.size()).first->second;
    }
    return std::move(out_);
  }

 private:
  const uint32_t bt_;
  const uint32_t limit_;
  uint64_t next_id_ = 0;
  uint64_t seq_ = 0;
  double first_ = 0;
  std::vector<TraceRequest> out_;
  std::priority_queue<std::tuple<double, uint64_t, uint32_t>,
                      std::vector<std::tuple<double, uint64_t, uint32_t>>, std::greater<>>
      q_;
};

std::vector<Prefix> MakePrefixes(Engine& e, uint32_t n, uint32_t lo, uint32_t hi) {
  std::vector<Prefix> out(n);
  for (Prefix& p : out) p.tokens = e.Uniform(lo, hi);
  return out;
}

struct Session {
  Context ctx;
  uint32_t steps_left = 0;
  uint32_t pending_output = 0;
  bool document = false;  // scan: a one-shot long prompt, sent as is
};

// chat: 1 conversation/s; 45% get a second turn, then each continues with p = 0.6; gaps
// log-uniform in [5 s, 1 h].
std::vector<TraceRequest> Chat(const WorkloadOptions& o) {
  Engine e(o);
  std::vector<Prefix> prompts = MakePrefixes(e, 4, 256, 1536);
  Zipf pick(4, 1.0);
  std::vector<Session> sessions;
  auto turn = [&](double t, uint32_t s) {
    Session& x = sessions[s];
    e.Append(x.ctx, e.Uniform(32, 2048));
    x.pending_output = e.Uniform(64, 1024);
    e.Emit(t, x.ctx, x.pending_output);
    const bool more = x.steps_left++ == 0 ? e.Coin(0.45) : e.Coin(0.6);
    if (more) {
      e.Append(x.ctx, x.pending_output);
      e.Schedule(t + e.LogUniform(5, 3600), s);
    }
  };
  return e.Run(
      [&](double t) {
        sessions.push_back(Session{e.Start(prompts[pick(e.rng)]), 0, 0, false});
        turn(t, static_cast<uint32_t>(sessions.size() - 1));
        e.Schedule(t + e.Exp(1.0), Engine::kArrival);
      },
      turn);
}

// rag: 2 requests/s over 64 documents (2-16 blocks, Zipf 0.9) with a one-shot 512-3072 token
// suffix; 15% get one follow-up question 5-60 s later.
std::vector<TraceRequest> Rag(const WorkloadOptions& o) {
  Engine e(o);
  std::vector<Prefix> docs = MakePrefixes(e, 64, 1024, 8192);
  Zipf pick(64, 0.9);
  std::vector<Session> sessions;
  return e.Run(
      [&](double t) {
        Session x{e.Start(docs[pick(e.rng)]), 0, 0, false};
        e.Append(x.ctx, e.Uniform(512, 3072));
        x.pending_output = e.Uniform(64, 512);
        e.Emit(t, x.ctx, x.pending_output);
        if (e.Coin(0.15)) {
          e.Append(x.ctx, x.pending_output);
          sessions.push_back(std::move(x));
          e.Schedule(t + e.UniformReal(5, 60), static_cast<uint32_t>(sessions.size() - 1));
        }
        e.Schedule(t + e.Exp(0.5), Engine::kArrival);
      },
      [&](double t, uint32_t s) {
        Session& x = sessions[s];
        e.Append(x.ctx, e.Uniform(32, 256));
        e.Emit(t, x.ctx, e.Uniform(64, 512));
      });
}

// agent: a session every 2 s over 4 agent types (tool prefixes of 8-24 blocks); a task, then
// 4-32 steps 0.5 s + Exp(3 s) apart, each appending a 64-1536 token tool result; with p = 0.08
// a step also forks a branch of 2-10 steps from an earlier point of the context.
std::vector<TraceRequest> Agent(const WorkloadOptions& o) {
  Engine e(o);
  std::vector<Prefix> tools = MakePrefixes(e, 4, 4096, 12288);
  Zipf pick(4, 1.0);
  std::vector<Session> sessions;
  std::vector<size_t> base_blocks;  // blocks of the tool prefix, per session
  auto step = [&](double t, uint32_t s) {
    Session& x = sessions[s];
    e.Emit(t, x.ctx, e.Uniform(32, 256));
    if (x.steps_left == 0) return;
    --x.steps_left;
    if (e.Coin(0.08) && sessions[s].ctx.blocks.size() > base_blocks[s]) {
      Session b;
      const size_t keep = e.Uniform(static_cast<uint32_t>(base_blocks[s]),
                                    static_cast<uint32_t>(x.ctx.blocks.size()));
      b.ctx.blocks.assign(x.ctx.blocks.begin(), x.ctx.blocks.begin() + keep);
      e.Append(b.ctx, e.Uniform(64, 1536));
      b.steps_left = e.Uniform(2, 10);
      const double when = t + e.UniformReal(0.5, 5);
      sessions.push_back(std::move(b));
      base_blocks.push_back(base_blocks[s]);
      e.Schedule(when, static_cast<uint32_t>(sessions.size() - 1));
    }
    Session& y = sessions[s];  // push_back may have moved it
    e.Append(y.ctx, e.Uniform(64, 1536));
    e.Schedule(t + 0.5 + e.Exp(3.0), s);
  };
  return e.Run(
      [&](double t) {
        Session x{e.Start(tools[pick(e.rng)]), e.Uniform(4, 32), 0, false};
        base_blocks.push_back(x.ctx.blocks.size());
        e.Append(x.ctx, e.Uniform(256, 2048));
        sessions.push_back(std::move(x));
        step(t, static_cast<uint32_t>(sessions.size() - 1));
        e.Schedule(t + e.Exp(2.0), Engine::kArrival);
      },
      step);
}

// scan: hot traffic at 1.5 requests/s (80%: one of 24 shared prefixes of 2-8 blocks, Zipf 0.9,
// with a one-shot question; 20%: a conversation continuing with p = 0.7 after 5-120 s), plus a
// burst every Exp(120 s) of 16-40 one-shot documents of 32-96 blocks, 0.2 s apart.
std::vector<TraceRequest> Scan(const WorkloadOptions& o) {
  Engine e(o);
  std::vector<Prefix> hot = MakePrefixes(e, 24, 1024, 4096);
  Zipf pick(24, 0.9);
  Prefix none;
  std::vector<Session> sessions;
  double next_burst = e.Exp(120);
  auto turn = [&](double t, uint32_t s) {
    Session& x = sessions[s];
    if (x.document) {
      e.Emit(t, x.ctx, e.Uniform(256, 1024));
      return;
    }
    e.Append(x.ctx, e.Uniform(64, 1024));
    x.pending_output = e.Uniform(64, 512);
    e.Emit(t, x.ctx, x.pending_output);
    if (e.Coin(0.7)) {
      e.Append(x.ctx, x.pending_output);
      e.Schedule(t + e.UniformReal(5, 120), s);
    }
  };
  return e.Run(
      [&](double t) {
        while (next_burst <= t) {
          const uint32_t docs = e.Uniform(16, 40);
          for (uint32_t d = 0; d < docs; ++d) {
            Session doc{e.Start(none), 0, 0, true};
            e.Append(doc.ctx, e.Uniform(32, 96) * 512 + e.Uniform(0, 511));
            sessions.push_back(std::move(doc));
            e.Schedule(std::max(t, next_burst + 0.2 * d),
                       static_cast<uint32_t>(sessions.size() - 1));
          }
          next_burst += e.Exp(120);
        }
        if (e.Coin(0.8)) {
          Context c = e.Start(hot[pick(e.rng)]);
          e.Append(c, e.Uniform(64, 768));
          e.Emit(t, c, e.Uniform(64, 512));
        } else {
          sessions.push_back(Session{e.Start(hot[pick(e.rng)]), 0, 0, false});
          turn(t, static_cast<uint32_t>(sessions.size() - 1));
        }
        e.Schedule(t + e.Exp(1.0 / 1.5), Engine::kArrival);
      },
      turn);
}

uint64_t MaxId(const std::vector<TraceRequest>& trace) {
  uint64_t m = 0;
  bool any = false;
  for (const TraceRequest& r : trace) {
    for (uint64_t id : r.hash_ids) {
      m = std::max(m, id);
      any = true;
    }
  }
  return any ? m + 1 : 0;
}

}  // namespace

std::vector<std::string> WorkloadFamilyNames() { return {"chat", "rag", "agent", "scan", "mix"}; }

std::vector<TraceRequest> ConcatTraces(const std::vector<TraceRequest>& first,
                                       const std::vector<TraceRequest>& second) {
  std::vector<TraceRequest> out = first;
  const uint64_t id_base = MaxId(first);
  const double t_base = first.empty() ? 0 : first.back().timestamp_ms + 1000;
  for (TraceRequest r : second) {
    r.timestamp_ms += t_base;
    for (uint64_t& id : r.hash_ids) id += id_base;
    out.push_back(std::move(r));
  }
  return out;
}

double OneShotBlockShare(const std::vector<TraceRequest>& trace) {
  absl::flat_hash_map<uint64_t, uint32_t> uses;
  for (const TraceRequest& r : trace) {
    for (uint64_t id : r.hash_ids) ++uses[id];
  }
  if (uses.empty()) return 0;
  size_t once = 0;
  for (const auto& [id, n] : uses) once += n == 1;
  return double(once) / double(uses.size());
}

absl::StatusOr<std::vector<TraceRequest>> GenerateWorkload(std::string_view family,
                                                           const WorkloadOptions& o) {
  if (o.requests == 0) return absl::InvalidArgumentError("requests: must be at least 1");
  if (o.block_tokens == 0) return absl::InvalidArgumentError("block_tokens: must be at least 1");
  if (family == "chat") return Chat(o);
  if (family == "rag") return Rag(o);
  if (family == "agent") return Agent(o);
  if (family == "scan") return Scan(o);
  if (family == "mix") {
    WorkloadOptions part = o;
    part.requests = std::max<uint32_t>(1, o.requests / 3);
    std::vector<TraceRequest> out = Chat(part);
    part.seed = o.seed + 1;
    out = ConcatTraces(out, Agent(part));
    part.seed = o.seed + 2;
    part.requests = std::max<uint32_t>(1, o.requests - 2 * (o.requests / 3));
    return ConcatTraces(out, Scan(part));
  }
  return absl::InvalidArgumentError(absl::StrCat("workload family '", AsAbsl(family),
                                                 "': unknown (known: ",
                                                 absl::StrJoin(WorkloadFamilyNames(), ", "), ")"));
}

}  // namespace strata::replay
