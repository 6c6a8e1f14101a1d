#include "bench/codecs/llama2_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"

namespace strata::bench {
namespace {

void RmsNorm(float* out, const float* x, const float* w, int n) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(ss / n) + 1e-5f);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (scale * x[i]);
}

// out[d] = W[d x n] @ x[n]
void MatMul(float* out, const float* x, const float* w, int n, int d) {
  for (int i = 0; i < d; ++i) {
    float acc = 0;
    const float* row = w + static_cast<size_t>(i) * n;
    for (int j = 0; j < n; ++j) acc += row[j] * x[j];
    out[i] = acc;
  }
}

void Softmax(float* x, int n) {
  const float mx = *std::max_element(x, x + n);
  float sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

}  // namespace

absl::StatusOr<Llama2Model> Llama2Model::Load(const std::string& checkpoint) {
  std::ifstream in(checkpoint, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("model: cannot open ", checkpoint));
  int32_t header[7];
  if (!in.read(reinterpret_cast<char*>(header), sizeof(header))) {
    return absl::DataLossError(absl::StrCat("model: ", checkpoint, " has no header"));
  }
  Llama2Model m;
  Llama2Config& c = m.config_;
  c.dim = header[0];
  c.hidden_dim = header[1];
  c.n_layers = header[2];
  c.n_heads = header[3];
  c.n_kv_heads = header[4];
  c.vocab_size = header[5];
  c.seq_len = header[6];
  const bool shared_classifier = c.vocab_size > 0;
  c.vocab_size = std::abs(c.vocab_size);
  if (c.dim <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.dim % c.n_heads != 0 ||
      c.n_heads % c.n_kv_heads != 0 || c.n_layers <= 0 || c.seq_len <= 0 || c.hidden_dim <= 0) {
    return absl::DataLossError(absl::StrCat("model: ", checkpoint, " has an implausible header"));
  }
  const size_t dim = c.dim, hidden = c.hidden_dim, layers = c.n_layers, kv_dim = c.kv_dim(),
               vocab = c.vocab_size, head = c.head_size();
  size_t off = 0;
  auto take = [&off](size_t n) {
    const size_t at = off;
    off += n;
    return at;
  };
  m.tok_emb_ = take(vocab * dim);
  m.rms_att_ = take(layers * dim);
  m.wq_ = take(layers * dim * dim);
  m.wk_ = take(layers * dim * kv_dim);
  m.wv_ = take(layers * dim * kv_dim);
  m.wo_ = take(layers * dim * dim);
  m.rms_ffn_ = take(layers * dim);
  m.w1_ = take(layers * hidden * dim);
  m.w2_ = take(layers * dim * hidden);
  m.w3_ = take(layers * hidden * dim);
  m.rms_final_ = take(dim);
  take(static_cast<size_t>(c.seq_len) * head);  // freq_cis_real and freq_cis_imag, unused
  m.wcls_ = shared_classifier ? m.tok_emb_ : take(vocab * dim);
  m.weights_.resize(off);
  in.read(reinterpret_cast<char*>(m.weights_.data()),
          static_cast<std::streamsize>(off * sizeof(float)));
  if (!in || in.peek() != std::char_traits<char>::eof()) {
    return absl::DataLossError(
        absl::StrCat("model: ", checkpoint, " does not match the size its header implies"));
  }
  return m;
}

struct Llama2Model::Scratch {
  explicit Scratch(const Llama2Config& c)
      : x(c.dim),
        xb(c.dim),
        xb2(c.dim),
        q(c.dim),
        k(c.kv_dim()),
        v(c.kv_dim()),
        hb(c.hidden_dim),
        hb2(c.hidden_dim),
        att(c.seq_len),
        logits(c.vocab_size) {}
  std::vector<float> x, xb, xb2, q, k, v, hb, hb2, att, logits;
};

