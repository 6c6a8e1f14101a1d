#include "cachenode/cluster_agent.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/etcd_membership.h"

namespace strata {

absl::StatusOr<std::unique_ptr<ClusterAgent>> ClusterAgent::Start(
    NodeCore* core, TieredStore* store, std::shared_ptr<cluster::Membership> membership,
    ClusterAgentOptions options) {
  std::unique_ptr<ClusterAgent> agent(
      new ClusterAgent(core, store, std::move(membership), std::move(options)));
  if (absl::Status st = agent->membership_->Register(agent->Record()); !st.ok()) {
    {
      absl::MutexLock lock(&agent->mu_);
      agent->left_ = true;  // nothing to deregister
    }
    return st;
  }
  agent->heartbeat_ = std::thread([a = agent.get()] { a->HeartbeatLoop(); });
  return agent;
}

ClusterAgent::ClusterAgent(NodeCore* core, TieredStore* store,
                           std::shared_ptr<cluster::Membership> membership,
                           ClusterAgentOptions options)
    : core_(core), store_(store), membership_(std::move(membership)), options_(std::move(options)) {}

ClusterAgent::~ClusterAgent() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  if (drain_.joinable()) drain_.join();
  (void)Leave();  // the error has no one to go to; the lease expires on its own
}

absl::Status ClusterAgent::Leave() {
  {
    absl::MutexLock lock(&mu_);
    if (left_) return absl::OkStatus();
    left_ = true;
  }
  return membership_->Deregister();
}

bool ClusterAgent::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

cluster::NodeRecord ClusterAgent::Record() const {
  cluster::NodeRecord r = core_->SelfRecord(options_.advertise);
  if (draining()) r.state = cluster::NodeState::kDraining;
  return r;
}

bool ClusterAgent::WaitUnlessStopping(uint32_t ms) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(ms));
  return !stopping_;
}

void ClusterAgent::HeartbeatLoop() {
  // Liveness is the lease (the membership renews it); the record is rewritten only when what it
  // says changed, or every kRefreshMs so its heartbeat time stays meaningful. Every write is an
  // etcd revision that every watcher applies, so an idle cluster should write little.
  constexpr uint64_t kRefreshMs = 10'000;
  std::string last_written;
  uint64_t last_write_ms = 0;
  while (WaitUnlessStopping(options_.heartbeat_ms)) {
    {
      absl::MutexLock lock(&mu_);
      if (left_) return;
    }
    cluster::NodeRecord record = Record();
    cluster::NodeRecord comparable = record;
    comparable.heartbeat_unix_ms = 0;
    const std::string content = comparable.ToJson();
    const uint64_t now = cluster::NowUnixMs();
    if (content == last_written && now - last_write_ms < kRefreshMs) continue;
    const absl::Status st = membership_->Update(record);
    if (st.ok()) {
      last_written = content;
      last_write_ms = now;
    }
    absl::MutexLock lock(&mu_);
    if (st.ok() == !heartbeat_failing_) continue;  // no change worth a log line
    heartbeat_failing_ = !st.ok();
    if (heartbeat_failing_) {
      std::cerr << "strata-node: cluster heartbeat failing (serving with the last view): "
                << st.message() << "\n";
    } else {
      std::cerr << "strata-node: cluster heartbeat restored\n";
    }
  }
}

v1::ClusterViewResponse ClusterAgent::View() const {
  const std::shared_ptr<const cluster::ClusterView> view = membership_->View();
  v1::ClusterViewResponse out;
  out.set_cluster(view->cluster.empty() ? options_.cluster : view->cluster);
  out.set_source(std::string(cluster::ViewSourceName(view->source)));
  for (const cluster::NodeRecord& n : view->nodes) out.add_nodes(n.ToJson());
  out.set_revision(view->revision);
  out.set_confirmed_unix_ms(view->confirmed_unix_ms);
  return out;
}

absl::StatusOr<uint64_t> ClusterAgent::WatchDrain(bool exit_when_done, DrainWatcher watcher) {
  absl::MutexLock lock(&watch_mu_);
  const uint64_t id = next_watch_++;
  if (!drain_started_) {
    {
      absl::MutexLock state(&mu_);
      if (stopping_ || left_) {
        return absl::FailedPreconditionError("drain: the node is leaving the cluster already");
      }
    }
    drain_started_ = true;
    drain_ = std::thread([this, exit_when_done] { RunDrain(exit_when_done); });
  } else {
    watcher(last_);  // where the running (or finished) drain stands
    if (last_.done()) return id;  // nothing more will come
  }
  watchers_[id] = std::move(watcher);
  return id;
}

