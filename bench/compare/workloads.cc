#include "bench/compare/workloads.h"

#include <algorithm>
#include <barrier>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"

namespace strata::bench {
namespace {

constexpr size_t kStampBytes = 8;
constexpr size_t kConversations = 8;
constexpr size_t kChainBlocks = 64;

uint64_t Seed(size_t thread, size_t block_bytes, size_t index) {
  return (static_cast<uint64_t>(thread) << 48) ^ (static_cast<uint64_t>(block_bytes) << 8) ^
         (static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ull);
}

uint64_t Word(uint64_t seed, size_t w) { return (seed + w) * 0xD6E8FEB86659FD93ull; }

}  // namespace

void FillBlock(char* out, size_t thread, size_t block_bytes, size_t index) {
  const uint64_t seed = Seed(thread, block_bytes, index);
  std::memset(out, 0, kStampBytes);
  for (size_t w = 1; w < block_bytes / 8; ++w) {
    const uint64_t v = Word(seed, w);
    std::memcpy(out + w * 8, &v, 8);
  }
}

bool CheckBlock(const char* in, size_t thread, size_t block_bytes, size_t index) {
  const uint64_t seed = Seed(thread, block_bytes, index);
  for (size_t w = 1; w < block_bytes / 8; ++w) {
    uint64_t v;
    std::memcpy(&v, in + w * 8, 8);
    if (v != Word(seed, w)) return false;
  }
  return true;
}

std::vector<std::string> ThroughputKeys(size_t thread, size_t block_bytes) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < kMaxBatch; ++i)
    keys.push_back(absl::StrCat("k", block_bytes, "t", thread, "i", i));
  return keys;
}

absl::Status SeedBlocks(const std::vector<StoreSession*>& sessions, size_t block_bytes) {
  for (size_t t = 0; t < sessions.size(); ++t) {
    StoreSession& s = *sessions[t];
    const std::vector<std::string> keys = ThroughputKeys(t, block_bytes);
    for (size_t i = 0; i < kMaxBatch; ++i)
      FillBlock(s.buffer() + i * block_bytes, t, block_bytes, i);
    for (size_t first = 0; first < kMaxBatch; first += 16) {
      // Put reads block i of the call at buffer + i * block_bytes: shift the window by moving the
      // 16 blocks to the front, then restore the buffer afterwards.
      if (first > 0) {
        std::memcpy(s.buffer(), s.buffer() + first * block_bytes, 16 * block_bytes);
      }
      absl::Status st =
          s.Put(absl::MakeConstSpan(keys).subspan(first, 16), block_bytes, /*chain=*/false);
      if (!st.ok()) return st;
    }
    for (size_t i = 0; i < kMaxBatch; ++i)
      FillBlock(s.buffer() + i * block_bytes, t, block_bytes, i);
  }
  return absl::OkStatus();
}

Measurement RunThroughput(const std::vector<StoreSession*>& sessions, const ThroughputCase& c,
                          double seconds, size_t max_warmup_calls) {
  Measurement m;
  const bool get = c.op == "get";
  std::vector<std::vector<std::string>> keys(c.threads);
  for (size_t t = 0; t < c.threads; ++t) {
    keys[t] = ThroughputKeys(t, c.block_bytes);
    keys[t].resize(c.batch);
  }
  // The check before a Get case.
  if (get) {
    for (size_t t = 0; t < c.threads; ++t) {
      StoreSession& s = *sessions[t];
      std::memset(s.buffer(), 0, c.batch * c.block_bytes);
      absl::Status st = s.Get(keys[t], c.block_bytes);
      for (size_t i = 0; st.ok() && i < c.batch; ++i) {
        if (!CheckBlock(s.buffer() + i * c.block_bytes, t, c.block_bytes, i)) {
          st = absl::DataLossError(absl::StrCat("wrong bytes in block ", i, " of thread ", t));
        }
      }
      if (!st.ok()) {
        m.error = st.ToString();
        return m;
      }
    }
  }
  const size_t warmups = std::clamp<size_t>(
      (64ull << 20) / std::max<size_t>(1, c.batch * c.block_bytes), 2, max_warmup_calls);
  struct PerThread {
    absl::Status status;
    std::vector<double> latencies_us;
    double start = 0, end = 0;
    size_t calls = 0;
  };
  std::vector<PerThread> per(c.threads);
  std::barrier sync(static_cast<std::ptrdiff_t>(c.threads));
  uint64_t version = 0;
  auto body = [&](size_t t) {
    StoreSession& s = *sessions[t];
    PerThread& p = per[t];
    uint64_t stamp = (static_cast<uint64_t>(t) << 56) | version;
    auto once = [&]() -> absl::Status {
      if (get) return s.Get(keys[t], c.block_bytes);
      ++stamp;
      for (size_t i = 0; i < c.batch; ++i) std::memcpy(s.buffer() + i * c.block_bytes, &stamp, 8);
      return s.Put(keys[t], c.block_bytes, /*chain=*/false);
    };
    for (size_t i = 0; i < warmups && p.status.ok(); ++i) p.status = once();
    sync.arrive_and_wait();  // every thread warm before any is timed
    p.start = NowSeconds();
    double now = p.start;
    while (p.status.ok() && now - p.start < seconds && p.calls < kMaxCallsPerThread) {
      const double t0 = now;
      p.status = once();
      now = NowSeconds();
      p.latencies_us.push_back((now - t0) * 1e6);
      ++p.calls;
    }
    p.end = now;
  };
  version = static_cast<uint64_t>(NowSeconds() * 1e3) << 24;
  std::vector<std::thread> threads;
  for (size_t t = 1; t < c.threads; ++t) threads.emplace_back(body, t);
  body(0);
  for (auto& th : threads) th.join();
  double start = per[0].start, end = per[0].end;
  std::vector<double> all;
  for (const PerThread& p : per) {
    if (!p.status.ok()) {
      m.error = p.status.ToString();
      return m;
    }
    start = std::min(start, p.start);
    end = std::max(end, p.end);
    m.calls += p.calls;
    all.insert(all.end(), p.latencies_us.begin(), p.latencies_us.end());
  }
  m.gbps = static_cast<double>(m.calls * c.batch * c.block_bytes) / (end - start) / 1e9;
  m.p50_us = Median(all);
  m.p99_us = Percentile(all, 0.99);
  m.ok = true;
  return m;
}

