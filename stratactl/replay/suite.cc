#include "stratactl/replay/suite.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>

#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "stratactl/replay/belady.h"
#include "stratactl/replay/workloads.h"

namespace strata::replay {
namespace {

double Gap(double policy, double lru, double belady) {
  if (belady - lru <= 1e-12) return policy >= lru ? 1.0 : 0.0;
  return (policy - lru) / (belady - lru);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

absl::StatusOr<std::vector<SuiteTrace>> SuiteTraces(uint64_t seed, uint32_t requests,
                                                    std::vector<SuiteTrace> extra) {
  std::vector<SuiteTrace> out;
  WorkloadOptions o;
  o.seed = seed;
  o.requests = requests;
  for (const std::string& family : WorkloadFamilyNames()) {
    STRATA_ASSIGN_OR_RETURN(std::vector<TraceRequest> trace, GenerateWorkload(family, o));
    out.push_back(SuiteTrace{family, std::move(trace)});
  }
  for (SuiteTrace& t : extra) out.push_back(std::move(t));
  return out;
}

absl::StatusOr<std::vector<SuiteCell>> RunSuite(const std::vector<SuiteTrace>& traces,
                                                const SuiteOptions& options) {
  std::vector<std::string> policies = {"lru"};
  for (const std::string& p : options.policies) {
    if (p == "lru") continue;
    STRATA_RETURN_IF_ERROR(MakeEvictionPolicy(p).status());
    policies.push_back(p);
  }
  std::vector<SuiteCell> cells;
  for (const SuiteTrace& t : traces) {
    const uint64_t distinct = CountDistinctBlocks(t.requests);
    for (double f : options.capacities) {
      OfflineCacheOptions cache;
      cache.geometry = options.geometry;
      cache.capacity_blocks =
          std::max<uint64_t>(1, static_cast<uint64_t>(f * static_cast<double>(distinct)));
      const size_t first = cells.size();
      auto start = std::chrono::steady_clock::now();
      STRATA_ASSIGN_OR_RETURN(ReplayStats belady, ReplayBeladyLeaves(t.requests, cache));
      cells.push_back(SuiteCell{t.family, f, cache.capacity_blocks, "belady", belady,
                                Seconds(start)});
      for (const std::string& p : policies) {
        start = std::chrono::steady_clock::now();
        STRATA_ASSIGN_OR_RETURN(auto backend, OfflinePrefixCache::Create(p, cache));
        STRATA_ASSIGN_OR_RETURN(ReplayStats s,
                                Replay(t.requests, *backend, ReplayOptions{options.geometry, {}}));
        cells.push_back(SuiteCell{t.family, f, cache.capacity_blocks, p, s, Seconds(start)});
      }
      const double b = cells[first].stats.hit_ratio();
      const double l = cells[first + 1].stats.hit_ratio();
      for (size_t i = first; i < cells.size(); ++i) {
        cells[i].belady_hit_ratio = b;
        cells[i].lru_hit_ratio = l;
        cells[i].gap_closed = Gap(cells[i].stats.hit_ratio(), l, b);
      }
    }
  }
  return cells;
}

void PrintSuiteTable(const std::vector<SuiteCell>& cells, std::ostream& out) {
  std::vector<std::string> policies;
  std::map<std::string, double> seconds;
  for (const SuiteCell& c : cells) {
    if (std::find(policies.begin(), policies.end(), c.policy) == policies.end()) {
      policies.push_back(c.policy);
    }
    seconds[c.policy] += c.seconds;
  }
  out << "| family | F | blocks |";
  for (const std::string& p : policies) out << ' ' << p << " |";
  out << "\n|---|---|---|";
  for (size_t i = 0; i < policies.size(); ++i) out << "---|";
  out << '\n' << std::fixed;
  for (size_t i = 0; i < cells.size();) {
    const SuiteCell& row = cells[i];
    out << "| " << row.family << " | " << std::setprecision(2) << row.capacity_fraction << " | "
        << row.capacity_blocks << " |";
    for (; i < cells.size() && cells[i].family == row.family &&
           cells[i].capacity_fraction == row.capacity_fraction;
         ++i) {
      const SuiteCell& c = cells[i];
      out << ' ' << std::setprecision(4) << c.stats.hit_ratio();
      if (c.policy != "belady" && c.policy != "lru" && c.belady_hit_ratio - c.lru_hit_ratio < 0.002) {
        out << " (n/a)";
      } else if (c.policy != "belady" && c.policy != "lru") {
        out << " (" << std::showpos << std::setprecision(2) << c.gap_closed << std::noshowpos
            << ")";
      }
      out << " |";
    }
    out << '\n';
  }
  out << "\nhit ratio (share of the LRU -> Belady gap closed; n/a: Belady within 0.002 of LRU); "
         "wall time over the suite:";
  for (const std::string& p : policies) {
    out << ' ' << p << ' ' << std::setprecision(2) << seconds[p] << " s";
    if (p != policies.back()) out << ',';
  }
  out << '\n';
}

void PrintSuiteJson(const std::vector<SuiteCell>& cells, std::ostream& out) {
  for (const SuiteCell& c : cells) {
    nlohmann::json j;
    j["family"] = c.family;
    j["capacity_fraction"] = c.capacity_fraction;
    j["capacity_blocks"] = c.capacity_blocks;
    j["policy"] = c.policy;
    j["requests"] = c.stats.requests;
    j["blocks"] = c.stats.blocks;
    j["hit_blocks"] = c.stats.hit_blocks;
    j["hit_ratio"] = c.stats.hit_ratio();
    j["token_hit_ratio"] = c.stats.token_hit_ratio();
    j["lru_hit_ratio"] = c.lru_hit_ratio;
    j["belady_hit_ratio"] = c.belady_hit_ratio;
    j["gap_closed"] = c.gap_closed;
    j["elapsed_s"] = c.seconds;
    out << j.dump() << '\n';
  }
}

}  // namespace strata::replay
