// A llama2.c-format transformer (Karpathy's checkpoint layout) run on the CPU in f32, to capture
// real attention activations for codec accuracy: per layer and position, the key before and after
// RoPE, the value and the (post-RoPE) query. Tokens are fed as ids; no tokenizer needed.
//
// Not thread-safe: one model per thread (it owns its activation buffers).
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

class Llama2Model {
 public:
  // Reads `checkpoint` (the .bin file). DATA_LOSS when its size does not match its header.
  static absl::StatusOr<Llama2Model> Load(const std::string& checkpoint);

  const Llama2Config& config() const { return config_; }

  // Runs the model over `prompt` and then samples until the sequence has `length` tokens
  // (temperature sampling with a fixed `seed`; temperature 0 is greedy), recording every
  // position's activations. REQUIRES: prompt is non-empty, length <= seq_len.
  Llama2Trace Run(const std::vector<int>& prompt, int length, float temperature, uint64_t seed);

 private:
  Llama2Model() = default;

  Llama2Config config_;
  std::vector<float> weights_;
  // Offsets into weights_.
  size_t tok_emb_ = 0, rms_att_ = 0, wq_ = 0, wk_ = 0, wv_ = 0, wo_ = 0, rms_ffn_ = 0, w1_ = 0,
         w2_ = 0, w3_ = 0, rms_final_ = 0, wcls_ = 0;
};

}  // namespace strata::bench

#endif  // STRATA_BENCH_CODECS_LLAMA2_MODEL_H_
