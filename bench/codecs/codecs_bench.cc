// strata-bench codecs [--model DIR] [--json] [--runs N] [--codecs a,b,...] [--cpu-path P]
//
// For each codec: compression ratio, relative MSE of K and of V, the relative L2 error of the
// attention output softmax(q K^T / sqrt(d)) V computed with the decoded K, V against the original
// (with real queries where the data is real), and single-core encode / decode GB/s (decoded bytes
// per second, medians of --runs runs). Two data sets, each labelled in the output:
//   real       the stories260K model's own forward pass (bench/codecs/llama2_model.h) over fixed
//              prompts of token ids continued by seeded sampling, stored as f16 blocks of 64
//              tokens (5 layers, 4 KV heads, head_dim 8: tiny, so its speeds are per-row overhead
//              bound and its ratios pay for scales on 8-element rows)
//   synthetic  f16 blocks of head_dim 128, 8 KV heads, 256 tokens, Gaussian with four fixed
//              outlier channels per head in K (x5 spread, offset 3), Gaussian queries
// Extra fields: attn_rel_err_k_only (decoded K, original V: the keys' share of the error); on
// real data k_pre_rope_rel_mse and attn_rel_err_pre_rope (K stored before RoPE,
// rotated after decoding, as KVQuant does), and a "bf16-cast" reference row ("reference": true):
// the same errors for merely storing the f16 blocks as bf16, the yardstick for how sensitive each
// data set's attention is. On real data, also the end-to-end effect
// (bench/codecs/prefix_quality.h): every block but a sequence's last is a cached prefix returned
// through the codec, and the model continues the sequence over the last block; nll_delta is the
// mean change of its next-token negative log-likelihood (nats per token) and top1_agree the share
// of unchanged top-1 tokens, against the same continuation over the blocks as stored (whose mean
// NLL is stored_nll). A single-core memcpy of the same bytes is measured in the same run as the
// baseline. When the build has CUDA and a device is present, GPU encode/decode throughput and a
// device-to-device copy baseline are added to the synthetic rows.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_command.h"
#include "bench/bench_util.h"
#include "bench/codecs/llama2_model.h"
#include "bench/codecs/prefix_quality.h"
#include "kernels/codec.h"
#include "kernels/gpu_codec.h"
#include "kernels/internal/quant_math.h"

namespace strata::bench {
namespace {

constexpr const char* kDefaultCodecs[] = {"raw",  "shuffle-lz4", "shuffle-zstd", "fp8-e4m3",
                                          "int8", "kivi4",       "kivi2",        "kivi4-g128"};

struct Options {
  std::string model_dir;
  bool json = false;
  int runs = 5;
  std::vector<std::string> codecs;
  CpuPath path = CpuPath::kAuto;
  int prompts = 6;
  int seq_tokens = 256;
  uint32_t block_tokens = 64;
};

// One attention query: a query vector against the first `keys` tokens of one KV head.
struct Query {
  uint32_t layer;
  uint32_t kv_head;
  uint32_t keys;
  std::vector<float> q;
};

// A sequence of consecutive blocks (same layout) and the queries that read it.
struct Sequence {
  std::vector<std::string> blocks;           // f16 payloads, K after RoPE
  std::vector<std::string> pre_rope_blocks;  // real data only: the same with K before RoPE
  std::vector<Query> queries;
  // Real data only: the sequence's tokens and the model's scores of its last block after a
  // prefix hit on the others as stored (the reference for PrefixQuality).
  std::vector<int> tokens;
  Llama2Scores stored_scores;
};

struct Dataset {
  std::string label;
  BlockLayout layout;
  std::vector<Sequence> sequences;
  std::shared_ptr<const Llama2Model> model;  // real data only
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const auto& s : sequences) n += s.blocks.size() * layout.Bytes();
    return n;
  }
};

