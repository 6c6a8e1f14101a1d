// What a codec does to a real model's next-token predictions after a prefix-cache hit.
//
// A sequence's first blocks are the cached prefix. The model continues the sequence
// (teacher-forced) attending to the prefix's keys and values as the codec returns them -- as an
// engine does after fetching a cached prefix instead of computing it -- and its predictions are
// compared with the same pass over the blocks as stored: the mean change in next-token negative
// log-likelihood (nats per token; its exp is the perplexity ratio) and the share of positions
// whose top-1 token is unchanged. This is the end-to-end counterpart of the attention-output
// error, which weighs every query and head alike whether or not the change reaches the output.
//
// Thread-safety: the functions are pure; a PrefixQualitySum is a plain accumulator (one thread).
#ifndef STRATA_BENCH_CODECS_PREFIX_QUALITY_H_
#define STRATA_BENCH_CODECS_PREFIX_QUALITY_H_

#include <cstddef>
#include <string>
#include <vector>

#include "bench/codecs/llama2_model.h"
#include "common/block_layout.h"

namespace strata::bench {

// The keys and values of the first `blocks` f16 kv blocks (layout `l`: the model's layers,
// kv_heads and head_size, K after RoPE) as the model's cache. REQUIRES: l.kind is kv, l.dtype
// f16, and each block holds l.Bytes() bytes.
Llama2KvCache CacheFromBlocks(const BlockLayout& l, const std::vector<std::string>& blocks,
                              size_t count);

struct PrefixQuality {
  double nll_delta = 0;   // mean over positions of (-log p with decoded) - (-log p as stored)
  double top1_agree = 0;  // share of positions whose top-1 token is the same
  double stored_nll = 0;  // mean -log p with the blocks as stored, for scale
  size_t positions = 0;
};

// Sums paired scores (the same positions of the same sequences) over sequences.
class PrefixQualitySum {
 public:
  // REQUIRES: stored and decoded score the same positions.
  void Add(const Llama2Scores& stored, const Llama2Scores& decoded);
  PrefixQuality Result() const;

 private:
  double stored_nll_ = 0, decoded_nll_ = 0;
  size_t agree_ = 0, positions_ = 0;
};

}  // namespace strata::bench

#endif  // STRATA_BENCH_CODECS_PREFIX_QUALITY_H_
