// strata-bench pruning [--model DIR] [--json] [--prompts N]
//
// What token pruning (kernels/pruning.h) costs in attention accuracy, per selector and budget
// (10%, 25%, 50% of the block's tokens per layer and head), on two data sets, each labelled:
//   real       the stories260K model's forward pass (bench/codecs/llama2_model.h) over fixed
//              prompts continued by seeded sampling: the first 256 tokens are one f16 block (5
//              layers, 4 KV heads, head_dim 8, K after RoPE), the next 128 are a later turn
//   synthetic  f16, head_dim 128, 8 KV heads, 2 layers, a 1024-token block; Gaussian keys with
//              fixed outlier channels; each query is 0.4 x the key of a "hot" token plus
//              Gaussian noise, so attention concentrates as in real models. Window queries use
//              one hot set; later-turn queries draw half from it and half from a new one
//              (a topic shift)
// Queries and errors: the relative L2 error of the attention output softmax(q K^T/sqrt(d)) V over
// the block's tokens only (the pruned part; tokens after the block are never pruned), pruned view
// against full block, for
//   window  queries of the block's last 32 tokens (SnapKV's observation window: the queries
//           that voted for scores-topk), causal within the block
//   later   queries of the tokens after the block (a later turn: they did not vote)
// scores-topk's scores come from the same forward pass: "snapkv" sums the window queries'
// attention weights per KV head; "h2o" accumulates every block query's weights. keynorm is a
// score-free heuristic (smallest key norms). Pyramid rows shape the budget by depth (PyramidKV).
// On real data also the end-to-end effect (bench/codecs/prefix_quality.h): the model continues
// the sequence over the later turn with the block as a prefix-cache hit, pruned; nll_delta (nats
// per token) and top1_agree against the full block.
// Quest page selection: the block split into pages of 16 tokens with per-page min/max keys
// (PageBounds); for every later-turn query the top 10/25/50% pages by the Quest bound; recall is
// the share of the query's attention mass (over the block) in the chosen pages, with the oracle
// (the pages of most mass) and the chance level (the fraction of pages) beside it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_command.h"
#include "bench/codecs/llama2_model.h"
#include "bench/codecs/prefix_quality.h"
#include "kernels/internal/quant_math.h"
#include "kernels/pruning.h"

