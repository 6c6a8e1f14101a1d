// Client's keyed calls, routed by placement over the cluster's nodes (client.h).
#include <algorithm>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/internal/ranking.h"
#include "client/internal/roster.h"
#include "common/status_macros.h"

namespace strata {

// Stores every block on each of its reachable owners, one parallel call per owner.
// call(NodeClient&, absl::Span<const Block>) answers one status per block.
template <typename Block, typename Call>
absl::StatusOr<std::vector<absl::Status>> Client::RoutedPut(std::string_view ns,
                                                            absl::Span<const Block> blocks,
                                                            Call call) {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (blocks.empty()) return absl::InvalidArgumentError("items: batch is empty");
  Roster roster(this);
  const int replicas = options_.placement.ReplicasFor(ns);
  const std::vector<std::vector<size_t>> groups = roster.GroupByOwner(
      ns, blocks.size(), [&](size_t i) { return blocks[i].key; }, replicas);
  struct Task {
    size_t node;
    NodeClient* client;
    absl::StatusOr<std::vector<absl::Status>> out = absl::UnknownError("not run");
  };
  std::vector<Task> tasks;
  for (size_t j = 0; j < groups.size(); ++j) {
    if (groups[j].empty()) continue;
    if (NodeClient* c = roster.Get(j)) tasks.push_back(Task{j, c});
  }
  RunParallel(tasks.size(), [&](size_t t) {
    std::vector<Block> part;
    for (size_t i : groups[tasks[t].node]) part.push_back(blocks[i]);
    tasks[t].out = call(*tasks[t].client, absl::MakeConstSpan(part));
  });
  std::vector<bool> stored(blocks.size(), false);
  std::vector<absl::Status> refused(blocks.size());  // a replica's answer other than "down"
  for (Task& t : tasks) {
    if (!t.out.ok()) {
      if (!NodeFailed(t.out.status())) return t.out.status();
      roster.Failed(t.node);
      continue;
    }
    const std::vector<size_t>& idx = groups[t.node];
    for (size_t k = 0; k < idx.size() && k < t.out->size(); ++k) {
      const absl::Status& st = (*t.out)[k];
      if (st.ok()) {
        stored[idx[k]] = true;
      } else if (!NodeFailed(st) && refused[idx[k]].ok()) {
        refused[idx[k]] = st;
      }
    }
  }
  std::vector<absl::Status> results(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (stored[i]) continue;
    results[i] = !refused[i].ok()
                     ? refused[i]
                     : absl::UnavailableError("no owner of this block is reachable");
  }
  return results;
}

// Reads each key from its first reachable owner, then the next on a miss or a failed node, then
// the draining nodes. call(NodeClient&, absl::Span<const size_t> indices) answers one Result per
// index.
template <typename Result, typename Call>
absl::StatusOr<std::vector<Result>> Client::RoutedGet(std::string_view ns,
                                                      absl::Span<const std::string> keys,
                                                      Call call) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  Roster roster(this);
  const int replicas = options_.placement.ReplicasFor(ns);
  std::vector<std::vector<size_t>> candidates(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    candidates[i] = roster.Owners(ns, keys[i], replicas);
    for (size_t d : roster.draining()) candidates[i].push_back(d);
  }
  std::vector<Result> results(keys.size());
  for (Result& r : results) r.status = absl::NotFoundError("miss");
  std::vector<absl::Status> key_errors(keys.size());
  std::vector<size_t> next(keys.size(), 0);
  std::vector<size_t> pending(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) pending[i] = i;
  while (!pending.empty()) {
    std::vector<std::vector<size_t>> groups(roster.size());
    for (size_t i : pending) {
      while (next[i] < candidates[i].size() && roster.Get(candidates[i][next[i]]) == nullptr) {
        ++next[i];
      }
      if (next[i] < candidates[i].size()) groups[candidates[i][next[i]]].push_back(i);
    }
    struct Task {
      size_t node;
      NodeClient* client;
      absl::StatusOr<std::vector<Result>> out = absl::UnknownError("not run");
    };
    std::vector<Task> tasks;
    for (size_t j = 0; j < groups.size(); ++j) {
      if (!groups[j].empty()) tasks.push_back(Task{j, roster.Get(j)});
    }
    RunParallel(tasks.size(), [&](size_t t) {
      tasks[t].out = call(*tasks[t].client, absl::MakeConstSpan(groups[tasks[t].node]));
    });
    std::vector<size_t> again;
    for (Task& t : tasks) {
      const std::vector<size_t>& idx = groups[t.node];
      if (!t.out.ok()) {
        if (!NodeFailed(t.out.status())) return t.out.status();
        roster.Failed(t.node);
        for (size_t i : idx) again.push_back(i);  // the next candidate, if any
        continue;
      }
      for (size_t k = 0; k < idx.size(); ++k) {
        const size_t i = idx[k];
        Result& r = (*t.out)[k];
        if (r.status.ok()) {
          results[i] = std::move(r);
          continue;
        }
        if (!absl::IsNotFound(r.status) && !NodeFailed(r.status) && key_errors[i].ok()) {
          key_errors[i] = r.status;
        }
        ++next[i];
        again.push_back(i);
      }
    }
    std::sort(again.begin(), again.end());
    pending = std::move(again);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!results[i].status.ok() && !key_errors[i].ok()) results[i].status = key_errors[i];
  }
  return results;
}