void ClusterAgent::StopWatching(uint64_t watch_id) {
  absl::MutexLock lock(&watch_mu_);
  watchers_.erase(watch_id);
}

void ClusterAgent::Publish(const v1::DrainProgress& progress) {
  absl::MutexLock lock(&watch_mu_);
  last_ = progress;
  for (auto& [id, watcher] : watchers_) watcher(progress);
  if (progress.done()) watchers_.clear();
}

void ClusterAgent::RunDrain(bool exit_when_done) {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  v1::DrainProgress progress;
  Publish(progress);
  absl::Status announced = membership_->Update(Record());
  std::cerr << "strata-node: draining"
            << (announced.ok() ? "" : absl::StrCat(" (announcing it failed: ",
                                                   announced.message(), ")"))
            << "\n";
  if (!WaitUnlessStopping(options_.settle_ms)) {
    progress.set_done(true);
    progress.set_error("drain: the node is shutting down");
    Publish(progress);
    return;
  }
  std::shared_ptr<BlockSink> sink =
      options_.sink ? options_.sink : std::make_shared<GrpcBlockSink>();
  const std::shared_ptr<const cluster::ClusterView> view = membership_->View();
  size_t others = 0;
  for (const cluster::NodeRecord* n : view->Active()) others += n->id != core_->SelfRecord("").id;
  auto report = [&](const DrainCounts& c) {
    progress.set_blocks_total(c.blocks_total);
    progress.set_blocks_moved(c.blocks_moved);
    progress.set_blocks_failed(c.blocks_failed);
    progress.set_bytes_moved(c.bytes_moved);
    Publish(progress);
  };
  if (others == 0) {
    progress.set_error("drain: no other active node to take the blocks; they become misses");
  }
  const DrainCounts counts = DrainBlocks(*store_, *view, core_->SelfRecord("").id, options_.drain,
                                         *sink, report, [this] {
                                           absl::MutexLock lock(&mu_);
                                           return stopping_;
                                         });
  report(counts);
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
  }
  if (stopping) progress.set_error("drain: stopped early by the node's shutdown");
  if (counts.blocks_failed > 0 && !stopping) {
    // Leaving now would turn those blocks into misses: stay registered (draining, so readers
    // still find them here) and let the operator fix the cause and drain again after a restart.
    progress.set_error(absl::StrCat("drain: ", counts.blocks_failed, " of ", counts.blocks_total,
                                    " blocks could not be moved (no owner took them); the node "
                                    "stays up, draining"));
    std::cerr << "strata-node: " << progress.error() << "\n";
    progress.set_done(true);
    Publish(progress);
    return;
  }
  const absl::Status left = Leave();
  if (!left.ok() && progress.error().empty()) {
    progress.set_error(absl::StrCat("drain: deregistering failed (the lease will expire): ",
                                    left.message()));
  }
  std::cerr << "strata-node: drain done: " << counts.blocks_moved << " of " << counts.blocks_total
            << " blocks moved, " << counts.blocks_failed << " failed\n";
  progress.set_done(true);
  Publish(progress);
  if (exit_when_done && options_.request_shutdown) options_.request_shutdown();
}

absl::StatusOr<std::unique_ptr<ClusterAgent>> JoinEtcdCluster(
    NodeCore* core, TieredStore* store, const std::vector<std::string>& endpoints,
    int64_t lease_ttl_s, ClusterAgentOptions options) {
  cluster::EtcdMembershipOptions mo;
  mo.endpoints = endpoints;
  mo.cluster = options.cluster;
  mo.lease_ttl_s = lease_ttl_s;
  mo.log = [](const std::string& line) { std::cerr << "strata-node: etcd: " << line << "\n"; };
  auto membership = cluster::EtcdMembership::Start(std::move(mo));
  if (!membership.ok()) return membership.status();
  return ClusterAgent::Start(core, store, std::shared_ptr<cluster::Membership>(*std::move(membership)),
                             std::move(options));
}

}  // namespace strata
