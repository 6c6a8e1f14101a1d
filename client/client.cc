// Client: the view, the node connections, marking nodes down and probing them back, and the
// calls that are not routed by key (client.h). The routed calls are in routing.cc.
#include "client/client.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/internal/roster.h"
#include "cluster/etcd_membership.h"
#include "common/status_macros.h"

namespace strata {
namespace {

// The view a node serves; null when it is a cluster of one (source "static", or no records).
std::shared_ptr<const cluster::ClusterView> ViewFromNode(const v1::ClusterViewResponse& r) {
  if (r.source() == "static" || r.nodes_size() == 0) return nullptr;
  auto view = std::make_shared<cluster::ClusterView>();
  view->source = cluster::ViewSource::kNode;
  view->cluster = r.cluster();
  view->revision = r.revision();
  view->confirmed_unix_ms = r.confirmed_unix_ms() > 0 ? r.confirmed_unix_ms() : cluster::NowUnixMs();
  for (const std::string& json : r.nodes()) {
    absl::StatusOr<cluster::NodeRecord> record = cluster::NodeRecord::FromJson(json);
    if (record.ok()) view->nodes.push_back(*std::move(record));  // a bad record is skipped
  }
  if (view->nodes.empty()) return nullptr;
  std::sort(view->nodes.begin(), view->nodes.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return view;
}

// Options for one node of the view: a refused connection marks it down at once.
ClientOptions ForNode(const ClientOptions& options, const std::string& address) {
  ClientOptions o = options;
  o.address = address;
  o.nodes.clear();
  o.membership = nullptr;
  o.connect_fail_fast = true;
  // Routed GetInto / PutFrom move gRPC bytes (client.h): no UCX session per node.
  o.data_path = ClientOptions::DataPath::kGrpc;
  return o;
}

}  // namespace

Client::Client(const ClientOptions& options) : options_(options) {}

Client::~Client() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (prober_.joinable()) prober_.join();
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::unique_ptr<Client> c(new Client(options));
  std::shared_ptr<NodeClient> first;  // the node asked for the view, when one was
  std::string first_address;
  if (options.membership) {
    c->membership_ = options.membership;
  } else if (!options.etcd.empty()) {
    if (options.cluster.empty()) {
      return absl::InvalidArgumentError("cluster: required with etcd endpoints");
    }
    cluster::EtcdMembershipOptions eo;
    eo.endpoints = options.etcd;
    eo.cluster = options.cluster;
    eo.start_timeout = absl::Milliseconds(options.connect_timeout_ms);
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<cluster::EtcdMembership> etcd,
                            cluster::EtcdMembership::Start(std::move(eo)));
    c->membership_ = std::move(etcd);
  } else if (options.nodes.size() > 1) {
    c->membership_ = std::make_shared<cluster::StaticMembership>(options.nodes);
  } else {
    first_address = options.nodes.empty() ? options.address : options.nodes[0];
    ClientOptions one = ForNode(options, first_address);
    one.connect_fail_fast = options.connect_fail_fast;  // as a single-node client always did
    one.data_path = options.data_path;
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<NodeClient> node, NodeClient::Connect(one));
    first = std::move(node);
    std::shared_ptr<const cluster::ClusterView> served;
    if (options.nodes.empty()) {
      absl::StatusOr<v1::ClusterViewResponse> cv = first->ClusterView();
      if (cv.ok()) {
        served = ViewFromNode(*cv);
      } else if (NodeFailed(cv.status())) {
        return cv.status();
      }  // UNIMPLEMENTED (a node without clusters) or refused: a cluster of one
    }
    if (!served) {
      c->limits_ = first->limits();
      c->first_address_ = first->address();
      c->single_ = std::move(first);
      return c;
    }
    absl::MutexLock lock(&c->mu_);
    c->node_view_ = served;
    c->node_view_read_ms_ = cluster::NowUnixMs();
  }
  // Connect to every node of the view at once; the ones that do not answer start down.
  std::shared_ptr<const cluster::ClusterView> view = c->view();
  std::vector<std::shared_ptr<Peer>> peers;
  for (const cluster::NodeRecord& record : view->nodes) {
    peers.push_back(c->PeerFor(record));
    if (first && record.address == first_address) {
      absl::MutexLock lock(&peers.back()->mu);
      peers.back()->client = first;
    }
  }
  RunParallel(peers.size(), [&](size_t g) { (void)c->Up(*peers[g]); });
  for (const std::shared_ptr<Peer>& peer : peers) {
    absl::MutexLock lock(&peer->mu);
    if (peer->client && !peer->down) {
      c->limits_ = peer->client->limits();
      c->first_address_ = peer->address;
      break;
    }
  }
  if (c->first_address_.empty()) {
    std::vector<std::string> addresses;
    for (const cluster::NodeRecord& r : view->nodes) addresses.push_back(r.address);
    return absl::UnavailableError(
        absl::StrCat("no strata node answers at ", absl::StrJoin(addresses, ", ")));
  }
  Client* raw = c.get();
  c->prober_ = std::thread([raw] { raw->ProbeLoop(); });
  return c;
}

