#include "bench/codecs/prefix_quality.h"

#include <cstdint>
#include <cstring>

#include "kernels/internal/quant_math.h"

namespace strata::bench {

Llama2KvCache CacheFromBlocks(const BlockLayout& l, const std::vector<std::string>& blocks,
                              size_t count) {
  const size_t row = size_t{l.kv_heads} * l.head_dim;  // one token's K (or V) in one layer
  const size_t plane = size_t{l.tokens} * row;
  Llama2KvCache cache;
  cache.tokens = static_cast<int>(count * l.tokens);
  cache.k.resize(l.layers);
  cache.v.resize(l.layers);
  for (uint32_t layer = 0; layer < l.layers; ++layer) {
    cache.k[layer].reserve(count * plane);
    cache.v[layer].reserve(count * plane);
    for (size_t b = 0; b < count; ++b) {
      const char* base = blocks[b].data();
      for (uint32_t which = 0; which < 2; ++which) {
        std::vector<float>& out = which == 0 ? cache.k[layer] : cache.v[layer];
        // [layer][K,V][token][head][dim] is [token][kv_dim] within a plane, as the cache is.
        const char* src = base + (size_t{layer} * 2 + which) * plane * 2;
        for (size_t i = 0; i < plane; ++i) {
          uint16_t h;
          std::memcpy(&h, src + 2 * i, 2);
          out.push_back(quant::HalfToFloat(h));
        }
      }
    }
  }
  return cache;
}

void PrefixQualitySum::Add(const Llama2Scores& stored, const Llama2Scores& decoded) {
  for (size_t i = 0; i < stored.log_prob.size(); ++i) {
    stored_nll_ -= stored.log_prob[i];
    decoded_nll_ -= decoded.log_prob[i];
    if (stored.top1[i] == decoded.top1[i]) ++agree_;
  }
  positions_ += stored.log_prob.size();
}

PrefixQuality PrefixQualitySum::Result() const {
  PrefixQuality q;
  q.positions = positions_;
  if (positions_ == 0) return q;
  const double n = static_cast<double>(positions_);
  q.nll_delta = (decoded_nll_ - stored_nll_) / n;
  q.top1_agree = static_cast<double>(agree_) / n;
  q.stored_nll = stored_nll_ / n;
  return q;
}

}  // namespace strata::bench