struct Row {
  std::string name, data;
  bool lossless = false;
  bool reference = false;  // a yardstick row, not a codec
  double ratio = 0, k_rel_mse = 0, v_rel_mse = 0, attn_rel_err = 0, k_pre_rope_rel_mse = -1;
  // Real data: attention error when K is stored before RoPE and rotated after decoding.
  double attn_rel_err_pre_rope = -1;
  // Attention error with decoded K and original V (lossy codecs).
  double attn_rel_err_k_only = -1;
  // Real data: the end-to-end effect on the model's predictions after a prefix hit.
  PrefixQuality prefix;
  bool has_prefix = false;
  double encode_gbps = 0, decode_gbps = 0;
  double memcpy_gbps = 0;  // the same bytes copied in the same runs, interleaved
  double gpu_encode_gbps = -1, gpu_decode_gbps = -1, gpu_d2d_copy_gbps = -1;
};

void PutHalf(std::string* block, size_t index, float v) {
  const uint16_t h = quant::FloatToHalf(v);
  std::memcpy(block->data() + 2 * index, &h, 2);
}

float GetHalf(const std::string& block, size_t index) {
  uint16_t h;
  std::memcpy(&h, block.data() + 2 * index, 2);
  return quant::HalfToFloat(h);
}

// Index of element (layer, plane, token, head, dim) in a [layer][K,V][token][head][dim] block.
size_t ElementIndex(const BlockLayout& l, uint32_t layer, uint32_t plane, uint32_t t, uint32_t h,
                    uint32_t d) {
  return ((((size_t{layer} * 2 + plane) * l.tokens + t) * l.kv_heads + h) * l.head_dim) + d;
}

// Sequence planes as floats: [layer][plane][token][head][dim] over all its blocks.
struct SeqFloats {
  uint32_t tokens = 0;
  std::vector<float> x;
  float at(const BlockLayout& l, uint32_t layer, uint32_t plane, uint32_t t, uint32_t h,
           uint32_t d) const {
    return x[((((size_t{layer} * 2 + plane) * tokens + t) * l.kv_heads + h) * l.head_dim) + d];
  }
};

SeqFloats ToSeqFloats(const BlockLayout& l, const std::vector<std::string>& blocks) {
  SeqFloats s;
  s.tokens = static_cast<uint32_t>(blocks.size()) * l.tokens;
  s.x.resize(size_t{l.layers} * 2 * s.tokens * l.kv_heads * l.head_dim);
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t plane = 0; plane < 2; ++plane) {
        for (uint32_t t = 0; t < l.tokens; ++t) {
          for (uint32_t h = 0; h < l.kv_heads; ++h) {
            for (uint32_t d = 0; d < l.head_dim; ++d) {
              const uint32_t st = static_cast<uint32_t>(b) * l.tokens + t;
              s.x[((((size_t{layer} * 2 + plane) * s.tokens + st) * l.kv_heads + h) * l.head_dim) +
                  d] = GetHalf(blocks[b], ElementIndex(l, layer, plane, t, h, d));
            }
          }
        }
      }
    }
  }
  return s;
}

void Attention(const BlockLayout& l, const SeqFloats& s, const Query& q, std::vector<float>* out) {
  std::vector<float> scores(q.keys);
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(l.head_dim));
  for (uint32_t t = 0; t < q.keys; ++t) {
    float acc = 0;
    for (uint32_t d = 0; d < l.head_dim; ++d) acc += q.q[d] * s.at(l, q.layer, 0, t, q.kv_head, d);
    scores[t] = acc * inv_sqrt;
  }
  const float mx = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (float& x : scores) {
    x = std::exp(x - mx);
    sum += x;
  }
  out->assign(l.head_dim, 0.0f);
  for (uint32_t t = 0; t < q.keys; ++t) {
    const float w = static_cast<float>(scores[t] / sum);
    for (uint32_t d = 0; d < l.head_dim; ++d) (*out)[d] += w * s.at(l, q.layer, 1, t, q.kv_head, d);
  }
}

// Applies llama2.c's RoPE to the K planes of a sequence of pre-RoPE keys (token t at position t).
void ApplyRope(const BlockLayout& l, SeqFloats* s) {
  for (uint32_t layer = 0; layer < l.layers; ++layer) {
    for (uint32_t t = 0; t < s->tokens; ++t) {
      for (uint32_t h = 0; h < l.kv_heads; ++h) {
        float* k = &s->x[(((size_t{layer} * 2) * s->tokens + t) * l.kv_heads + h) * l.head_dim];
        for (uint32_t d = 0; d + 1 < l.head_dim; d += 2) {
          const float freq =
              1.0f / std::pow(10000.0f, static_cast<float>(d) / static_cast<float>(l.head_dim));
          const float angle = static_cast<float>(t) * freq;
          const float c = std::cos(angle), sn = std::sin(angle);
          const float k0 = k[d], k1 = k[d + 1];
          k[d] = k0 * c - k1 * sn;
          k[d + 1] = k0 * sn + k1 * c;
        }
      }
    }
  }
}