// Asks every reachable owner of each key at once; a key's flag is true when any owner's is.
// call(NodeClient&, absl::Span<const std::string> keys) answers one flag per key.
template <typename Call>
absl::StatusOr<std::vector<bool>> Client::RoutedFlags(std::string_view ns,
                                                      absl::Span<const std::string> keys,
                                                      Call call) {
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  Roster roster(this);
  const int replicas = options_.placement.ReplicasFor(ns);
  const std::vector<std::vector<size_t>> groups = roster.GroupByOwner(
      ns, keys.size(), [&](size_t i) { return std::string_view(keys[i]); }, replicas);
  struct Task {
    size_t node;
    NodeClient* client;
    absl::StatusOr<std::vector<bool>> out = absl::UnknownError("not run");
  };
  std::vector<Task> tasks;
  for (size_t j = 0; j < groups.size(); ++j) {
    if (groups[j].empty()) continue;
    if (NodeClient* c = roster.Get(j)) tasks.push_back(Task{j, c});
  }
  RunParallel(tasks.size(), [&](size_t t) {
    std::vector<std::string> part;
    for (size_t i : groups[tasks[t].node]) part.push_back(keys[i]);
    tasks[t].out = call(*tasks[t].client, absl::MakeConstSpan(part));
  });
  std::vector<bool> flags(keys.size(), false);
  for (Task& t : tasks) {
    if (!t.out.ok()) {
      if (!NodeFailed(t.out.status())) return t.out.status();
      roster.Failed(t.node);  // its keys read as absent
      continue;
    }
    const std::vector<size_t>& idx = groups[t.node];
    for (size_t k = 0; k < idx.size() && k < t.out->size(); ++k) {
      if ((*t.out)[k]) flags[idx[k]] = true;
    }
  }
  return flags;
}

absl::StatusOr<std::vector<absl::Status>> Client::Put(
    std::string_view ns, absl::Span<const PutBlock> blocks,
    absl::Span<const absl::Span<const float>> scores) {
  if (single_) return single_->Put(ns, blocks, scores);
  if (scores.empty()) {
    return RoutedPut(ns, blocks, [ns](NodeClient& node, absl::Span<const PutBlock> part) {
      return node.Put(ns, part);
    });
  }
  if (scores.size() != blocks.size()) {
    return absl::InvalidArgumentError(absl::StrCat("scores: ", scores.size(), " entries for ",
                                                   blocks.size(), " blocks (want one per block)"));
  }
  // RoutedPut hands each owner copies of its blocks; the copies' views point at the caller's
  // bytes, which find each block's scores.
  absl::flat_hash_map<std::pair<const char*, const char*>, size_t> index;
  for (size_t i = 0; i < blocks.size(); ++i) {
    index.emplace(std::make_pair(blocks[i].key.data(), blocks[i].payload.data()), i);
  }
  return RoutedPut(ns, blocks, [&](NodeClient& node, absl::Span<const PutBlock> part) {
    std::vector<absl::Span<const float>> part_scores;
    part_scores.reserve(part.size());
    for (const PutBlock& b : part) {
      part_scores.push_back(scores[index.at(std::make_pair(b.key.data(), b.payload.data()))]);
    }
    return node.Put(ns, part, part_scores);
  });
}

absl::StatusOr<std::vector<GetResult>> Client::Get(std::string_view ns,
                                                   absl::Span<const std::string> keys,
                                                   const GetOptions& get_options) {
  if (single_) return single_->Get(ns, keys, get_options);
  return RoutedGet<GetResult>(
      ns, keys, [ns, keys, get_options](NodeClient& node, absl::Span<const size_t> idx) {
        std::vector<std::string> part;
        for (size_t i : idx) part.push_back(keys[i]);
        return node.Get(ns, part, get_options);
      });
}

absl::StatusOr<std::vector<bool>> Client::Exists(std::string_view ns,
                                                 absl::Span<const std::string> keys) {
  if (single_) return single_->Exists(ns, keys);
  return RoutedFlags(ns, keys, [ns](NodeClient& node, absl::Span<const std::string> part) {
    return node.Exists(ns, part);
  });
}

