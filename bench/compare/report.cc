#include "bench/compare/report.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace strata::bench {
namespace {

using nlohmann::json;

std::string BlockName(size_t bytes) {
  if (bytes % (1 << 20) == 0) return absl::StrCat(bytes >> 20, "mib");
  if (bytes % (1 << 10) == 0) return absl::StrCat(bytes >> 10, "kib");
  return absl::StrCat(bytes, "b");
}

// The short name of a Strata path in ratio names; "" for the peers.
std::string StrataSuffix(const std::string& store) {
  if (store == "strata-ucx-tcp") return "ucx";
  if (store == "strata-grpc") return "grpc";
  if (store == "strata-ucx-shm") return "shm";
  return "";
}

std::optional<double> Ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}

class Index {
 public:
  explicit Index(const Report& r) : report_(r) {}
  std::optional<double> Gbps(const std::string& store, const std::string& op, size_t block,
                             size_t batch, size_t threads) const {
    for (const CaseRow& row : report_.cases) {
      if (row.store == store && row.c.op == op && row.c.block_bytes == block &&
          row.c.batch == batch && row.c.threads == threads && row.m.ok) {
        return row.m.gbps;
      }
    }
    return std::nullopt;
  }
  const PrefixRow* Prefix(const std::string& store) const {
    for (const PrefixRow& row : report_.prefix) {
      if (row.store == store && row.r.m.ok) return &row;
    }
    return nullptr;
  }
  const LimitRow* Limit(size_t block) const {
    for (const LimitRow& l : report_.limits) {
      if (l.block_bytes == block) return &l;
    }
    return nullptr;
  }
  std::vector<size_t> Threads() const {
    return Distinct([](const CaseRow& row) { return row.c.threads; });
  }
  std::vector<size_t> Batches() const {
    return Distinct([](const CaseRow& row) { return row.c.batch; });
  }

 private:
  template <typename Fn>
  std::vector<size_t> Distinct(Fn field) const {
    std::vector<size_t> v;
    for (const CaseRow& row : report_.cases) v.push_back(field(row));
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }

  const Report& report_;
};

json Num(std::optional<double> v) { return v ? json(*v) : json(nullptr); }

// store over peer at (op, 1 MiB) and each thread count, the lowest over the thread counts; at
// `batch` when given, else each store at its best batch size for that thread count (a Redis user
// who finds 16 GETs faster than one MGET of 16 issues GETs). Null when a thread count lacks
// either store.
std::optional<double> LowestOverThreads(const Index& idx, const std::string& store,
                                        const std::string& peer, const std::string& op,
                                        std::optional<size_t> batch = std::nullopt) {
  std::optional<double> lowest;
  for (size_t t : idx.Threads()) {
    std::optional<double> a, b;
    for (size_t n : batch ? std::vector<size_t>{*batch} : idx.Batches()) {
      auto x = idx.Gbps(store, op, 1 << 20, n, t);
      auto y = idx.Gbps(peer, op, 1 << 20, n, t);
      if (x && (!a || *x > *a)) a = x;
      if (y && (!b || *y > *b)) b = y;
    }
    auto r = Ratio(a, b);
    if (!r) return std::nullopt;
    lowest = lowest ? std::min(*lowest, *r) : *r;
  }
  return lowest;
}

std::optional<double> PrefixRatio(const Index& idx, const std::string& store,
                                  const std::string& peer, bool p99) {
  const PrefixRow* a = idx.Prefix(store);
  const PrefixRow* b = idx.Prefix(peer);
  if (a == nullptr || b == nullptr) return std::nullopt;
  return p99 ? Ratio(a->r.m.p99_us, b->r.m.p99_us) : Ratio(a->r.m.p50_us, b->r.m.p50_us);
}