// Relative L2 error of the attention outputs of `queries` over two versions of a sequence.
void AccumulateAttention(const BlockLayout& l, const SeqFloats& ref, const SeqFloats& got,
                         const std::vector<Query>& queries, double* err, double* norm) {
  std::vector<float> o_ref, o_got;
  for (const Query& q : queries) {
    Attention(l, ref, q, &o_ref);
    Attention(l, got, q, &o_got);
    for (uint32_t d = 0; d < l.head_dim; ++d) {
      *err += (o_ref[d] - o_got[d]) * (o_ref[d] - o_got[d]);
      *norm += o_ref[d] * o_ref[d];
    }
  }
}

// Sum of squared errors and of squared references, for K (plane 0) and V (plane 1).
void PlaneErrors(const BlockLayout& l, const std::string& ref, const std::string& dec,
                 double err[2], double norm[2]) {
  const size_t plane = size_t{l.tokens} * l.kv_heads * l.head_dim;
  for (size_t i = 0; i < ref.size() / 2; ++i) {
    const int p = static_cast<int>((i / plane) % 2);
    const double a = GetHalf(ref, i), b = GetHalf(dec, i);
    err[p] += (a - b) * (a - b);
    norm[p] += a * a;
  }
}

// ---- data sets ----

absl::StatusOr<Dataset> RealDataset(const Options& opt) {
  const std::string dir = FindModelDir(opt.model_dir);
  auto loaded = Llama2Model::Load(dir + "/stories260K.bin");
  if (!loaded.ok()) return loaded.status();
  Dataset ds;
  ds.model = std::make_shared<const Llama2Model>(*std::move(loaded));
  const Llama2Model& model = *ds.model;
  const Llama2Config& c = model.config();
  ds.label = "real";
  ds.layout.kind = LayoutKind::kKv;
  ds.layout.dtype = DType::kF16;
  ds.layout.layers = static_cast<uint32_t>(c.n_layers);
  ds.layout.kv_heads = static_cast<uint32_t>(c.n_kv_heads);
  ds.layout.head_dim = static_cast<uint32_t>(c.head_size());
  ds.layout.tokens = opt.block_tokens;
  // Fixed prompts of token ids (BOS = 1, then a few ids), continued by seeded sampling.
  const std::vector<std::vector<int>> prompts = {
      {1, 403, 280, 365}, {1, 68, 412, 289},  {1, 297, 443},           {1, 500, 321, 77, 260},
      {1, 340, 285, 46},  {1, 111, 222, 333}, {1, 259, 315, 271, 308}, {1, 450, 370}};
  const int len = std::min(opt.seq_tokens, c.seq_len) / static_cast<int>(opt.block_tokens) *
                  static_cast<int>(opt.block_tokens);
  const int kv_mul = c.n_heads / c.n_kv_heads;
  const int head = c.head_size();
  for (int p = 0; p < opt.prompts; ++p) {
    const Llama2Trace trace = model.Run(prompts[p % prompts.size()], len, 0.8f, 1000 + p);
    Sequence seq;
    for (int b = 0; b < len / static_cast<int>(opt.block_tokens); ++b) {
      std::string block(ds.layout.Bytes(), '\0'), pre(ds.layout.Bytes(), '\0');
      for (uint32_t l = 0; l < ds.layout.layers; ++l) {
        for (uint32_t t = 0; t < ds.layout.tokens; ++t) {
          const size_t pos = static_cast<size_t>(b) * ds.layout.tokens + t;
          for (uint32_t h = 0; h < ds.layout.kv_heads; ++h) {
            for (uint32_t d = 0; d < ds.layout.head_dim; ++d) {
              const size_t src = pos * c.kv_dim() + h * head + d;
              PutHalf(&block, ElementIndex(ds.layout, l, 0, t, h, d), trace.k[l][src]);
              PutHalf(&block, ElementIndex(ds.layout, l, 1, t, h, d), trace.v[l][src]);
              PutHalf(&pre, ElementIndex(ds.layout, l, 0, t, h, d), trace.k_pre_rope[l][src]);
              PutHalf(&pre, ElementIndex(ds.layout, l, 1, t, h, d), trace.v[l][src]);
            }
          }
        }
      }
      seq.blocks.push_back(std::move(block));
      seq.pre_rope_blocks.push_back(std::move(pre));
    }
    seq.tokens = trace.tokens;
    if (seq.blocks.size() >= 2) {
      seq.stored_scores = model.ScoreAfterPrefix(
          seq.tokens, CacheFromBlocks(ds.layout, seq.blocks, seq.blocks.size() - 1));
    }
    for (uint32_t l = 0; l < ds.layout.layers; ++l) {
      for (int pos = 0; pos < len; ++pos) {
        for (int h = 0; h < c.n_heads; ++h) {
          Query q;
          q.layer = l;
          q.kv_head = static_cast<uint32_t>(h / kv_mul);
          q.keys = static_cast<uint32_t>(pos + 1);
          const float* src = trace.q[l].data() + static_cast<size_t>(pos) * c.dim + h * head;
          q.q.assign(src, src + head);
          seq.queries.push_back(std::move(q));
        }
      }
    }
    ds.sequences.push_back(std::move(seq));
  }
  return ds;
}