namespace strata::bench {
namespace {

constexpr double kBudgets[] = {0.10, 0.25, 0.50};
constexpr uint32_t kPageTokens = 16;

struct Options {
  std::string model_dir;
  bool json = false;
  int prompts = 8;
};

struct Query {
  uint32_t layer, kv_head;
  uint32_t keys;  // block tokens visible to it (causal for window queries)
  std::vector<float> q;
};

struct Sequence {
  std::string block;      // f16 payload
  std::vector<float> kf;  // the block as floats, same order
  std::vector<Query> window, later;
  std::vector<float> snapkv_scores, h2o_scores;  // [layer][kv_head][token]
  std::vector<int> tokens;                       // real data: the whole sequence
  Llama2Scores stored_scores;                    // real data: continuation over the full block
};

struct Dataset {
  std::string label;
  BlockLayout layout;
  std::vector<Sequence> sequences;
  std::shared_ptr<const Llama2Model> model;  // real data only
};

struct Row {
  std::string data, selector, scores, shape;
  double budget = 0, kept_fraction = 0;
  double err_window = 0, err_later = 0;
  PrefixQuality prefix;
  bool has_prefix = false;
};

struct QuestRow {
  std::string data;
  double page_fraction = 0, pages_chosen = 0, recall = 0, oracle = 0;
  uint32_t pages = 0;
};

size_t Src(const BlockLayout& l, uint32_t layer, uint32_t plane, uint32_t t, uint32_t h) {
  return (((size_t{layer} * 2 + plane) * l.tokens + t) * l.kv_heads + h) * l.head_dim;
}

void PutHalf(std::string* block, size_t index, float v) {
  const uint16_t h = quant::FloatToHalf(v);
  std::memcpy(block->data() + 2 * index, &h, 2);
}

std::vector<float> HalvesToFloats(std::string_view bytes) {
  std::vector<float> out(bytes.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    out[i] = quant::HalfToFloat(h);
  }
  return out;
}

// softmax(q.k / sqrt(d)) over `n` keys given by pointers; weights into *w.
void Weights(const float* q, const std::vector<const float*>& keys, uint32_t dim,
             std::vector<double>* w) {
  w->resize(keys.size());
  const double inv = 1.0 / std::sqrt(static_cast<double>(dim));
  double mx = -1e300;
  for (size_t i = 0; i < keys.size(); ++i) {
    double s = 0;
    for (uint32_t d = 0; d < dim; ++d) s += double{q[d]} * keys[i][d];
    (*w)[i] = s * inv;
    mx = std::max(mx, (*w)[i]);
  }
  double sum = 0;
  for (double& x : *w) sum += (x = std::exp(x - mx));
  for (double& x : *w) x /= sum;
}

// Attention output of `q` over the full block's first q.keys tokens.
void FullAttention(const BlockLayout& l, const Sequence& s, const Query& q,
                   std::vector<double>* out, std::vector<double>* weights = nullptr) {
  std::vector<const float*> keys(q.keys);
  for (uint32_t t = 0; t < q.keys; ++t) keys[t] = &s.kf[Src(l, q.layer, 0, t, q.kv_head)];
  std::vector<double> w;
  Weights(q.q.data(), keys, l.head_dim, &w);
  out->assign(l.head_dim, 0.0);
  for (uint32_t t = 0; t < q.keys; ++t) {
    const float* v = &s.kf[Src(l, q.layer, 1, t, q.kv_head)];
    for (uint32_t d = 0; d < l.head_dim; ++d) (*out)[d] += w[t] * v[d];
  }
  if (weights != nullptr) *weights = std::move(w);
}

// The same over the pruned view's kept tokens below q.keys (floats of its payload in `pf`).
void PrunedAttention(const PrunedBlock& b, const std::vector<float>& pf, const Query& q,
                     std::vector<double>* out) {
  const uint32_t dim = b.source.head_dim;
  const size_t pi = b.PositionIndex(q.layer, q.kv_head);
  std::vector<const float*> keys, values;
  for (uint32_t slot = 0; slot < b.kept[q.layer]; ++slot) {
    if (b.positions[pi + slot] >= q.keys) break;  // ascending
    keys.push_back(&pf[b.ElementIndex(q.layer, 0, q.kv_head, slot)]);
    values.push_back(&pf[b.ElementIndex(q.layer, 1, q.kv_head, slot)]);
  }
  out->assign(dim, 0.0);
  if (keys.empty()) return;  // nothing visible: output 0, error = |full output|
  std::vector<double> w;
  Weights(q.q.data(), keys, dim, &w);
  for (size_t i = 0; i < keys.size(); ++i) {
    for (uint32_t d = 0; d < dim; ++d) (*out)[d] += w[i] * values[i][d];
  }
}

double RelError(const BlockLayout& l, const Sequence& s, const PrunedBlock& b,
                const std::vector<float>& pf, const std::vector<Query>& qs, double* err,
                double* norm) {
  std::vector<double> a, c;
  for (const Query& q : qs) {
    FullAttention(l, s, q, &a);
    PrunedAttention(b, pf, q, &c);
    for (uint32_t d = 0; d < l.head_dim; ++d) {
      *err += (a[d] - c[d]) * (a[d] - c[d]);
      *norm += a[d] * a[d];
    }
  }
  return *norm > 0 ? std::sqrt(*err / *norm) : 0.0;
}

// Per-KV-head score votes: the attention weights of `qs` over the block, summed.
std::vector<float> Votes(const BlockLayout& l, const Sequence& s, const std::vector<Query>& qs) {
  std::vector<double> acc(size_t{l.layers} * l.kv_heads * l.tokens, 0.0), o, w;
  for (const Query& q : qs) {
    FullAttention(l, s, q, &o, &w);
    double* row = &acc[(size_t{q.layer} * l.kv_heads + q.kv_head) * l.tokens];
    for (uint32_t t = 0; t < q.keys; ++t) row[t] += w[t];
  }
  return std::vector<float>(acc.begin(), acc.end());
}

// ---- data sets ----

constexpr uint32_t kRealBlock = 256, kRealLater = 128, kWindow = 32;

absl::StatusOr<Dataset> RealDataset(const Options& opt) {
  auto loaded = Llama2Model::Load(FindModelDir(opt.model_dir) + "/stories260K.bin");
  if (!loaded.ok()) return loaded.status();
  Dataset ds;
  ds.model = std::make_shared<const Llama2Model>(*std::move(loaded));
  const Llama2Config& c = ds.model->config();
  ds.label = "real";
  ds.layout = BlockLayout::Kv(DType::kF16, static_cast<uint32_t>(c.n_layers),
                              static_cast<uint32_t>(c.n_kv_heads),
                              static_cast<uint32_t>(c.head_size()), kRealBlock);
  const BlockLayout& l = ds.layout;
  const std::vector<std::vector<int>> prompts = {
      {1, 403, 280, 365}, {1, 68, 412, 289},  {1, 297, 443},           {1, 500, 321, 77, 260},
      {1, 340, 285, 46},  {1, 111, 222, 333}, {1, 259, 315, 271, 308}, {1, 450, 370}};
  const int len = static_cast<int>(kRealBlock + kRealLater);
  const int kv_mul = c.n_heads / c.n_kv_heads, head = c.head_size();
  for (int p = 0; p < opt.prompts; ++p) {
    const Llama2Trace trace = ds.model->Run(prompts[p % prompts.size()], len, 0.8f, 2000 + p);
    Sequence seq;
    seq.block.assign(l.Bytes(), '\0');
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t t = 0; t < l.tokens; ++t) {
        for (uint32_t h = 0; h < l.kv_heads; ++h) {
          for (uint32_t d = 0; d < l.head_dim; ++d) {
            const size_t src = size_t{t} * c.kv_dim() + h * head + d;
            PutHalf(&seq.block, Src(l, layer, 0, t, h) + d, trace.k[layer][src]);
            PutHalf(&seq.block, Src(l, layer, 1, t, h) + d, trace.v[layer][src]);
          }
        }
      }
    }
    seq.kf = HalvesToFloats(seq.block);
    std::vector<Query> all_block;
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (int pos = 0; pos < len; ++pos) {
        for (int h = 0; h < c.n_heads; ++h) {
          Query q;
          q.layer = layer;
          q.kv_head = static_cast<uint32_t>(h / kv_mul);
          q.keys = std::min<uint32_t>(static_cast<uint32_t>(pos) + 1, kRealBlock);
          const float* src = trace.q[layer].data() + static_cast<size_t>(pos) * c.dim + h * head;
          q.q.assign(src, src + head);
          if (pos >= static_cast<int>(kRealBlock)) {
            seq.later.push_back(std::move(q));
          } else {
            if (pos >= static_cast<int>(kRealBlock - kWindow)) seq.window.push_back(q);
            all_block.push_back(std::move(q));
          }
        }
      }
    }
    seq.snapkv_scores = Votes(l, seq, seq.window);
    seq.h2o_scores = Votes(l, seq, all_block);
    seq.tokens = trace.tokens;
    seq.stored_scores = ds.model->ScoreAfterPrefix(seq.tokens, CacheFromBlocks(l, {seq.block}, 1));
    ds.sequences.push_back(std::move(seq));
  }
  return ds;
}

