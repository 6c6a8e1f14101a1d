#include "cluster/etcd_membership.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace strata::cluster {
namespace {

bool ValidName(const std::string& s, size_t max_len, std::string_view extra) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

absl::Status ValidateRecord(const NodeRecord& r) {
  if (!ValidName(r.id, 128, "._:-")) {
    return absl::InvalidArgumentError(
        absl::StrCat("node id '", r.id, "': expected 1-128 bytes of [A-Za-z0-9._:-]"));
  }
  if (r.address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("node ", r.id, ": address is empty"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EtcdNodesPrefix(const std::string& cluster) {
  return absl::StrCat("/strata/", cluster, "/nodes/");
}

std::string EtcdNodeKey(const std::string& cluster, const std::string& id) {
  return absl::StrCat(EtcdNodesPrefix(cluster), id);
}

absl::StatusOr<std::unique_ptr<EtcdMembership>> EtcdMembership::Start(
    EtcdMembershipOptions options) {
  if (!ValidName(options.cluster, 64, "._-")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cluster '", options.cluster, "': expected 1-64 bytes of [A-Za-z0-9._-]"));
  }
  if (options.lease_ttl_s < 1) {
    return absl::InvalidArgumentError("lease_ttl_s must be at least 1 second");
  }
  EtcdClientOptions copts;
  copts.endpoints = options.endpoints;
  copts.call_timeout = options.call_timeout;
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(std::move(copts));
  if (!client.ok()) return client.status();
  std::unique_ptr<EtcdMembership> m(new EtcdMembership(std::move(options), std::move(*client)));
  EtcdMembership* self = m.get();
  EtcdPrefixWatcher::Callbacks callbacks;
  callbacks.on_change = [self](const EtcdPrefixWatcher::Mirror& mirror, int64_t revision) {
    self->OnChange(mirror, revision);
  };
  callbacks.on_contact = [self] { self->OnContact(); };
  callbacks.log = [self](const std::string& line) { self->Log(line); };
  m->watcher_ = std::make_unique<EtcdPrefixWatcher>(
      m->client_.get(), m->prefix_, std::move(callbacks), m->options_.retry_interval);
  absl::Status first = m->watcher_->WaitForSnapshot(m->options_.start_timeout);
  if (!first.ok()) {
    return absl::UnavailableError(absl::StrCat("cluster ", m->options_.cluster,
                                               ": no etcd answered at ",
                                               m->client_->EndpointsForMessages(), " within ",
                                               absl::FormatDuration(m->options_.start_timeout)));
  }
  m->keepalive_thread_ = std::thread([self] { self->KeepAliveLoop(); });
  return m;
}

EtcdMembership::EtcdMembership(EtcdMembershipOptions options, std::unique_ptr<EtcdClient> client)
    : options_(std::move(options)),
      prefix_(EtcdNodesPrefix(options_.cluster)),
      keepalive_interval_(options_.keepalive_interval > absl::ZeroDuration()
                              ? options_.keepalive_interval
                              : absl::Seconds(options_.lease_ttl_s) / 3),
      client_(std::move(client)) {
  auto view = std::make_shared<ClusterView>();
  view->source = ViewSource::kEtcd;
  view->cluster = options_.cluster;
  view_ = std::move(view);
}

EtcdMembership::~EtcdMembership() {
  {
    absl::MutexLock lock(&reg_mu_);
    stopping_ = true;
  }
  if (keepalive_thread_.joinable()) keepalive_thread_.join();
  if (watcher_ != nullptr) watcher_->Stop();
}

void EtcdMembership::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "strata etcd: %s\n", line.c_str());
  }
}

std::shared_ptr<const ClusterView> EtcdMembership::View() const {
  absl::MutexLock lock(&view_mu_);
  return view_;
}

void EtcdMembership::Subscribe(Listener fn) {
  absl::MutexLock lock(&view_mu_);
  listeners_.push_back(std::move(fn));
}

void EtcdMembership::OnChange(const EtcdPrefixWatcher::Mirror& mirror, int64_t revision) {
  auto view = std::make_shared<ClusterView>();
  view->source = ViewSource::kEtcd;
  view->cluster = options_.cluster;
  view->revision = revision;
  view->confirmed_unix_ms = NowUnixMs();
  for (const auto& [key, kv] : mirror) {
    const std::string id = key.substr(prefix_.size());
    absl::StatusOr<NodeRecord> record = NodeRecord::FromJson(kv.value);
    if (!record.ok()) {
      Log(absl::StrCat("skipping the record at ", key, " (revision ", kv.mod_revision,
                       "): ", record.status().message()));
      continue;
    }
    if (record->id != id) {
      Log(absl::StrCat("skipping the record at ", key, ": its id is '", record->id, "'"));
      continue;
    }
    view->nodes.push_back(*std::move(record));
  }
  std::sort(view->nodes.begin(), view->nodes.end(),
            [](const NodeRecord& a, const NodeRecord& b) { return a.id < b.id; });
  std::shared_ptr<const ClusterView> published = std::move(view);
  std::vector<Listener> listeners;
  {
    absl::MutexLock lock(&view_mu_);
    view_ = published;
    listeners = listeners_;
  }
  for (const Listener& fn : listeners) fn(published);
}

void EtcdMembership::OnContact() {
  absl::MutexLock lock(&view_mu_);
  auto fresher = std::make_shared<ClusterView>(*view_);
  fresher->confirmed_unix_ms = NowUnixMs();
  view_ = std::move(fresher);
}

absl::StatusOr<int64_t> EtcdMembership::Claim(const NodeRecord& record, int64_t previous) {
  absl::StatusOr<int64_t> lease = client_->LeaseGrant(options_.lease_ttl_s);
  if (!lease.ok()) return lease.status();
  const std::string key = EtcdNodeKey(options_.cluster, record.id);
  const std::string json = record.ToJson();
  auto drop_new_lease = [&] {
    // Best effort, on purpose: an unrevoked lease only expires by itself after lease_ttl_s.
    (void)client_->LeaseRevoke(*lease);
  };
  absl::StatusOr<EtcdClient::TxnResult> r =
      client_->PutIf(key, EtcdClient::CompareTarget::kCreateRevision, 0, json, *lease);
  if (!r.ok()) {
    drop_new_lease();
    return r.status();
  }
  if (r->succeeded) return *lease;
  if (previous != 0 && r->current.has_value() && r->current->lease == previous) {
    r = client_->PutIf(key, EtcdClient::CompareTarget::kLease, previous, json, *lease);
    if (!r.ok()) {
      drop_new_lease();
      return r.status();
    }
    if (r->succeeded) {
      (void)client_->LeaseRevoke(previous);  // best effort: the old lease holds nothing now
      return *lease;
    }
  }
  drop_new_lease();
  std::string holder;
  if (r->current.has_value()) {
    absl::StatusOr<NodeRecord> other = NodeRecord::FromJson(r->current->value);
    holder = absl::StrCat(" (lease ", r->current->lease,
                          other.ok() ? absl::StrCat(", address ", other->address) : "", ")");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("node id '", record.id, "' is already registered in cluster ", options_.cluster,
                   " by a live node", holder, "; if that node is gone its record expires within ",
                   options_.lease_ttl_s, " s"));
}

absl::Status EtcdMembership::Register(const NodeRecord& self) {
  absl::Status valid = ValidateRecord(self);
  if (!valid.ok()) return valid;
  absl::MutexLock lock(&reg_mu_);
  if (registered_) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", self_.id, " is already registered; use Update"));
  }
  NodeRecord record = self;
  record.heartbeat_unix_ms = NowUnixMs();
  if (record.started_unix_ms == 0) record.started_unix_ms = record.heartbeat_unix_ms;
  absl::StatusOr<int64_t> lease = Claim(record, lost_lease_);
  if (!lease.ok()) return lease.status();
  registered_ = true;
  taken_over_ = false;
  dirty_ = false;
  self_ = std::move(record);
  lease_ = *lease;
  lost_lease_ = 0;
  return absl::OkStatus();
}