Dataset SyntheticDataset() {
  Dataset ds;
  ds.label = "synthetic";
  ds.layout.kind = LayoutKind::kKv;
  ds.layout.dtype = DType::kF16;
  ds.layout.layers = 2;
  ds.layout.kv_heads = 8;
  ds.layout.head_dim = 128;
  ds.layout.tokens = 256;
  const BlockLayout& l = ds.layout;
  std::mt19937_64 rng(4242);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint32_t outliers[] = {7, 31, 64, 100};  // fixed channels in every head
  for (int s = 0; s < 4; ++s) {
    Sequence seq;
    std::string block(l.Bytes(), '\0');
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t t = 0; t < l.tokens; ++t) {
        for (uint32_t h = 0; h < l.kv_heads; ++h) {
          for (uint32_t d = 0; d < l.head_dim; ++d) {
            float k = normal(rng);
            for (uint32_t o : outliers) {
              if (d == o) k = 5.0f * k + 3.0f;
            }
            PutHalf(&block, ElementIndex(l, layer, 0, t, h, d), k);
            PutHalf(&block, ElementIndex(l, layer, 1, t, h, d), normal(rng));
          }
        }
      }
    }
    seq.blocks.push_back(std::move(block));
    for (uint32_t layer = 0; layer < l.layers; ++layer) {
      for (uint32_t h = 0; h < l.kv_heads; ++h) {
        for (int i = 0; i < 16; ++i) {
          Query q;
          q.layer = layer;
          q.kv_head = h;
          q.keys = l.tokens;
          for (uint32_t d = 0; d < l.head_dim; ++d) q.q.push_back(normal(rng));
          seq.queries.push_back(std::move(q));
        }
      }
    }
    ds.sequences.push_back(std::move(seq));
  }
  return ds;
}

// ---- measurement ----

// Real data: adds one sequence's end-to-end scores with `decoded` (its blocks as a codec returns
// them) in place of the cached prefix (every block but the last).
void AddPrefixQuality(const Dataset& ds, const Sequence& seq,
                      const std::vector<std::string>& decoded, PrefixQualitySum* sum) {
  if (ds.model == nullptr || decoded.size() < 2) return;
  sum->Add(seq.stored_scores,
           ds.model->ScoreAfterPrefix(seq.tokens,
                                      CacheFromBlocks(ds.layout, decoded, decoded.size() - 1)));
}

void SetPrefixQuality(const PrefixQualitySum& sum, Row* row) {
  row->prefix = sum.Result();
  row->has_prefix = row->prefix.positions > 0;
}

// Not a codec: the error of storing the same f16 blocks as bf16 (8 mantissa bits), measured the
// same way, as a yardstick for how sensitive each data set's attention is to K/V error.
class Bf16CastReference final {
 public:
  static std::string RoundTrip(const std::string& f16_block) {
    std::string out = f16_block;
    for (size_t i = 0; i < out.size() / 2; ++i) {
      PutHalf(&out, i, quant::Bf16ToFloat(quant::FloatToBf16(GetHalf(f16_block, i))));
    }
    return out;
  }
};