std::shared_ptr<const cluster::ClusterView> Client::view() const {
  if (membership_) return membership_->View();
  absl::MutexLock lock(&mu_);
  if (node_view_) return node_view_;
  // A client of one node: that node alone.
  auto one = std::make_shared<cluster::ClusterView>();
  cluster::NodeRecord r;
  r.id = r.address = first_address_;
  one->nodes.push_back(r);
  one->confirmed_unix_ms = cluster::NowUnixMs();
  return one;
}

std::vector<std::string> Client::Owners(std::string_view ns, std::string_view key) const {
  std::shared_ptr<const cluster::ClusterView> v = view();
  std::vector<std::string> ids;
  for (const cluster::NodeRecord* r :
       cluster::Owners(*v, ns, key, options_.placement.ReplicasFor(ns))) {
    ids.push_back(r->id);
  }
  return ids;
}

std::shared_ptr<Client::Peer> Client::PeerFor(const cluster::NodeRecord& record) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Peer>& peer = peers_[record.id];
  if (!peer || peer->address != record.address) {
    peer = std::make_shared<Peer>(record.id, record.address);
  }
  return peer;
}

std::shared_ptr<NodeClient> Client::Up(Peer& peer) {
  absl::MutexLock lock(&peer.mu);
  if (peer.down) return nullptr;
  if (!peer.client) {
    absl::StatusOr<std::unique_ptr<NodeClient>> node =
        NodeClient::Connect(ForNode(options_, peer.address));
    if (!node.ok()) {
      peer.down = true;
      return nullptr;
    }
    peer.client = *std::move(node);
  }
  return peer.client;
}

std::shared_ptr<NodeClient> Client::Reconnect(Peer& peer, uint32_t timeout_ms) {
  // A fresh connection each time: a channel that saw the node die may sit in its reconnect
  // backoff, and the node that answers now may be a restarted one with new limits.
  ClientOptions o = ForNode(options_, peer.address);
  o.connect_timeout_ms = timeout_ms;
  absl::StatusOr<std::unique_ptr<NodeClient>> node = NodeClient::Connect(o);
  if (!node.ok()) return nullptr;
  absl::MutexLock lock(&peer.mu);
  peer.client = *std::move(node);
  peer.down = false;
  return peer.client;
}

void Client::MarkDown(Peer& peer) {
  absl::MutexLock lock(&peer.mu);
  peer.down = true;
}

bool Client::IsDown(std::string_view id) const {
  std::shared_ptr<Peer> peer;
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(std::string(id));
    if (it == peers_.end()) return false;
    peer = it->second;
  }
  absl::MutexLock lock(&peer->mu);
  return peer->down;
}

absl::StatusOr<std::shared_ptr<NodeClient>> Client::node(std::string_view id) {
  if (single_) {
    if (id == single_->address()) return single_;
    return absl::NotFoundError(absl::StrCat("no node ", std::string(id), " in the view"));
  }
  std::shared_ptr<const cluster::ClusterView> v = view();
  const cluster::NodeRecord* record = v->Find(id);
  if (record == nullptr) {
    for (const cluster::NodeRecord& r : v->nodes) {
      if (r.address == id) record = &r;  // an address names its node too
    }
  }
  if (record == nullptr) return absl::NotFoundError(absl::StrCat("no node ", std::string(id), " in the view"));
  std::shared_ptr<Peer> peer = PeerFor(*record);
  {
    absl::MutexLock lock(&peer->mu);
    if (peer->client) return peer->client;  // down or not: the caller asked for this node
  }
  std::shared_ptr<NodeClient> c = Up(*peer);
  // Marked down (it did not answer in time at Connect, or failed since): the caller asked for
  // this node by name, so it gets one fresh attempt now rather than the prober's last verdict.
  if (!c) c = Reconnect(*peer, options_.connect_timeout_ms);
  if (!c) return absl::UnavailableError(absl::StrCat("node ", std::string(id), " at ", record->address,
                                                     " does not answer"));
  return c;
}

std::vector<std::shared_ptr<NodeClient>> Client::Reachable() {
  if (single_) return {single_};
  Roster roster(this);
  std::vector<std::shared_ptr<NodeClient>> out;
  for (size_t j = 0; j < roster.size(); ++j) {
    std::shared_ptr<Peer> peer = PeerFor(roster.view().nodes[j]);
    if (std::shared_ptr<NodeClient> c = Up(*peer)) out.push_back(std::move(c));
  }
  return out;
}