Dataset SyntheticDataset() {
  Dataset ds;
  ds.label = "synthetic";
  ds.layout = BlockLayout::Kv(DType::kF16, 2, 8, 128, 1024);
  const BlockLayout& l = ds.layout;
  std::mt19937_64 rng(777);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint32_t outliers[] = {7, 31, 64, 100};
  for (int s = 0; s < 2; ++s) {
    Sequence seq;
    seq.block.assign(l.Bytes(), '\0');
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t t = 0; t < l.tokens; ++t) {
        for (uint32_t h = 0; h < l.kv_heads; ++h) {
          for (uint32_t d = 0; d < l.head_dim; ++d) {
            float k = normal(rng);
            for (uint32_t o : outliers) {
              if (d == o) k = 5.0f * k + 3.0f;
            }
            PutHalf(&seq.block, Src(l, layer, 0, t, h) + d, k);
            PutHalf(&seq.block, Src(l, layer, 1, t, h) + d, normal(rng));
          }
        }
      }
    }
    seq.kf = HalvesToFloats(seq.block);
    std::uniform_int_distribution<uint32_t> any(0, l.tokens - 1);
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t h = 0; h < l.kv_heads; ++h) {
        std::vector<uint32_t> hot_a(16), hot_b(16);
        for (auto& t : hot_a) t = any(rng);
        for (auto& t : hot_b) t = any(rng);
        auto make = [&](uint32_t hot) {
          Query q;
          q.layer = layer;
          q.kv_head = h;
          q.keys = l.tokens;
          const float* k = &seq.kf[Src(l, layer, 0, hot, h)];
          for (uint32_t d = 0; d < l.head_dim; ++d) q.q.push_back(0.4f * k[d] + normal(rng));
          return q;
        };
        for (int i = 0; i < 32; ++i) seq.window.push_back(make(hot_a[i % 16]));
        for (int i = 0; i < 32; ++i) seq.later.push_back(make(i % 2 ? hot_b[i / 2] : hot_a[i / 2]));
      }
    }
    seq.snapkv_scores = Votes(l, seq, seq.window);
    ds.sequences.push_back(std::move(seq));
  }
  return ds;
}