Row MeasureBf16Reference(const Dataset& ds) {
  Row row;
  row.name = "bf16-cast";
  row.reference = true;
  row.data = ds.label;
  row.ratio = 1.0;
  const BlockLayout& l = ds.layout;
  double err[2] = {0, 0}, norm[2] = {0, 0}, attn_err = 0, attn_norm = 0;
  std::vector<float> o_ref, o_dec;
  PrefixQualitySum prefix;
  for (const Sequence& seq : ds.sequences) {
    std::vector<std::string> decoded;
    for (const std::string& b : seq.blocks) {
      decoded.push_back(Bf16CastReference::RoundTrip(b));
      PlaneErrors(l, b, decoded.back(), err, norm);
    }
    AddPrefixQuality(ds, seq, decoded, &prefix);
    const SeqFloats ref = ToSeqFloats(l, seq.blocks), got = ToSeqFloats(l, decoded);
    for (const Query& q : seq.queries) {
      Attention(l, ref, q, &o_ref);
      Attention(l, got, q, &o_dec);
      for (uint32_t d = 0; d < l.head_dim; ++d) {
        attn_err += (o_ref[d] - o_dec[d]) * (o_ref[d] - o_dec[d]);
        attn_norm += o_ref[d] * o_ref[d];
      }
    }
  }
  row.k_rel_mse = err[0] / norm[0];
  row.v_rel_mse = err[1] / norm[1];
  row.attn_rel_err = std::sqrt(attn_err / attn_norm);
  SetPrefixQuality(prefix, &row);
  return row;
}