void Llama2Model::Step(int token, int pos, Llama2KvCache* cache, Llama2Trace* trace,
                       Scratch* s) const {
  const Llama2Config& c = config_;
  const int dim = c.dim, kv_dim = c.kv_dim(), head = c.head_size(), hidden = c.hidden_dim;
  const int kv_mul = c.n_heads / c.n_kv_heads;
  const float* w = weights_.data();
  float* x = s->x.data();
  float* xb = s->xb.data();
  float* q = s->q.data();
  float* k = s->k.data();
  float* v = s->v.data();
  std::memcpy(x, w + tok_emb_ + static_cast<size_t>(token) * dim, dim * sizeof(float));
  for (int l = 0; l < c.n_layers; ++l) {
    const size_t L = l;
    RmsNorm(xb, x, w + rms_att_ + L * dim, dim);
    MatMul(q, xb, w + wq_ + L * dim * dim, dim, dim);
    MatMul(k, xb, w + wk_ + L * dim * kv_dim, dim, kv_dim);
    MatMul(v, xb, w + wv_ + L * dim * kv_dim, dim, kv_dim);
    if (trace != nullptr) trace->k_pre_rope[l].insert(trace->k_pre_rope[l].end(), k, k + kv_dim);
    for (int i = 0; i < dim; i += 2) {
      const int hd = i % head;
      const float freq = 1.0f / std::pow(10000.0f, static_cast<float>(hd) / head);
      const float angle = static_cast<float>(pos) * freq;
      const float fcr = std::cos(angle), fci = std::sin(angle);
      for (int which = 0; which < (i < kv_dim ? 2 : 1); ++which) {
        float* vec = which == 0 ? q : k;
        const float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
      }
    }
    if (trace != nullptr) {
      trace->k[l].insert(trace->k[l].end(), k, k + kv_dim);
      trace->v[l].insert(trace->v[l].end(), v, v + kv_dim);
      trace->q[l].insert(trace->q[l].end(), q, q + dim);
    }
    cache->k[l].insert(cache->k[l].end(), k, k + kv_dim);
    cache->v[l].insert(cache->v[l].end(), v, v + kv_dim);
    const std::vector<float>& keys = cache->k[l];
    const std::vector<float>& values = cache->v[l];
    float* att = s->att.data();
    for (int h = 0; h < c.n_heads; ++h) {
      const float* qh = q + h * head;
      const int kvh = h / kv_mul;
      const std::vector<uint8_t>* keep = cache->keep.empty() ? nullptr : &cache->keep[l];
      const int masked = keep == nullptr ? 0 : static_cast<int>(keep->size()) / c.n_kv_heads;
      for (int t = 0; t <= pos; ++t) {
        if (t < masked && (*keep)[static_cast<size_t>(t) * c.n_kv_heads + kvh] == 0) {
          att[t] = -std::numeric_limits<float>::infinity();  // pruned: weight exp(-inf) = 0
          continue;
        }
        const float* kt = keys.data() + static_cast<size_t>(t) * kv_dim + kvh * head;
        float sc = 0;
        for (int i = 0; i < head; ++i) sc += qh[i] * kt[i];
        att[t] = sc / std::sqrt(static_cast<float>(head));
      }
      Softmax(att, pos + 1);
      float* out = xb + h * head;
      std::fill(out, out + head, 0.0f);
      for (int t = 0; t <= pos; ++t) {
        const float* vt = values.data() + static_cast<size_t>(t) * kv_dim + kvh * head;
        for (int i = 0; i < head; ++i) out[i] += att[t] * vt[i];
      }
    }
    MatMul(s->xb2.data(), xb, w + wo_ + L * dim * dim, dim, dim);
    for (int i = 0; i < dim; ++i) x[i] += s->xb2[i];
    RmsNorm(xb, x, w + rms_ffn_ + L * dim, dim);
    MatMul(s->hb.data(), xb, w + w1_ + L * dim * hidden, dim, hidden);
    MatMul(s->hb2.data(), xb, w + w3_ + L * dim * hidden, dim, hidden);
    for (int i = 0; i < hidden; ++i) {
      const float a = s->hb[i];
      s->hb[i] = a / (1.0f + std::exp(-a)) * s->hb2[i];
    }
    MatMul(xb, s->hb.data(), w + w2_ + L * dim * hidden, hidden, dim);
    for (int i = 0; i < dim; ++i) x[i] += xb[i];
  }
  ++cache->tokens;
}

void Llama2Model::Logits(Scratch* s) const {
  const Llama2Config& c = config_;
  RmsNorm(s->x.data(), s->x.data(), weights_.data() + rms_final_, c.dim);
  MatMul(s->logits.data(), s->x.data(), weights_.data() + wcls_, c.dim, c.vocab_size);
}

Llama2Trace Llama2Model::Run(const std::vector<int>& prompt, int length, float temperature,
                             uint64_t seed) const {
  const Llama2Config& c = config_;
  Llama2Trace trace;
  trace.k_pre_rope.resize(c.n_layers);
  trace.k.resize(c.n_layers);
  trace.v.resize(c.n_layers);
  trace.q.resize(c.n_layers);
  Llama2KvCache cache;
  cache.k.resize(c.n_layers);
  cache.v.resize(c.n_layers);
  Scratch s(c);
  std::mt19937_64 rng(seed);
  int token = prompt[0];
  for (int pos = 0; pos < length; ++pos) {
    trace.tokens.push_back(token);
    Step(token, pos, &cache, &trace, &s);
    if (pos + 1 < static_cast<int>(prompt.size())) {
      token = prompt[pos + 1];
      continue;
    }
    Logits(&s);
    std::vector<float>& logits = s.logits;
    if (temperature <= 0) {
      token = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    } else {
      for (float& l : logits) l /= temperature;
      Softmax(logits.data(), c.vocab_size);
      std::discrete_distribution<int> pick(logits.begin(), logits.end());
      token = pick(rng);
    }
  }
  return trace;
}

Llama2Scores Llama2Model::ScoreAfterPrefix(const std::vector<int>& tokens,
                                           Llama2KvCache cache) const {
  Scratch s(config_);
  Llama2Scores scores;
  for (int pos = cache.tokens; pos + 1 < static_cast<int>(tokens.size()); ++pos) {
    Step(tokens[pos], pos, &cache, /*trace=*/nullptr, &s);
    Logits(&s);
    const std::vector<float>& logits = s.logits;
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
    scores.log_prob.push_back(static_cast<double>(logits[tokens[pos + 1]]) - mx - std::log(sum));
    scores.top1.push_back(
        static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
  }
  return scores;
}

std::string FindModelDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* shared = std::getenv("STRATA_SHARED_DIR")) {
    return std::string(shared) + "/models/stories260K";
  }
  std::vector<std::filesystem::path> candidates = {"../shared/models/stories260K"};
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // build*/bin/strata-bench -> repo root is two levels up; ../shared beside the repo.
    candidates.push_back(exe.parent_path().parent_path().parent_path().parent_path() /
                         "shared/models/stories260K");
  }
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c / "stories260K.bin", ec)) return c.string();
  }
  return candidates.front().string();
}

}  // namespace strata::bench