// ---- measurements ----

struct Variant {
  PruneSelector selector;
  const char* scores;  // "snapkv", "h2o" or "-"
  BudgetShape shape;
};

absl::StatusOr<Row> Measure(const Dataset& ds, const Variant& v, double budget) {
  const BlockLayout& l = ds.layout;
  Row row;
  row.data = ds.label;
  row.selector = std::string(PruneSelectorName(v.selector));
  row.scores = v.scores;
  row.shape = v.shape == BudgetShape::kPyramid ? "pyramid" : "constant";
  row.budget = budget;
  PruneOptions o;
  o.selector = v.selector;
  o.shape = v.shape;
  o.budget_tokens = std::max<int64_t>(1, std::llround(budget * l.tokens));
  double we = 0, wn = 0, le = 0, ln = 0, kept = 0;
  PrefixQualitySum prefix;
  for (const Sequence& s : ds.sequences) {
    std::span<const float> scores;
    if (v.selector == PruneSelector::kScoresTopK) {
      scores = std::string_view(v.scores) == "h2o" ? s.h2o_scores : s.snapkv_scores;
      if (scores.empty()) return absl::NotFoundError("no h2o scores for this data set");
    }
    auto b = PruneBlock(l, s.block, scores, o);
    if (!b.ok()) return b.status();
    kept += b->kept_fraction();
    const std::vector<float> pf = HalvesToFloats(b->payload);
    RelError(l, s, *b, pf, s.window, &we, &wn);
    RelError(l, s, *b, pf, s.later, &le, &ln);
    if (ds.model != nullptr) {
      Llama2KvCache cache = CacheFromBlocks(l, {s.block}, 1);
      cache.keep.assign(l.layers, std::vector<uint8_t>(size_t{l.tokens} * l.kv_heads, 0));
      for (uint32_t layer = 0; layer < l.layers; ++layer) {
        for (uint32_t h = 0; h < l.kv_heads; ++h) {
          const size_t pi = b->PositionIndex(layer, h);
          for (uint32_t slot = 0; slot < b->kept[layer]; ++slot) {
            cache.keep[layer][size_t{b->positions[pi + slot]} * l.kv_heads + h] = 1;
          }
        }
      }
      prefix.Add(s.stored_scores, ds.model->ScoreAfterPrefix(s.tokens, std::move(cache)));
    }
  }
  row.kept_fraction = kept / ds.sequences.size();
  row.err_window = wn > 0 ? std::sqrt(we / wn) : 0;
  row.err_later = ln > 0 ? std::sqrt(le / ln) : 0;
  row.prefix = prefix.Result();
  row.has_prefix = row.prefix.positions > 0;
  return row;
}