absl::Status EtcdMembership::Update(const NodeRecord& self) {
  absl::Status valid = ValidateRecord(self);
  if (!valid.ok()) return valid;
  absl::MutexLock lock(&reg_mu_);
  if (!registered_) return absl::FailedPreconditionError("Update before Register");
  if (self.id != self_.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("Update: id '", self.id, "' is not the registered id '", self_.id, "'"));
  }
  const uint64_t started = self_.started_unix_ms;
  self_ = self;
  self_.heartbeat_unix_ms = NowUnixMs();
  if (self_.started_unix_ms == 0) self_.started_unix_ms = started;
  if (lease_ != 0) {
    absl::StatusOr<EtcdClient::TxnResult> r =
        client_->PutIf(EtcdNodeKey(options_.cluster, self_.id), EtcdClient::CompareTarget::kLease,
                       lease_, self_.ToJson(), lease_);
    if (!r.ok()) {
      dirty_ = true;  // the keep-alive thread writes it once etcd answers
      return r.status();
    }
    if (r->succeeded) {
      dirty_ = false;
      return absl::OkStatus();
    }
    // The key is gone (our lease expired and etcd deleted it) or another node holds it.
    lost_lease_ = lease_;
    lease_ = 0;
  }
  absl::StatusOr<int64_t> lease = Claim(self_, lost_lease_);
  if (!lease.ok()) {
    if (absl::IsFailedPrecondition(lease.status())) taken_over_ = true;
    return lease.status();
  }
  Log(absl::StrCat("node ", self_.id, ": record re-registered under a new lease"));
  dirty_ = false;
  lease_ = *lease;
  lost_lease_ = 0;
  taken_over_ = false;
  ++reregistrations_;
  return absl::OkStatus();
}