absl::StatusOr<std::vector<bool>> Client::Remove(std::string_view ns,
                                                 absl::Span<const std::string> keys) {
  if (single_) return single_->Remove(ns, keys);
  return RoutedFlags(ns, keys, [ns](NodeClient& node, absl::Span<const std::string> part) {
    return node.Remove(ns, part);
  });
}

absl::StatusOr<RankedPrefix> Client::RankBlocks(std::string_view ns,
                                                absl::Span<const std::string> keys,
                                                const RankQuery& query) {
  if (single_) return single_->RankBlocks(ns, keys, query);
  RankedPrefix out;
  STRATA_ASSIGN_OR_RETURN(out.matched, Lookup(ns, keys));
  if (out.matched == 0) return out;
  const absl::Span<const std::string> prefix = keys.subspan(0, out.matched);
  Roster roster(this);
  const int replicas = options_.placement.ReplicasFor(ns);
  const std::vector<std::vector<size_t>> groups = roster.GroupByOwner(
      ns, prefix.size(), [&](size_t i) { return std::string_view(prefix[i]); }, replicas);
  struct Task {
    size_t node;
    NodeClient* client;
    absl::StatusOr<RankedPrefix> out = absl::UnknownError("not run");
  };
  std::vector<Task> tasks;
  for (size_t j = 0; j < groups.size(); ++j) {
    if (groups[j].empty()) continue;
    if (NodeClient* c = roster.Get(j)) {
      tasks.push_back(Task{j, c});
    } else {
      out.unranked += groups[j].size();  // down since Lookup
    }
  }
  RunParallel(tasks.size(), [&](size_t t) {
    std::vector<std::string> part;
    for (size_t i : groups[tasks[t].node]) part.push_back(prefix[i]);
    tasks[t].out = tasks[t].client->RankBlocks(ns, part, query);
  });
  std::vector<RankCandidate> merged;
  for (Task& t : tasks) {
    const std::vector<size_t>& idx = groups[t.node];
    if (!t.out.ok()) {
      // A query that does not fit the bounds is the caller's error, whichever owner saw it.
      if (!NodeFailed(t.out.status())) return t.out.status();
      roster.Failed(t.node);
      out.unranked += idx.size();
      continue;
    }
    // The owner's own Lookup stops at a key that left it since ours: that key and the rest of
    // its share were not ranked.
    out.unranked += t.out->unranked + (idx.size() - std::min(t.out->matched, idx.size()));
    for (size_t k = 0; k < t.out->ranked.size() && k < t.out->bounds.size(); ++k) {
      if (t.out->ranked[k] < idx.size()) {
        merged.emplace_back(t.out->bounds[k], idx[t.out->ranked[k]]);
      }
    }
  }
  TakeTopByBound(std::move(merged), query.top_n, &out);
  return out;
}