absl::StatusOr<QuestRow> MeasureQuest(const Dataset& ds, double fraction) {
  const BlockLayout& l = ds.layout;
  QuestRow row;
  row.data = ds.label;
  row.page_fraction = fraction;
  row.pages = l.tokens / kPageTokens;
  const size_t top_n = std::max<size_t>(1, std::llround(fraction * row.pages));
  row.pages_chosen = static_cast<double>(top_n) / row.pages;
  BlockLayout pl = l;
  pl.tokens = kPageTokens;
  double recall = 0, oracle = 0;
  size_t n = 0;
  for (const Sequence& s : ds.sequences) {
    std::vector<PageBounds> pages;
    for (uint32_t p = 0; p < row.pages; ++p) {
      std::string page(pl.Bytes(), '\0');
      const size_t row_bytes = size_t{l.kv_heads} * l.head_dim * 2;
      for (uint32_t layer = 0; layer < l.layers; ++layer) {
        for (uint32_t plane = 0; plane < 2; ++plane) {
          std::memcpy(page.data() + Src(pl, layer, plane, 0, 0) * 2,
                      s.block.data() + Src(l, layer, plane, p * kPageTokens, 0) * 2,
                      row_bytes * kPageTokens);
        }
      }
      auto b = ComputePageBounds(pl, page);
      if (!b.ok()) return b.status();
      pages.push_back(*std::move(b));
    }
    std::vector<double> o, w, mass(row.pages);
    for (const Query& q : s.later) {
      FullAttention(l, s, q, &o, &w);
      std::fill(mass.begin(), mass.end(), 0.0);
      for (uint32_t t = 0; t < q.keys; ++t) mass[t / kPageTokens] += w[t];
      auto chosen = RankPagesByQuery(pages, q.layer, q.kv_head, q.q, top_n);
      if (!chosen.ok()) return chosen.status();
      for (size_t p : *chosen) recall += mass[p];
      std::vector<double> sorted = mass;
      std::sort(sorted.rbegin(), sorted.rend());
      oracle += std::accumulate(sorted.begin(), sorted.begin() + top_n, 0.0);
      ++n;
    }
  }
  row.recall = recall / n;
  row.oracle = oracle / n;
  return row;
}

void PrintJson(const std::vector<Row>& rows, const std::vector<QuestRow>& quest,
               const std::string& model_note) {
  std::printf("{\"model\": \"%s\", \"selectors\": [", model_note.c_str());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf(
        "%s\n  {\"data\": \"%s\", \"selector\": \"%s\", \"scores\": \"%s\", \"shape\": \"%s\", "
        "\"budget\": %.2f, \"kept_fraction\": %.4f, \"attn_rel_err_window\": %.4g, "
        "\"attn_rel_err_later\": %.4g",
        i ? "," : "", r.data.c_str(), r.selector.c_str(), r.scores.c_str(), r.shape.c_str(),
        r.budget, r.kept_fraction, r.err_window, r.err_later);
    if (r.has_prefix) {
      std::printf(", \"nll_delta\": %.4g, \"top1_agree\": %.4f, \"prefix_positions\": %zu",
                  r.prefix.nll_delta, r.prefix.top1_agree, r.prefix.positions);
    }
    std::printf("}");
  }
  std::printf("\n], \"quest\": [");
  for (size_t i = 0; i < quest.size(); ++i) {
    const QuestRow& q = quest[i];
    std::printf(
        "%s\n  {\"data\": \"%s\", \"pages\": %u, \"page_fraction\": %.4f, \"recall\": %.4f, "
        "\"oracle_recall\": %.4f}",
        i ? "," : "", q.data.c_str(), q.pages, q.pages_chosen, q.recall, q.oracle);
  }
  std::printf("\n]}\n");
}