json Build(const Report& r) {
  const Index idx(r);
  json j;
  // Headline first.
  j["get_1mib_vs_redis"] = Num(LowestOverThreads(idx, "strata-ucx-tcp", "redis", "get"));
  j["get_1mib_vs_memcached"] = Num(LowestOverThreads(idx, "strata-ucx-tcp", "memcached", "get"));
  j["get_1mib_b16_vs_redis"] = Num(LowestOverThreads(idx, "strata-ucx-tcp", "redis", "get", 16));
  j["get_1mib_b16_vs_memcached"] =
      Num(LowestOverThreads(idx, "strata-ucx-tcp", "memcached", "get", 16));
  j["prefix_p99_vs_redis"] = Num(PrefixRatio(idx, "strata-ucx-tcp", "redis", true));
  const LimitRow* l1 = idx.Limit(1 << 20);
  std::optional<double> tcp_limit, shm_limit;
  std::string tcp_limit_name = "none", shm_limit_name = "none";
  if (l1 != nullptr) {
    // Both bound UCX over tcp; the higher is the stricter limit.
    tcp_limit = l1->tcp_socket_gbps;
    tcp_limit_name = "loopback TCP socket pair, 1 MiB writes";
    if (l1->perftest_tcp_gbps && (!tcp_limit || *l1->perftest_tcp_gbps > *tcp_limit)) {
      tcp_limit = l1->perftest_tcp_gbps;
      tcp_limit_name = "ucx_perftest tag_bw over tcp, 1 MiB messages";
    }
    shm_limit = l1->memcpy_gbps;
    shm_limit_name = "single-thread memcpy of 64 x 1 MiB";
    if (l1->perftest_shm_gbps && *l1->perftest_shm_gbps > *shm_limit) {
      shm_limit = l1->perftest_shm_gbps;
      shm_limit_name = "ucx_perftest tag_bw over shm, 1 MiB messages";
    }
  }
  j["get_1mib_vs_limit"] = Num(Ratio(idx.Gbps("strata-ucx-tcp", "get", 1 << 20, 64, 1), tcp_limit));
  j["get_1mib_limit"] = tcp_limit_name;
  j["get_1mib_vs_perftest"] = Num(Ratio(idx.Gbps("strata-ucx-tcp", "get", 1 << 20, 64, 1),
                                        l1 != nullptr ? l1->perftest_tcp_gbps : std::nullopt));
  j["get_1mib_vs_perftest_peer"] =
      Num(Ratio(idx.Gbps("strata-ucx-tcp", "get", 1 << 20, 64, 1),
                l1 != nullptr ? l1->perftest_tcp_peer_gbps : std::nullopt));
  j["get_1mib_vs_tcp_socket"] = Num(Ratio(idx.Gbps("strata-ucx-tcp", "get", 1 << 20, 64, 1),
                                          l1 != nullptr ? l1->tcp_socket_gbps : std::nullopt));
  j["get_1mib_shm_vs_limit"] =
      Num(Ratio(idx.Gbps("strata-ucx-shm", "get", 1 << 20, 64, 1), shm_limit));
  j["get_1mib_shm_limit"] = shm_limit_name;
  for (const char* peer : {"redis", "memcached"}) {
    const std::string p = peer;
    j["put_1mib_vs_" + p] = Num(LowestOverThreads(idx, "strata-ucx-tcp", p, "put"));
    j["get_1mib_grpc_vs_" + p] = Num(LowestOverThreads(idx, "strata-grpc", p, "get"));
    j["put_1mib_grpc_vs_" + p] = Num(LowestOverThreads(idx, "strata-grpc", p, "put"));
    j["get_1mib_shm_vs_" + p] = Num(LowestOverThreads(idx, "strata-ucx-shm", p, "get"));
    j["put_1mib_shm_vs_" + p] = Num(LowestOverThreads(idx, "strata-ucx-shm", p, "put"));
    if (p != "redis") j["prefix_p99_vs_" + p] = Num(PrefixRatio(idx, "strata-ucx-tcp", p, true));
    j["prefix_p50_vs_" + p] = Num(PrefixRatio(idx, "strata-ucx-tcp", p, false));
    j["prefix_p99_grpc_vs_" + p] = Num(PrefixRatio(idx, "strata-grpc", p, true));
    j["prefix_p99_shm_vs_" + p] = Num(PrefixRatio(idx, "strata-ucx-shm", p, true));
  }
  json targets;
  auto target = [&](const char* key, bool higher, double bound) {
    json t;
    t["want"] = absl::StrCat(higher ? ">= " : "<= ", bound);
    t["met"] = j[key].is_null()
                   ? json(nullptr)
                   : json(higher ? j[key].get<double>() >= bound : j[key].get<double>() <= bound);
    targets[key] = t;
  };
  target("get_1mib_vs_redis", true, 3.0);
  target("prefix_p99_vs_redis", false, 1.0 / 3);
  target("get_1mib_vs_limit", true, 0.7);
  j["targets"] = targets;

  // Every ratio.
  json ratios = json::object();
  for (const CaseRow& row : r.cases) {
    const std::string s = StrataSuffix(row.store);
    const ThroughputCase& c = row.c;
    const std::string stem =
        absl::StrCat(c.op, "_", BlockName(c.block_bytes), "_b", c.batch, "_t", c.threads, "_");
    if (!s.empty()) {
      for (const char* peer : {"redis", "memcached"}) {
        auto v = Ratio(idx.Gbps(row.store, c.op, c.block_bytes, c.batch, c.threads),
                       idx.Gbps(peer, c.op, c.block_bytes, c.batch, c.threads));
        if (v) ratios[stem + s + "_vs_" + peer] = *v;
      }
    }
    const LimitRow* l = idx.Limit(c.block_bytes);
    if (c.threads == 1 && l != nullptr && row.m.ok) {
      const std::string who = s.empty() ? row.store : s;
      const std::pair<const char*, std::optional<double>> limits[] = {
          {"memcpy", l->memcpy_gbps},
          {"tcp_socket", l->tcp_socket_gbps},
          {"perftest_tcp", l->perftest_tcp_gbps},
          {"perftest_tcp_peer", l->perftest_tcp_peer_gbps},
          {"perftest_shm", l->perftest_shm_gbps}};
      for (const auto& [name, value] : limits) {
        auto v = Ratio(row.m.gbps, value);
        if (v) ratios[stem + who + "_vs_" + name] = *v;
      }
    }
  }
  for (const PrefixRow& row : r.prefix) {
    const std::string s = StrataSuffix(row.store);
    if (s.empty()) continue;
    for (const char* peer : {"redis", "memcached"}) {
      for (bool p99 : {false, true}) {
        auto v = PrefixRatio(idx, row.store, peer, p99);
        if (v) ratios[absl::StrCat("prefix_", p99 ? "p99" : "p50", "_", s, "_vs_", peer)] = *v;
      }
    }
  }
  j["ratios"] = ratios;

  // The measurements.
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  j["host"] = host;
  j["cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  j["quick"] = r.quick;
  j["seconds_per_case"] = r.seconds_per_case;
  j["memory_bytes"] = r.memory_bytes;
  j["prefix_block_bytes"] = r.prefix_block_bytes;
  j["elapsed_s"] = r.elapsed_s;
  j["ucx_perftest"] = r.perftest.empty() ? json(nullptr) : json(r.perftest);
  json stores = json::array();
  for (const StoreRow& s : r.stores) {
    stores.push_back({{"name", s.name}, {"address", s.address}, {"command", s.command}});
  }
  j["stores"] = stores;
  json limits = json::array();
  for (const LimitRow& l : r.limits) {
    limits.push_back({{"block_bytes", l.block_bytes},
                      {"memcpy_gbps", l.memcpy_gbps},
                      {"tcp_socket_gbps", Num(l.tcp_socket_gbps)},
                      {"perftest_tcp_gbps", Num(l.perftest_tcp_gbps)},
                      {"perftest_tcp_peer_gbps", Num(l.perftest_tcp_peer_gbps)},
                      {"perftest_shm_gbps", Num(l.perftest_shm_gbps)}});
  }
  j["limits"] = limits;
  json cases = json::array();
  for (const CaseRow& row : r.cases) {
    json c = {
        {"store", row.store},   {"op", row.c.op},           {"block_bytes", row.c.block_bytes},
        {"batch", row.c.batch}, {"threads", row.c.threads}, {"ok", row.m.ok},
        {"calls", row.m.calls}};
    if (row.m.ok) {
      c["gbps"] = row.m.gbps;
      c["p50_us"] = row.m.p50_us;
      c["p99_us"] = row.m.p99_us;
    } else {
      c["error"] = row.m.error;
    }
    cases.push_back(c);
  }
  j["cases"] = cases;
  json prefix = json::array();
  for (const PrefixRow& row : r.prefix) {
    json p = {{"store", row.store}, {"ok", row.r.m.ok}, {"calls", row.r.m.calls}};
    if (row.r.m.ok) {
      p["p50_us"] = row.r.m.p50_us;
      p["p99_us"] = row.r.m.p99_us;
      p["gbps"] = row.r.m.gbps;
      p["mean_blocks"] = row.r.mean_blocks;
    } else {
      p["error"] = row.r.m.error;
    }
    prefix.push_back(p);
  }
  j["prefix"] = prefix;
  return j;
}

std::string Cell(std::optional<double> v, const char* fmt = "%.2f") {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, *v);
  return buf;
}

}  // namespace