PrefixResult RunPrefix(StoreSession& session, size_t block_bytes, size_t calls,
                       double max_seconds) {
  PrefixResult r;
  std::vector<std::vector<std::string>> chains(kConversations);
  // Conversation c has its first 8 * (c + 1) blocks stored. Thread id 100 + c keeps the
  // patterns apart from the throughput blocks.
  for (size_t c = 0; c < kConversations; ++c) {
    for (size_t i = 0; i < kChainBlocks; ++i)
      chains[c].push_back(absl::StrCat("p", block_bytes, "c", c, "i", i));
    const size_t stored = 8 * (c + 1);
    for (size_t i = 0; i < stored; ++i) {
      FillBlock(session.buffer() + i * block_bytes, 100 + c, block_bytes, i);
    }
    absl::Status st =
        session.Put(absl::MakeConstSpan(chains[c]).subspan(0, stored), block_bytes, true);
    if (!st.ok()) {
      r.m.error = st.ToString();
      return r;
    }
  }
  // Check each conversation once (count and bytes); these calls also warm up.
  for (size_t c = 0; c < kConversations; ++c) {
    std::memset(session.buffer(), 0, kChainBlocks * block_bytes);
    auto n = session.PrefixFetch(chains[c], block_bytes);
    absl::Status st = n.status();
    if (st.ok() && *n != 8 * (c + 1)) {
      st = absl::DataLossError(
          absl::StrCat("prefix of conversation ", c, ": ", *n, " blocks, want ", 8 * (c + 1)));
    }
    for (size_t i = 0; st.ok() && i < *n; ++i) {
      if (!CheckBlock(session.buffer() + i * block_bytes, 100 + c, block_bytes, i)) {
        st = absl::DataLossError(absl::StrCat("wrong bytes in block ", i, " of conversation ", c));
      }
    }
    if (!st.ok()) {
      r.m.error = st.ToString();
      return r;
    }
  }
  std::vector<double> latencies_us;
  size_t blocks = 0;
  double busy = 0;
  const double start = NowSeconds();
  for (size_t i = 0; i < calls && NowSeconds() - start < max_seconds; ++i) {
    const double t0 = NowSeconds();
    auto n = session.PrefixFetch(chains[i % kConversations], block_bytes);
    const double t1 = NowSeconds();
    if (!n.ok()) {
      r.m.error = n.status().ToString();
      return r;
    }
    blocks += *n;
    busy += t1 - t0;
    latencies_us.push_back((t1 - t0) * 1e6);
  }
  r.m.calls = latencies_us.size();
  r.m.p50_us = Median(latencies_us);
  r.m.p99_us = Percentile(latencies_us, 0.99);
  r.m.gbps = busy > 0 ? static_cast<double>(blocks * block_bytes) / busy / 1e9 : 0;
  r.mean_blocks = r.m.calls > 0 ? static_cast<double>(blocks) / static_cast<double>(r.m.calls) : 0;
  r.m.ok = r.m.calls > 0;
  return r;
}

}  // namespace strata::bench