void PrintTable(const std::vector<Row>& rows, const std::vector<QuestRow>& quest,
                const std::string& model_note) {
  std::printf("model: %s   attention error over the block's tokens, pruned vs full\n",
              model_note.c_str());
  std::printf("%-9s %-12s %-7s %-8s %6s %6s %10s %10s %10s %8s\n", "data", "selector", "scores",
              "shape", "budget", "kept", "err_window", "err_later", "dNLL", "top1");
  for (const Row& r : rows) {
    std::printf("%-9s %-12s %-7s %-8s %5.0f%% %5.1f%% %10.4f %10.4f", r.data.c_str(),
                r.selector.c_str(), r.scores.c_str(), r.shape.c_str(), 100 * r.budget,
                100 * r.kept_fraction, r.err_window, r.err_later);
    if (r.has_prefix) {
      std::printf(" %+10.4f %7.1f%%", r.prefix.nll_delta, 100 * r.prefix.top1_agree);
    }
    std::printf("\n");
  }
  std::printf("\nQuest page selection (pages of %u tokens, later-turn queries)\n", kPageTokens);
  std::printf("%-9s %6s %8s %8s %8s\n", "data", "pages", "chosen", "recall", "oracle");
  for (const QuestRow& q : quest) {
    std::printf("%-9s %6u %7.1f%% %7.1f%% %7.1f%%\n", q.data.c_str(), q.pages, 100 * q.pages_chosen,
                100 * q.recall, 100 * q.oracle);
  }
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: strata-bench pruning [--model DIR] [--json] [--prompts N]\n"
               "  --model DIR  llama2.c model directory holding stories260K.bin (default:\n"
               "               $STRATA_SHARED_DIR/models/stories260K or "
               "../shared/models/stories260K)\n"
               "  --prompts N  real sequences (default 8)\n");
}

int RunPruningBench(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json") {
      opt.json = true;
    } else if ((a == "--model" || a == "--prompts") && i + 1 < argc) {
      if (a == "--model") {
        opt.model_dir = argv[++i];
      } else {
        opt.prompts = std::max(1, std::atoi(argv[++i]));
      }
    } else if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "pruning: unknown option or missing value '%s'\n", argv[i]);
      Usage(stderr);
      return 2;
    }
  }
  std::vector<Dataset> sets;
  std::string model_note = "stories260K";
  auto real = RealDataset(opt);
  if (real.ok()) {
    sets.push_back(std::move(*real));
  } else {
    model_note = "unavailable: " + std::string(real.status().message());
    std::fprintf(stderr, "pruning: no real data (%s); pass --model DIR\n", model_note.c_str());
  }
  sets.push_back(SyntheticDataset());

  const Variant variants[] = {
      {PruneSelector::kSinkWindow, "-", BudgetShape::kConstant},
      {PruneSelector::kScoresTopK, "snapkv", BudgetShape::kConstant},
      {PruneSelector::kScoresTopK, "snapkv", BudgetShape::kPyramid},
      {PruneSelector::kScoresTopK, "h2o", BudgetShape::kConstant},
      {PruneSelector::kKeyNorm, "-", BudgetShape::kConstant},
  };
  std::vector<Row> rows;
  std::vector<QuestRow> quest;
  for (const Dataset& ds : sets) {
    for (const Variant& v : variants) {
      if (std::string_view(v.scores) == "h2o" && ds.model == nullptr) continue;
      if (v.shape == BudgetShape::kPyramid && ds.layout.layers < 3) continue;
      for (double budget : kBudgets) {
        auto row = Measure(ds, v, budget);
        if (!row.ok()) {
          std::fprintf(stderr, "pruning: %s on %s: %s\n", PruneSelectorName(v.selector).data(),
                       ds.label.c_str(), std::string(row.status().message()).c_str());
          return 1;
        }
        rows.push_back(*std::move(row));
      }
    }
    for (double f : kBudgets) {
      auto q = MeasureQuest(ds, f);
      if (!q.ok()) {
        std::fprintf(stderr, "pruning: quest on %s: %s\n", ds.label.c_str(),
                     std::string(q.status().message()).c_str());
        return 1;
      }
      quest.push_back(*q);
    }
  }
  if (opt.json) {
    PrintJson(rows, quest, model_note);
  } else {
    PrintTable(rows, quest, model_note);
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("pruning", "token pruning: attention error, kept fraction, Quest page recall",
                     RunPruningBench);

}  // namespace strata::bench