absl::Status EtcdMembership::Deregister() {
  absl::MutexLock lock(&reg_mu_);
  if (!registered_) return absl::FailedPreconditionError("Deregister before Register");
  registered_ = false;
  const int64_t lease = lease_;
  lease_ = 0;
  lost_lease_ = 0;
  if (lease == 0) return absl::OkStatus();  // the record already went with the lost lease
  absl::StatusOr<bool> deleted =
      client_->DeleteIfLease(EtcdNodeKey(options_.cluster, self_.id), lease);
  if (!deleted.ok()) return deleted.status();
  absl::Status revoked = client_->LeaseRevoke(lease);
  if (!revoked.ok() && !absl::IsNotFound(revoked)) return revoked;
  return absl::OkStatus();
}

int64_t EtcdMembership::TEST_lease() const {
  absl::MutexLock lock(&reg_mu_);
  return lease_;
}

int64_t EtcdMembership::reregistrations() const {
  absl::MutexLock lock(&reg_mu_);
  return reregistrations_;
}

void EtcdMembership::KeepAliveLoop() {
  bool failing = false;  // log the first failure of a run, and the recovery
  absl::MutexLock lock(&reg_mu_);
  while (true) {
    reg_mu_.AwaitWithTimeout(absl::Condition(&stopping_), keepalive_interval_);
    if (stopping_) return;
    absl::Status contact;
    if (!registered_) {
      contact = client_->Range(prefix_, "", /*count_only=*/true).status();
    } else if (lease_ != 0) {
      contact = client_->LeaseKeepAliveOnce(lease_).status();
      if (absl::IsNotFound(contact)) {
        Log(absl::StrCat("node ", self_.id, ": lease ", lease_,
                         " expired while etcd was out of reach; re-registering"));
        lost_lease_ = lease_;
        lease_ = 0;
        contact = absl::OkStatus();  // etcd did answer
      } else if (contact.ok() && dirty_) {
        // An Update failed while etcd was away: write the latest record now.
        absl::StatusOr<EtcdClient::TxnResult> r =
            client_->PutIf(EtcdNodeKey(options_.cluster, self_.id),
                           EtcdClient::CompareTarget::kLease, lease_, self_.ToJson(), lease_);
        if (r.ok() && r->succeeded) {
          dirty_ = false;
        } else if (r.ok()) {
          lost_lease_ = lease_;  // the key went away under our lease: claim it again below
          lease_ = 0;
        }
      }
    }
    if (registered_ && lease_ == 0) {
      self_.heartbeat_unix_ms = NowUnixMs();
      absl::StatusOr<int64_t> lease = Claim(self_, lost_lease_);
      if (lease.ok()) {
        Log(absl::StrCat("node ", self_.id, ": record re-registered under lease ", *lease));
        lease_ = *lease;
        lost_lease_ = 0;
        taken_over_ = false;
        dirty_ = false;
        ++reregistrations_;
      } else if (absl::IsFailedPrecondition(lease.status())) {
        if (!taken_over_) Log(std::string(lease.status().message()));
        taken_over_ = true;
        contact = absl::OkStatus();
      } else {
        contact = lease.status();
      }
    }
    if (contact.ok()) {
      if (failing) Log("etcd answers again");
      failing = false;
      OnContact();
    } else {
      if (!failing)
        Log(absl::StrCat("etcd unreachable, serving the last view: ", contact.message()));
      failing = true;
    }
  }
}

}  // namespace strata::cluster
