#include "cluster/membership.h"

#include <algorithm>

namespace strata::cluster {
namespace {

std::shared_ptr<const ClusterView> MakeView(std::vector<NodeRecord> records, ViewSource source) {
  auto view = std::make_shared<ClusterView>();
  view->source = source;
  std::sort(records.begin(), records.end(),
            [](const NodeRecord& a, const NodeRecord& b) { return a.id < b.id; });
  view->nodes = std::move(records);
  view->confirmed_unix_ms = NowUnixMs();
  return view;
}

std::vector<NodeRecord> RecordsFor(const std::vector<std::string>& addresses) {
  std::vector<NodeRecord> records;
  for (const std::string& a : addresses) {
    NodeRecord r;
    r.id = a;
    r.address = a;
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace

StaticMembership::StaticMembership(const std::vector<std::string>& addresses)
    : StaticMembership(RecordsFor(addresses), ViewSource::kStatic) {}

StaticMembership::StaticMembership(std::vector<NodeRecord> records, ViewSource source)
    : view_(MakeView(std::move(records), source)), source_(source) {}

std::shared_ptr<const ClusterView> StaticMembership::View() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

void StaticMembership::Set(std::vector<NodeRecord> records) {
  std::shared_ptr<const ClusterView> view = MakeView(std::move(records), source_);
  std::vector<Listener> listeners;
  {
    absl::MutexLock lock(&mu_);
    view_ = view;
    listeners = listeners_;
  }
  for (const Listener& fn : listeners) fn(view);
}

absl::Status StaticMembership::Register(const NodeRecord&) {
  return absl::UnimplementedError("static membership has no registry to join");
}
absl::Status StaticMembership::Update(const NodeRecord&) {
  return absl::UnimplementedError("static membership has no registry to update");
}
absl::Status StaticMembership::Deregister() {
  return absl::UnimplementedError("static membership has no registry to leave");
}

}  // namespace strata::cluster