absl::StatusOr<Row> Measure(const Codec& codec, const Dataset& ds, const Options& opt) {
  Row row;
  row.name = std::string(codec.name());
  row.data = ds.label;
  row.lossless = codec.lossless();
  const BlockLayout& l = ds.layout;
  const uint64_t block_bytes = l.Bytes();
  const uint64_t max_enc = codec.MaxEncodedSize(l, block_bytes);
  // Accuracy and ratio.
  uint64_t encoded_total = 0;
  double err[2] = {0, 0}, norm[2] = {0, 0}, pre_err[2] = {0, 0}, pre_norm[2] = {0, 0};
  double attn_err = 0, attn_norm = 0, pre_attn_err = 0, pre_attn_norm = 0;
  double k_only_err = 0, k_only_norm = 0;
  std::vector<std::string> all_encoded;
  std::vector<float> o_ref, o_dec;
  PrefixQualitySum prefix;
  for (const Sequence& seq : ds.sequences) {
    std::vector<std::string> decoded, pre_decoded;
    for (size_t b = 0; b < seq.blocks.size(); ++b) {
      auto enc = codec.Encode(l, seq.blocks[b]);
      if (!enc.ok()) return enc.status();
      auto dec = codec.Decode(l, *enc);
      if (!dec.ok()) return dec.status();
      encoded_total += enc->size();
      PlaneErrors(l, seq.blocks[b], *dec, err, norm);
      decoded.push_back(std::move(*dec));
      all_encoded.push_back(std::move(*enc));
      if (!seq.pre_rope_blocks.empty() && !codec.lossless()) {
        auto penc = codec.Encode(l, seq.pre_rope_blocks[b]);
        if (!penc.ok()) return penc.status();
        auto pdec = codec.Decode(l, *penc);
        if (!pdec.ok()) return pdec.status();
        PlaneErrors(l, seq.pre_rope_blocks[b], *pdec, pre_err, pre_norm);
        pre_decoded.push_back(std::move(*pdec));
      }
    }
    AddPrefixQuality(ds, seq, decoded, &prefix);
    if (!pre_decoded.empty()) {
      SeqFloats pre_ref = ToSeqFloats(l, seq.pre_rope_blocks);
      SeqFloats pre_got = ToSeqFloats(l, pre_decoded);
      ApplyRope(l, &pre_ref);
      ApplyRope(l, &pre_got);
      AccumulateAttention(l, pre_ref, pre_got, seq.queries, &pre_attn_err, &pre_attn_norm);
    }
    const SeqFloats ref = ToSeqFloats(l, seq.blocks);
    const SeqFloats got = codec.lossless() ? ref : ToSeqFloats(l, decoded);
    for (const Query& q : seq.queries) {
      Attention(l, ref, q, &o_ref);
      if (!codec.lossless()) Attention(l, got, q, &o_dec);
      for (uint32_t d = 0; d < l.head_dim; ++d) {
        const double a = o_ref[d], b = codec.lossless() ? o_ref[d] : o_dec[d];
        attn_err += (a - b) * (a - b);
        attn_norm += a * a;
      }
    }
    if (!codec.lossless()) {
      // Decoded K with the original V: how much of the error the keys cause.
      SeqFloats k_only = ref;
      const size_t plane = size_t{ref.tokens} * l.kv_heads * l.head_dim;
      for (size_t i = 0; i < k_only.x.size(); ++i) {
        if ((i / plane) % 2 == 0) k_only.x[i] = got.x[i];
      }
      AccumulateAttention(l, ref, k_only, seq.queries, &k_only_err, &k_only_norm);
    }
  }
  if (k_only_norm > 0) row.attn_rel_err_k_only = std::sqrt(k_only_err / k_only_norm);
  row.ratio = static_cast<double>(ds.bytes()) / static_cast<double>(encoded_total);
  row.k_rel_mse = norm[0] > 0 ? err[0] / norm[0] : 0;
  row.v_rel_mse = norm[1] > 0 ? err[1] / norm[1] : 0;
  if (pre_norm[0] > 0) row.k_pre_rope_rel_mse = pre_err[0] / pre_norm[0];
  if (pre_attn_norm > 0) row.attn_rel_err_pre_rope = std::sqrt(pre_attn_err / pre_attn_norm);
  row.attn_rel_err = attn_norm > 0 ? std::sqrt(attn_err / attn_norm) : 0;
  SetPrefixQuality(prefix, &row);

  // Speed: one core, pre-allocated buffers, each run at least 32 MiB of decoded bytes.
  std::vector<const std::string*> srcs;
  for (const Sequence& seq : ds.sequences) {
    for (const std::string& b : seq.blocks) srcs.push_back(&b);
  }
  std::string enc_buf(max_enc, '\0');
  std::string dec_buf(block_bytes, '\0');
  const uint64_t min_bytes = 32ull << 20;
  const size_t reps = std::max<uint64_t>(1, min_bytes / ds.bytes());
  std::vector<double> enc_rates, dec_rates, copy_rates;
  for (int r = 0; r < opt.runs; ++r) {
    // The memcpy baseline runs in the same window, so a busy machine slows both alike.
    double t0 = NowSeconds();
    for (size_t i = 0; i < reps; ++i) {
      for (const std::string* s : srcs) std::memcpy(dec_buf.data(), s->data(), block_bytes);
      asm volatile("" : : "r"(dec_buf.data()) : "memory");
    }
    copy_rates.push_back(static_cast<double>(ds.bytes() * reps) / (NowSeconds() - t0) / 1e9);
    t0 = NowSeconds();
    for (size_t i = 0; i < reps; ++i) {
      for (const std::string* s : srcs) {
        auto n = codec.EncodeTo(l, *s, std::span<char>(enc_buf));
        if (!n.ok()) return n.status();
      }
    }
    enc_rates.push_back(static_cast<double>(ds.bytes() * reps) / (NowSeconds() - t0) / 1e9);
    t0 = NowSeconds();
    for (size_t i = 0; i < reps; ++i) {
      for (const std::string& e : all_encoded) {
        auto s = codec.DecodeTo(l, e, std::span<char>(dec_buf));
        if (!s.ok()) return s;
      }
    }
    dec_rates.push_back(static_cast<double>(ds.bytes() * reps) / (NowSeconds() - t0) / 1e9);
  }
  row.encode_gbps = Median(enc_rates);
  row.decode_gbps = Median(dec_rates);
  row.memcpy_gbps = Median(copy_rates);

  if (ds.label == "synthetic" && gpu::DeviceCount() > 0 && gpu::Supports(codec)) {
    // A larger block so the device is busy: 32 layers x 8 KV heads x 128 x 256 tokens, f16.
    BlockLayout big = l;
    big.layers = 32;
    std::string src(big.Bytes(), '\0');
    for (uint64_t off = 0; off < src.size(); off += block_bytes) {
      std::memcpy(src.data() + off, srcs[(off / block_bytes) % srcs.size()]->data(),
                  std::min<uint64_t>(block_bytes, src.size() - off));
    }
    auto t = gpu::MeasureDeviceThroughput(codec, big, src, opt.runs);
    if (t.ok()) {
      row.gpu_encode_gbps = t->encode_gbps;
      row.gpu_decode_gbps = t->decode_gbps;
      row.gpu_d2d_copy_gbps = t->d2d_copy_gbps;
    } else {
      std::fprintf(stderr, "codecs: GPU %s: %s\n", row.name.c_str(),
                   std::string(t.status().message()).c_str());
    }
  }
  return row;
}