void Client::ProbeLoop() {
  const absl::Duration interval = absl::Milliseconds(std::max<uint32_t>(options_.probe_interval_ms, 10));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) return;
    }
    ProbeOnce();
    RefreshNodeView();
  }
}

void Client::ProbeOnce() {
  std::vector<std::shared_ptr<Peer>> peers;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, peer] : peers_) peers.push_back(peer);
  }
  const uint32_t probe_ms = std::min<uint32_t>(options_.connect_timeout_ms, 1'000);
  for (const std::shared_ptr<Peer>& peer : peers) {
    {
      absl::MutexLock lock(&peer->mu);
      if (!peer->down) continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    (void)Reconnect(*peer, probe_ms);
  }
}

void Client::RefreshNodeView() {
  {
    absl::MutexLock lock(&mu_);
    if (membership_ || !node_view_ ||
        cluster::NowUnixMs() - node_view_read_ms_ < options_.view_refresh_ms) {
      return;
    }
  }
  for (const std::shared_ptr<NodeClient>& node : Reachable()) {
    absl::StatusOr<v1::ClusterViewResponse> cv = node->ClusterView();
    if (!cv.ok()) continue;
    std::shared_ptr<const cluster::ClusterView> served = ViewFromNode(*cv);
    if (!served) continue;
    absl::MutexLock lock(&mu_);
    node_view_ = std::move(served);
    node_view_read_ms_ = cluster::NowUnixMs();
    return;
  }
}

const RequestLimits& Client::limits() const { return limits_; }

const std::string& Client::address() const { return first_address_; }

absl::Status Client::CheckKeys(std::string_view ns, absl::Span<const std::string> keys) const {
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  if (keys.empty()) return absl::InvalidArgumentError("keys: batch is empty");
  for (size_t i = 0; i < keys.size(); ++i) {
    STRATA_RETURN_IF_ERROR(ValidateKey(keys[i], limits_, absl::StrCat("keys[", i, "]")));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::NodeInfoResponse> Client::NodeInfo() {
  if (single_) return single_->NodeInfo();
  absl::Status last = absl::UnavailableError("no node of the cluster answers");
  for (const std::shared_ptr<NodeClient>& node : Reachable()) {
    absl::StatusOr<v1::NodeInfoResponse> r = node->NodeInfo();
    if (r.ok() || !NodeFailed(r.status())) return r;
    last = r.status();
  }
  return last;
}

absl::StatusOr<v1::StatsResponse> Client::Stats() {
  if (single_) return single_->Stats();
  absl::Status last = absl::UnavailableError("no node of the cluster answers");
  for (const std::shared_ptr<NodeClient>& node : Reachable()) {
    absl::StatusOr<v1::StatsResponse> r = node->Stats();
    if (r.ok() || !NodeFailed(r.status())) return r;
    last = r.status();
  }
  return last;
}

absl::StatusOr<v1::EvictResponse> Client::Evict(std::string_view ns) {
  if (single_) return single_->Evict(ns);
  STRATA_RETURN_IF_ERROR(ValidateNamespace(ns, "namespace"));
  std::vector<std::shared_ptr<NodeClient>> nodes = Reachable();
  if (nodes.empty()) return absl::UnavailableError("no node of the cluster answers");
  std::vector<absl::StatusOr<v1::EvictResponse>> out(nodes.size(), absl::UnknownError(""));
  RunParallel(nodes.size(), [&](size_t g) { out[g] = nodes[g]->Evict(ns); });
  v1::EvictResponse sum;
  for (const absl::StatusOr<v1::EvictResponse>& r : out) {
    if (!r.ok()) {
      if (NodeFailed(r.status())) continue;  // down: it evicts nothing, and serves nothing
      return r.status();
    }
    sum.set_blocks(sum.blocks() + r->blocks());
    sum.set_bytes(sum.bytes() + r->bytes());
  }
  return sum;
}

bool Client::data_plane_cuda_memory() const {
  return single_ != nullptr && single_->data_plane_cuda_memory();
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> Client::RegisterDeviceBuffer(void* ptr,
                                                                               size_t len,
                                                                               bool force) {
  if (single_) return single_->RegisterDeviceBuffer(ptr, len, force);
  return absl::FailedPreconditionError(
      "RegisterDeviceBuffer: a routed client has no UCX data plane (stage through host memory)");
}

std::string_view Client::data_path() const { return single_ ? single_->data_path() : "grpc"; }

NodeClient::DataPathCounters Client::data_path_counters() const {
  return single_ ? single_->data_path_counters() : NodeClient::DataPathCounters{};
}

}  // namespace strata
