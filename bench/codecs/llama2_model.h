// A llama2.c-format transformer (Karpathy's checkpoint layout) run on the CPU in f32, to capture
// real attention activations for codec accuracy: per layer and position, the key before and after
// RoPE, the value and the (post-RoPE) query. Tokens are fed as ids; no tokenizer needed. It also
// continues a sequence after a prefix-cache hit whose keys and values come from elsewhere (e.g.
// through a codec), to measure what a codec does to the model's next-token predictions.
//
// Thread-safety: the weights are constant after Load; every method keeps its activations on its
// own stack, so concurrent calls on one model are safe.
#ifndef STRATA_BENCH_CODECS_LLAMA2_MODEL_H_
#define STRATA_BENCH_CODECS_LLAMA2_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::bench {

struct Llama2Config {
  int dim = 0;
  int hidden_dim = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;
  int seq_len = 0;
  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return n_kv_heads * head_size(); }
};

// Activations of one sequence. Indexing: [layer][pos][kv_dim] for keys and values,
// [layer][pos][dim] for queries (head h at h * head_size; query head h reads kv head
// h / (n_heads / n_kv_heads)).
struct Llama2Trace {
  std::vector<int> tokens;
  std::vector<std::vector<float>> k_pre_rope, k, v, q;
};

// Keys (after RoPE) and values of the first `tokens` positions of a sequence, as an engine's KV
// cache holds them: [layer][pos * kv_dim + kv_head * head_size + i].
struct Llama2KvCache {
  int tokens = 0;
  std::vector<std::vector<float>> k, v;
  // Optional token pruning of the first cached positions (a pruned view, kernels/pruning.h):
  // empty, or per layer one flag per (pos, kv_head) for pos < keep[layer].size() / n_kv_heads;
  // a 0 flag hides that key and value from every query head of that KV head. Positions beyond
  // the mask (computed after the hit) are always visible.
  std::vector<std::vector<uint8_t>> keep;
};

// Next-token predictions of a teacher-forced pass, one entry per scored position p: the
// log-probability (natural log, temperature 1) the model gives tokens[p + 1], and its own top
// choice there.
struct Llama2Scores {
  std::vector<double> log_prob;
  std::vector<int> top1;
};

class Llama2Model {
 public:
  // Reads `checkpoint` (the .bin file). DATA_LOSS when its size does not match its header.
  static absl::StatusOr<Llama2Model> Load(const std::string& checkpoint);

  const Llama2Config& config() const { return config_; }

  // Runs the model over `prompt` and then samples until the sequence has `length` tokens
  // (temperature sampling with a fixed `seed`; temperature 0 is greedy), recording every
  // position's activations. REQUIRES: prompt is non-empty, length <= seq_len.
  Llama2Trace Run(const std::vector<int>& prompt, int length, float temperature,
                  uint64_t seed) const;

  // Continues `tokens` after a prefix-cache hit: positions below prefix.tokens are not computed,
  // their keys and values are read from `prefix` (as an engine loads them from a cache), and
  // positions prefix.tokens .. tokens.size() - 2 are computed, teacher-forced, and scored; the
  // cache grows by them as it would in an engine. REQUIRES: 0 < prefix.tokens < tokens.size() - 1,
  // tokens.size() <= seq_len, and prefix.k and prefix.v hold exactly prefix.tokens positions for
  // every layer.
  Llama2Scores ScoreAfterPrefix(const std::vector<int>& tokens, Llama2KvCache prefix) const;

 private:
  struct Scratch;

  Llama2Model() = default;

  // Runs `token` at `pos` through every layer, attending to cache positions 0..pos-1 and
  // appending its own key and value to `cache` (and, when `trace` is set, recording its
  // activations there). Leaves the final hidden state in s->x. REQUIRES: cache->tokens == pos.
  void Step(int token, int pos, Llama2KvCache* cache, Llama2Trace* trace, Scratch* s) const;
  // s->logits from the hidden state Step left in s->x.
  void Logits(Scratch* s) const;

  Llama2Config config_;
  std::vector<float> weights_;
  // Offsets into weights_.
  size_t tok_emb_ = 0, rms_att_ = 0, wq_ = 0, wk_ = 0, wv_ = 0, wo_ = 0, rms_ffn_ = 0, w1_ = 0,
         w2_ = 0, w3_ = 0, rms_final_ = 0, wcls_ = 0;
};

// The stories260K model directory: `flag` when given, else $STRATA_SHARED_DIR/models/stories260K,
// else ../shared beside the working directory or beside the repository the binary was built in
// (the first that holds stories260K.bin; ../shared/models/stories260K when none does).
std::string FindModelDir(const std::string& flag);

}  // namespace strata::bench

#endif  // STRATA_BENCH_CODECS_LLAMA2_MODEL_H_