void PrintJson(const std::vector<Row>& rows, double memcpy_gbps, const char* path,
               const std::string& model_note) {
  std::printf("{\"cpu_path\": \"%s\", \"memcpy_gbps\": %.3f, \"gpu_devices\": %d, ", path,
              memcpy_gbps, gpu::DeviceCount());
  std::printf("\"model\": \"%s\", \"codecs\": [", model_note.c_str());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf(
        "%s\n  {\"name\": \"%s\", \"data\": \"%s\", \"lossless\": %s, \"ratio\": %.4f, "
        "\"k_rel_mse\": %.4g, \"v_rel_mse\": %.4g, \"attn_rel_err\": %.4g, "
        "\"encode_gbps\": %.3f, \"decode_gbps\": %.3f",
        i ? "," : "", r.name.c_str(), r.data.c_str(), r.lossless ? "true" : "false", r.ratio,
        r.k_rel_mse, r.v_rel_mse, r.attn_rel_err, r.encode_gbps, r.decode_gbps);
    if (!r.reference) std::printf(", \"memcpy_gbps\": %.3f", r.memcpy_gbps);
    if (r.reference) std::printf(", \"reference\": true");
    if (r.attn_rel_err_k_only >= 0) {
      std::printf(", \"attn_rel_err_k_only\": %.4g", r.attn_rel_err_k_only);
    }
    if (r.k_pre_rope_rel_mse >= 0) {
      std::printf(", \"k_pre_rope_rel_mse\": %.4g, \"attn_rel_err_pre_rope\": %.4g",
                  r.k_pre_rope_rel_mse, r.attn_rel_err_pre_rope);
    }
    if (r.has_prefix) {
      std::printf(
          ", \"nll_delta\": %.4g, \"top1_agree\": %.4f, \"prefix_positions\": %zu, "
          "\"stored_nll\": %.4f",
          r.prefix.nll_delta, r.prefix.top1_agree, r.prefix.positions, r.prefix.stored_nll);
    }
    if (r.gpu_encode_gbps >= 0) {
      std::printf(
          ", \"gpu_encode_gbps\": %.1f, \"gpu_decode_gbps\": %.1f, \"gpu_d2d_copy_gbps\": %.1f",
          r.gpu_encode_gbps, r.gpu_decode_gbps, r.gpu_d2d_copy_gbps);
    }
    std::printf("}");
  }
  std::printf("\n]}\n");
}

void PrintTable(const std::vector<Row>& rows, double memcpy_gbps, const char* path,
                const std::string& model_note) {
  std::printf("CPU path: %s   single-core memcpy: %.2f GB/s   model: %s\n", path, memcpy_gbps,
              model_note.c_str());
  std::printf("%-13s %-9s %6s %10s %10s %10s %10s %8s %8s %8s\n", "codec", "data", "ratio",
              "k_rel_mse", "v_rel_mse", "attn_err", "attn_preR", "enc_GB/s", "dec_GB/s", "memcpy");
  for (const Row& r : rows) {
    std::printf("%-13s %-9s %6.2f %10.3g %10.3g %10.3g %10.3g %8.2f %8.2f %8.2f", r.name.c_str(),
                r.data.c_str(), r.ratio, r.k_rel_mse, r.v_rel_mse, r.attn_rel_err,
                r.attn_rel_err_pre_rope >= 0 ? r.attn_rel_err_pre_rope : 0.0, r.encode_gbps,
                r.decode_gbps, r.memcpy_gbps);
    if (r.has_prefix) {
      std::printf("  after prefix hit: dNLL %+.4f nats/token, top-1 same %.1f%%",
                  r.prefix.nll_delta, 100 * r.prefix.top1_agree);
    }
    if (r.gpu_encode_gbps >= 0) {
      std::printf("  GPU enc %.0f dec %.0f (d2d copy %.0f) GB/s", r.gpu_encode_gbps,
                  r.gpu_decode_gbps, r.gpu_d2d_copy_gbps);
    }
    std::printf("\n");
  }
}

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: strata-bench codecs [--model DIR] [--json] [--runs N] [--codecs a,b,...]\n"
      "                           [--cpu-path auto|portable|avx2] [--prompts N]\n"
      "  --model DIR  llama2.c model directory holding stories260K.bin (default:\n"
      "               $STRATA_SHARED_DIR/models/stories260K or ../shared/models/stories260K)\n");
}

