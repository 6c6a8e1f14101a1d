// The cluster client's per-call pieces: a peer (one node as this client knows it), the roster of
// one call (the view it routes by, with each node's connection resolved at most once), and the
// parallel runner. Internal to client.cc / routing.cc.
#ifndef STRATA_CLIENT_INTERNAL_ROSTER_H_
#define STRATA_CLIENT_INTERNAL_ROSTER_H_

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"

namespace strata {

struct Client::Peer {
  Peer(std::string id_in, std::string address_in)
      : id(std::move(id_in)), address(std::move(address_in)) {}
  const std::string id;
  const std::string address;
  absl::Mutex mu;
  std::shared_ptr<NodeClient> client ABSL_GUARDED_BY(mu);  // null until connected once
  bool down ABSL_GUARDED_BY(mu) = false;
};

// A failure of a node (rather than of the request): mark the node down, skip it, so its keys
// read as misses. Besides UNAVAILABLE and DEADLINE_EXCEEDED, a connection cut in the middle of a
// call surfaces as CANCELLED, UNKNOWN ("Stream removed") or INTERNAL (an RST_STREAM).
inline bool NodeFailed(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsCancelled(st) ||
         absl::IsUnknown(st) || absl::IsInternal(st);
}

// Runs fn(0) .. fn(n-1) in parallel: fn(0) on the caller's thread, the others on their own.
template <typename Fn>
void RunParallel(size_t n, const Fn& fn) {
  std::vector<std::future<void>> rest;
  rest.reserve(n > 0 ? n - 1 : 0);
  for (size_t g = 1; g < n; ++g) rest.push_back(std::async(std::launch::async, [&fn, g] { fn(g); }));
  if (n > 0) fn(0);
  for (std::future<void>& f : rest) f.get();
}

// One call's view of the cluster. Used from the calling thread only (tasks get NodeClient
// pointers it resolved beforehand).
class Client::Roster {
 public:
  explicit Roster(Client* client) : client_(client), view_(client->view()) {
    const size_t n = view_->nodes.size();
    peers_.resize(n);
    clients_.resize(n);
    resolved_.assign(n, false);
    for (size_t j = 0; j < n; ++j) {
      if (view_->nodes[j].state == cluster::NodeState::kDraining) draining_.push_back(j);
    }
  }
  size_t size() const { return view_->nodes.size(); }
  const cluster::ClusterView& view() const { return *view_; }
  // Indices of the owners of (ns, key), best first.
  std::vector<size_t> Owners(std::string_view ns, std::string_view key, int replicas) const {
    std::vector<size_t> out;
    for (const cluster::NodeRecord* r : cluster::Owners(*view_, ns, key, replicas)) {
      out.push_back(static_cast<size_t>(r - view_->nodes.data()));
    }
    return out;
  }
  // For each node, the indices of the items it owns (all R owners of each), in item order.
  // key_of(i) is item i's key.
  template <typename KeyOf>
  std::vector<std::vector<size_t>> GroupByOwner(std::string_view ns, size_t items, KeyOf key_of,
                                                int replicas) const {
    std::vector<std::vector<size_t>> groups(size());
    for (size_t i = 0; i < items; ++i) {
      for (size_t j : Owners(ns, key_of(i), replicas)) groups[j].push_back(i);
    }
    return groups;
  }
  const std::vector<size_t>& draining() const { return draining_; }
  // Node j's connection, or null when it is down.
  NodeClient* Get(size_t j) {
    if (!resolved_[j]) {
      resolved_[j] = true;
      peers_[j] = client_->PeerFor(view_->nodes[j]);
      clients_[j] = client_->Up(*peers_[j]);
    }
    return clients_[j].get();
  }
  // Node j failed a call: down for this client from now on.
  void Failed(size_t j) {
    if (peers_[j]) Client::MarkDown(*peers_[j]);
    clients_[j].reset();
  }

 private:
  Client* const client_;
  const std::shared_ptr<const cluster::ClusterView> view_;
  std::vector<std::shared_ptr<Peer>> peers_;
  std::vector<std::shared_ptr<NodeClient>> clients_;
  std::vector<bool> resolved_;
  std::vector<size_t> draining_;
};

}  // namespace strata

#endif  // STRATA_CLIENT_INTERNAL_ROSTER_H_
