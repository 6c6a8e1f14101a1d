#include "stratactl/replay/belady.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"

namespace strata::replay {
namespace {

constexpr uint32_t kNever = std::numeric_limits<uint32_t>::max();

struct Resident {
  uint32_t next_use = kNever;
  uint32_t last_use = 0;  // Request that last touched it (pins it while that request runs).
  uint32_t children = 0;  // Resident children.
  bool has_parent = false;
  uint64_t parent = 0;
};

}  // namespace

absl::StatusOr<ReplayStats> ReplayBeladyLeaves(const std::vector<TraceRequest>& trace,
                                               const OfflineCacheOptions& options) {
  if (options.capacity_blocks == 0) {
    return absl::InvalidArgumentError("capacity_blocks: must be at least 1");
  }
  // next_use[offset[i] + j]: the next request after i naming trace[i].hash_ids[j].
  std::vector<size_t> offset(trace.size() + 1, 0);
  for (size_t i = 0; i < trace.size(); ++i) offset[i + 1] = offset[i] + trace[i].hash_ids.size();
  std::vector<uint32_t> next_use(offset.back(), kNever);
  {
    absl::flat_hash_map<uint64_t, uint32_t> seen_at;
    for (size_t i = trace.size(); i-- > 0;) {
      const auto& ids = trace[i].hash_ids;
      for (size_t j = 0; j < ids.size(); ++j) {
        auto [it, inserted] = seen_at.try_emplace(ids[j], static_cast<uint32_t>(i));
        next_use[offset[i] + j] = inserted ? kNever : it->second;
      }
      for (uint64_t id : ids) seen_at[id] = static_cast<uint32_t>(i);
    }
  }

  absl::flat_hash_map<uint64_t, Resident> cache;
  // Leaves (no resident child), by (next use, trace id).
  absl::btree_set<std::pair<uint32_t, uint64_t>> leaves;
  ReplayStats stats;

  for (size_t i = 0; i < trace.size(); ++i) {
    const TraceRequest& request = trace[i];
    const uint32_t now = static_cast<uint32_t>(i);
    RequestOutcome out;
    for (uint64_t id : request.hash_ids) {
      if (!cache.contains(id)) break;
      ++out.hit_blocks;
    }
    for (size_t j = 0; j < request.hash_ids.size(); ++j) {
      const uint64_t id = request.hash_ids[j];
      const uint32_t next = next_use[offset[i] + j];
      auto it = cache.find(id);
      if (it != cache.end()) {
        Resident& r = it->second;
        if (r.children == 0) leaves.erase({r.next_use, id});
        r.next_use = next;
        r.last_use = now;
        if (r.children == 0) leaves.insert({r.next_use, id});
        continue;
      }
      if (cache.size() >= options.capacity_blocks) {
        // Furthest next use among unpinned leaves. Blocks of this request are pinned: those
        // already touched have last_use == now, those not yet touched have next_use == now.
        bool evicted = false;
        for (auto c = leaves.rbegin(); c != leaves.rend(); ++c) {
          auto v = cache.find(c->second);
          if (v->second.last_use == now || v->second.next_use == now) continue;
          const Resident victim = v->second;
          leaves.erase(std::next(c).base());
          cache.erase(v);
          auto p = victim.has_parent ? cache.find(victim.parent) : cache.end();
          if (p != cache.end() && --p->second.children == 0) {
            leaves.insert({p->second.next_use, victim.parent});
          }
          evicted = true;
          break;
        }
        if (!evicted) {
          out.unstored_blocks += request.hash_ids.size() - j;
          break;
        }
        ++out.evicted_blocks;
      }
      Resident r;
      r.next_use = next;
      r.last_use = now;
      r.has_parent = j > 0;
      r.parent = j > 0 ? request.hash_ids[j - 1] : 0;
      // The parent is resident: it is this request's previous block, just touched or stored.
      auto p = r.has_parent ? cache.find(r.parent) : cache.end();
      if (p != cache.end() && p->second.children++ == 0) {
        leaves.erase({p->second.next_use, r.parent});
      }
      cache.emplace(id, r);
      leaves.insert({r.next_use, id});
      ++out.stored_blocks;
    }
    Account(request, out, options.geometry, stats);
  }
  return stats;
}

}  // namespace strata::replay