absl::StatusOr<size_t> Client::Lookup(std::string_view ns, absl::Span<const std::string> keys,
                                      uint32_t lease_ms) {
  if (single_) return single_->Lookup(ns, keys, lease_ms);
  // Each owner reports the leading run of its own keys (in chain order): every key before its
  // first absent one is present there. A key is present when some owner says so; the answer is
  // the leading run of present keys. The owners are asked at once with async calls, from this
  // thread; an owner with more keys than one batch is asked through the batched call instead.
  STRATA_RETURN_IF_ERROR(CheckKeys(ns, keys));
  Roster roster(this);
  const int replicas = options_.placement.ReplicasFor(ns);
  const std::vector<std::vector<size_t>> groups = roster.GroupByOwner(
      ns, keys.size(), [&](size_t i) { return std::string_view(keys[i]); }, replicas);
  struct Task {
    size_t node;
    NodeClient* client;
    std::vector<std::string> keys;
    absl::StatusOr<size_t> matched = absl::UnknownError("not run");
  };
  std::vector<Task> tasks;
  for (size_t j = 0; j < groups.size(); ++j) {
    if (groups[j].empty()) continue;
    NodeClient* c = roster.Get(j);
    if (c == nullptr) continue;  // down: its keys read as absent
    Task t{j, c, {}};
    for (size_t i : groups[j]) t.keys.push_back(keys[i]);
    tasks.push_back(std::move(t));
  }
  // Shared with the completions, so the last one out (this thread or a gRPC thread still
  // leaving its critical section) frees it.
  struct Round {
    absl::Mutex mu;
    size_t outstanding ABSL_GUARDED_BY(mu) = 0;
    std::vector<absl::StatusOr<size_t>> matched ABSL_GUARDED_BY(mu);
  };
  auto round = std::make_shared<Round>();
  {
    absl::MutexLock lock(&round->mu);
    round->matched.assign(tasks.size(), absl::UnknownError("not run"));
  }
  std::vector<size_t> batched;  // tasks too large for one async call
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (tasks[t].keys.size() > tasks[t].client->limits().max_batch) {
      batched.push_back(t);
      continue;
    }
    {
      absl::MutexLock lock(&round->mu);
      ++round->outstanding;
    }
    tasks[t].client->StartLookup(ns, tasks[t].keys, lease_ms,
                                 [round, t](absl::StatusOr<size_t> r) {
                                   absl::MutexLock lock(&round->mu);
                                   round->matched[t] = std::move(r);
                                   --round->outstanding;
                                 });
  }
  for (size_t t : batched) tasks[t].matched = tasks[t].client->Lookup(ns, tasks[t].keys, lease_ms);
  {
    absl::MutexLock lock(&round->mu);
    Round* r = round.get();
    // Read under round->mu: Await evaluates the condition with the lock held.
    auto all_done = [r]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return r->outstanding == 0; };
    round->mu.Await(absl::Condition(&all_done));
    for (size_t t = 0; t < tasks.size(); ++t) {
      if (std::find(batched.begin(), batched.end(), t) == batched.end()) {
        tasks[t].matched = std::move(round->matched[t]);
      }
    }
  }
  std::vector<bool> present(keys.size(), false);
  for (Task& t : tasks) {
    if (!t.matched.ok()) {
      if (!NodeFailed(t.matched.status())) return t.matched.status();
      roster.Failed(t.node);
      continue;
    }
    const std::vector<size_t>& idx = groups[t.node];
    for (size_t k = 0; k < *t.matched && k < idx.size(); ++k) present[idx[k]] = true;
  }
  size_t run = 0;
  while (run < present.size() && present[run]) ++run;
  return run;
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> Client::RegisterBuffer(void* ptr, size_t len) {
  if (single_) return single_->RegisterBuffer(ptr, len);
  if (ptr == nullptr || len == 0) {
    return absl::InvalidArgumentError("RegisterBuffer: null pointer or zero length");
  }
  // Routed GetInto / PutFrom move gRPC bytes: nothing to register on the nodes.
  return std::unique_ptr<RegisteredBuffer>(
      new RegisteredBuffer(nullptr, static_cast<char*>(ptr), len, 0));
}

absl::StatusOr<std::vector<GetIntoResult>> Client::GetInto(std::string_view ns,
                                                           absl::Span<const std::string> keys,
                                                           const RegisteredBuffer& buffer,
                                                           absl::Span<const uint64_t> offsets,
                                                           absl::Span<const uint64_t> capacities) {
  if (single_) return single_->GetInto(ns, keys, buffer, offsets, capacities);
  if (offsets.size() != keys.size() || capacities.size() != keys.size()) {
    return absl::InvalidArgumentError(absl::StrCat("offsets/capacities: ", offsets.size(), "/",
                                                   capacities.size(), " entries for ", keys.size(),
                                                   " keys"));
  }
  return RoutedGet<GetIntoResult>(
      ns, keys, [&](NodeClient& node, absl::Span<const size_t> idx) {
        std::vector<std::string> part;
        std::vector<uint64_t> offs, caps;
        for (size_t i : idx) {
          part.push_back(keys[i]);
          offs.push_back(offsets[i]);
          caps.push_back(capacities[i]);
        }
        return node.GetInto(ns, part, buffer, offs, caps);
      });
}

absl::StatusOr<std::vector<absl::Status>> Client::PutFrom(std::string_view ns,
                                                          const RegisteredBuffer& buffer,
                                                          absl::Span<const PutFromBlock> blocks,
                                                          absl::Span<const uint64_t> checksums) {
  if (single_) return single_->PutFrom(ns, buffer, blocks, checksums);
  // Routed calls move gRPC bytes, which the client computes its checksums from.
  return RoutedPut(ns, blocks, [ns, &buffer](NodeClient& node, absl::Span<const PutFromBlock> part) {
    return node.PutFrom(ns, buffer, part);
  });
}

std::future<absl::StatusOr<std::vector<GetIntoResult>>> Client::GetIntoAsync(
    std::string_view ns, absl::Span<const std::string> keys, const RegisteredBuffer& buffer,
    absl::Span<const uint64_t> offsets, absl::Span<const uint64_t> capacities) {
  if (single_) return single_->GetIntoAsync(ns, keys, buffer, offsets, capacities);
  return std::async(std::launch::async,
                    [=, this, &buffer] { return GetInto(ns, keys, buffer, offsets, capacities); });
}

std::future<absl::StatusOr<std::vector<absl::Status>>> Client::PutFromAsync(
    std::string_view ns, const RegisteredBuffer& buffer, absl::Span<const PutFromBlock> blocks) {
  if (single_) return single_->PutFromAsync(ns, buffer, blocks);
  return std::async(std::launch::async, [=, this, &buffer] { return PutFrom(ns, buffer, blocks); });
}

}  // namespace strata