int RunCodecsBench(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "codecs: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") {
      opt.json = true;
    } else if (a == "--model") {
      opt.model_dir = value("--model");
    } else if (a == "--runs") {
      opt.runs = std::max(1, std::atoi(value("--runs")));
    } else if (a == "--prompts") {
      opt.prompts = std::max(1, std::atoi(value("--prompts")));
    } else if (a == "--codecs") {
      std::string list = value("--codecs");
      size_t start = 0;
      while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start) opt.codecs.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
    } else if (a == "--cpu-path") {
      const std::string_view p = value("--cpu-path");
      if (p == "portable") {
        opt.path = CpuPath::kPortable;
      } else if (p == "avx2") {
        opt.path = CpuPath::kAvx2;
      } else if (p != "auto") {
        std::fprintf(stderr, "codecs: --cpu-path must be auto, portable or avx2\n");
        return 2;
      }
    } else if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "codecs: unknown option '%s'\n", argv[i]);
      Usage(stderr);
      return 2;
    }
  }
  if (opt.codecs.empty()) opt.codecs.assign(std::begin(kDefaultCodecs), std::end(kDefaultCodecs));
  std::vector<std::unique_ptr<Codec>> codecs;
  for (const std::string& name : opt.codecs) {
    auto c = MakeCodec(name, opt.path);
    if (c == nullptr) {
      std::fprintf(stderr, "codecs: %s\n", std::string(GetCodec(name).status().message()).c_str());
      return 2;
    }
    codecs.push_back(std::move(c));
  }
  const bool avx2 = opt.path != CpuPath::kPortable && CpuHasAvx2Path();
  const char* path_name = avx2 ? "avx2" : "portable";

  std::vector<Dataset> sets;
  std::string model_note = "stories260K";
  auto real = RealDataset(opt);
  if (real.ok()) {
    sets.push_back(std::move(*real));
  } else {
    // Machines without ../shared (e.g. a GPU box with only the repository) still get the
    // synthetic rows; the output says why the real ones are missing.
    model_note = "unavailable: " + std::string(real.status().message());
    std::fprintf(stderr, "codecs: no real data (%s); pass --model DIR\n", model_note.c_str());
  }
  sets.push_back(SyntheticDataset());

  const double memcpy_gbps =
      MeasureMemcpyGbps(sets.back().layout.Bytes(), 1, opt.runs, 32ull << 20);
  std::vector<Row> rows;
  for (const Dataset& ds : sets) {
    for (const auto& codec : codecs) {
      auto row = Measure(*codec, ds, opt);
      if (!row.ok()) {
        std::fprintf(stderr, "codecs: %s on %s data: %s\n", std::string(codec->name()).c_str(),
                     ds.label.c_str(), std::string(row.status().message()).c_str());
        return 1;
      }
      rows.push_back(std::move(*row));
    }
    rows.push_back(MeasureBf16Reference(ds));
  }
  if (opt.json) {
    PrintJson(rows, memcpy_gbps, path_name, model_note);
  } else {
    PrintTable(rows, memcpy_gbps, path_name, model_note);
  }
  return 0;
}

}  // namespace

STRATA_BENCH_COMMAND("codecs", "block codecs: ratio, K/V and attention error, GB/s per core",
                     RunCodecsBench);

}  // namespace strata::bench
