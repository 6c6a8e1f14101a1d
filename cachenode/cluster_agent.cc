#include "cachenode/cluster_agent.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace strata {
namespace {

// The host part of HOST:PORT or [V6]:PORT.
std::string HostOf(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

cluster::NodeRecord DescribeNode(const std::string& id, const std::string& address,
                                 const std::string& data_plane, const TieredStore& store) {
  cluster::NodeRecord r;
  r.id = id;
  r.address = address;
  r.data_plane = data_plane;
  const StoreStats stats = store.Stats();
  for (const TierStats& t : stats.tiers) {
    r.tiers.push_back({t.name, /*available=*/true, t.capacity_bytes, t.used_bytes, t.blocks});
  }
  r.hits = stats.hits;
  r.misses = stats.misses;
  return r;
}

void ToClusterViewResponse(const cluster::ClusterView& view, v1::ClusterViewResponse* response) {
  response->set_cluster(view.cluster);
  response->set_source(std::string(cluster::ViewSourceName(view.source)));
  for (const cluster::NodeRecord& n : view.nodes) response->add_nodes(n.ToJson());
  response->set_revision(view.revision);
  response->set_confirmed_unix_ms(view.confirmed_unix_ms);
}

std::shared_ptr<const cluster::ClusterView> SelfView(cluster::NodeRecord self) {
  auto view = std::make_shared<cluster::ClusterView>();
  view->source = cluster::ViewSource::kStatic;
  view->confirmed_unix_ms = cluster::NowUnixMs();
  self.heartbeat_unix_ms = view->confirmed_unix_ms;
  view->nodes.push_back(std::move(self));
  return view;
}

absl::StatusOr<std::unique_ptr<ClusterAgent>> ClusterAgent::Start(ClusterAgentOptions options,
                                                                  const TieredStore* store) {
  if (options.etcd.empty()) return absl::InvalidArgumentError("--etcd: required to join");
  const std::string host = HostOf(options.address);
  if (options.address.empty() || host.empty() || host == "0.0.0.0" || host == "::") {
    return absl::InvalidArgumentError(
        absl::StrCat("--advertise: clients cannot dial '", options.address,
                     "'; name the HOST:PORT other machines reach this node at"));
  }
  std::string id = options.node_id.empty() ? options.address : options.node_id;
  cluster::EtcdMembershipOptions m;
  m.endpoints = options.etcd;
  m.cluster = options.cluster;
  m.lease_ttl_s = options.lease_ttl_s;
  m.call_timeout = options.call_timeout;
  m.start_timeout = options.start_timeout;
  absl::StatusOr<std::unique_ptr<cluster::EtcdMembership>> membership =
      cluster::EtcdMembership::Start(std::move(m));
  if (!membership.ok()) return membership.status();
  std::unique_ptr<ClusterAgent> agent(
      new ClusterAgent(std::move(options), std::move(id), store, std::move(*membership)));
  absl::Status registered = agent->membership_->Register(agent->Record());
  if (!registered.ok()) return registered;
  ClusterAgent* self = agent.get();
  agent->thread_ = std::thread([self] { self->UpdateLoop(); });
  return agent;
}

ClusterAgent::ClusterAgent(ClusterAgentOptions options, std::string id, const TieredStore* store,
                           std::unique_ptr<cluster::EtcdMembership> membership)
    : options_(std::move(options)),
      id_(std::move(id)),
      store_(store),
      started_unix_ms_(cluster::NowUnixMs()),
      membership_(std::move(membership)) {}

ClusterAgent::~ClusterAgent() {
  // Without Deregister, on purpose: the record expires with the lease, as after a crash.
  (void)Shutdown(/*deregister=*/false);
}

cluster::NodeRecord ClusterAgent::Record() const {
  cluster::NodeRecord r = DescribeNode(id_, options_.address, options_.data_plane, *store_);
  r.state = state_.load();
  r.started_unix_ms = started_unix_ms_;
  return r;
}

absl::Status ClusterAgent::SetState(cluster::NodeState state) {
  state_.store(state);
  return membership_->Update(Record());
}

void ClusterAgent::UpdateLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.update_interval);
      if (stopping_) return;
    }
    cluster::NodeRecord record = Record();
    std::string content = record.ToJson();  // heartbeat_unix_ms is 0 until the write
    if (content == last_written_ && absl::Now() - last_write_ < options_.heartbeat_interval) {
      continue;
    }
    // Errors are the membership's to log and recover from (it re-registers when etcd is
    // back, and writes the latest record then); the next tick tries again, on purpose.
    if (membership_->Update(record).ok()) {
      last_written_ = std::move(content);
      last_write_ = absl::Now();
    }
  }
}

absl::Status ClusterAgent::Shutdown(bool deregister) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::OkStatus();
    shut_down_ = true;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (!deregister) return absl::OkStatus();
  return membership_->Deregister();
}

}  // namespace strata