void PrintReportJson(const Report& report, FILE* out) {
  std::fprintf(out, "%s\n", Build(report).dump(1).c_str());
}

void PrintReportText(const Report& report, FILE* out) {
  const Index idx(report);
  std::vector<std::string> stores;
  for (const StoreRow& s : report.stores) stores.push_back(s.name);
  std::fprintf(out, "GB/s per store (client threads t, blocks per call b)\n%-4s %8s %3s %3s", "op",
               "block", "b", "t");
  for (const auto& s : stores) std::fprintf(out, " %15s", s.c_str());
  std::fprintf(out, "\n");
  std::vector<ThroughputCase> seen;
  for (const CaseRow& row : report.cases) {
    const ThroughputCase& c = row.c;
    bool dup = false;
    for (const auto& s : seen) {
      dup |= s.op == c.op && s.block_bytes == c.block_bytes && s.batch == c.batch &&
             s.threads == c.threads;
    }
    if (dup) continue;
    seen.push_back(c);
    std::fprintf(out, "%-4s %8zu %3zu %3zu", c.op.c_str(), c.block_bytes, c.batch, c.threads);
    for (const auto& s : stores) {
      std::fprintf(out, " %15s",
                   Cell(idx.Gbps(s, c.op, c.block_bytes, c.batch, c.threads)).c_str());
    }
    std::fprintf(out, "\n");
  }
  std::fprintf(out, "\nprefix fetch (%zu-byte blocks)   p50_us    p99_us  blocks/call\n",
               report.prefix_block_bytes);
  for (const PrefixRow& row : report.prefix) {
    if (!row.r.m.ok) {
      std::fprintf(out, "%-16s error: %s\n", row.store.c_str(), row.r.m.error.c_str());
      continue;
    }
    std::fprintf(out, "%-30s %9.1f %9.1f %8.1f\n", row.store.c_str(), row.r.m.p50_us,
                 row.r.m.p99_us, row.r.mean_blocks);
  }
  std::fprintf(out,
               "\nlimits (GB/s)      block   memcpy  tcp_socket  perftest_tcp  perftest_tcp_e  "
               "perftest_shm\n");
  for (const LimitRow& l : report.limits) {
    std::fprintf(out, "%24zu %8.2f %11s %13s %15s %13s\n", l.block_bytes, l.memcpy_gbps,
                 Cell(l.tcp_socket_gbps).c_str(), Cell(l.perftest_tcp_gbps).c_str(),
                 Cell(l.perftest_tcp_peer_gbps).c_str(), Cell(l.perftest_shm_gbps).c_str());
  }
  for (const CaseRow& row : report.cases) {
    if (!row.m.ok) {
      std::fprintf(out, "error: %s %s %zu x %zu t%zu: %s\n", row.store.c_str(), row.c.op.c_str(),
                   row.c.block_bytes, row.c.batch, row.c.threads, row.m.error.c_str());
    }
  }
  const json j = Build(report);
  std::fprintf(out, "\nheadline ratios\n");
  for (const char* key : {"get_1mib_vs_redis", "get_1mib_vs_memcached", "prefix_p99_vs_redis",
                          "get_1mib_vs_limit", "get_1mib_shm_vs_redis", "get_1mib_shm_vs_limit",
                          "put_1mib_vs_redis", "get_1mib_grpc_vs_redis"}) {
    std::fprintf(out, "  %-24s %s\n", key,
                 j[key].is_null() ? "-" : Cell(j[key].get<double>(), "%.3f").c_str());
  }
  std::fprintf(out, "run took %.0f s\n", report.elapsed_s);
}

}  // namespace strata::bench
