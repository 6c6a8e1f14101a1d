#include "cluster/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/etcd.grpc.pb.h"

namespace strata::cluster {

// One endpoint's channel and stubs. Replaced as a whole (see Endpoint::Reconnect), so a caller
// holds a shared_ptr to the one it started with.
struct EtcdConn {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

struct EtcdClient::Endpoint {
  std::string url;     // as given
  std::string target;  // HOST:PORT for gRPC

  std::shared_ptr<EtcdConn> Get() {
    absl::MutexLock lock(&mu);
    if (conn == nullptr) conn = Connect();
    return conn;
  }

  // After a failed call: a channel that is not READY is replaced by a fresh one, at most once a
  // second. Seen with etcd 3.4 after a restart: a channel that retried while etcd was down
  // could stay stuck in a connection attempt that never got etcd's HTTP/2 SETTINGS, for many
  // seconds, while a new channel connected at once.
  void ReconnectIfStuck() {
    absl::MutexLock lock(&mu);
    if (conn != nullptr && conn->channel->GetState(false) == GRPC_CHANNEL_READY) return;
    const absl::Time now = absl::Now();
    if (now - last_connect < absl::Seconds(1)) return;
    conn = Connect();
    last_connect = now;
  }

 private:
  std::shared_ptr<EtcdConn> Connect() {
    grpc::ChannelArguments args;
    // Reconnect quickly once etcd is back: gRPC's default backoff grows to two minutes, far
    // longer than a lease. (The "min" backoff is gRPC's connect timeout; its default, 20 s,
    // is kept.)
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A silent peer (not a closed one) would otherwise hold the watch stream forever. etcd
    // refuses pings more often than every 5 s.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    // Each client its own connection, so one membership's failures are its own.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto c = std::make_shared<EtcdConn>();
    c->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    c->kv = etcdserverpb::KV::NewStub(c->channel);
    c->lease = etcdserverpb::Lease::NewStub(c->channel);
    c->watch = etcdserverpb::Watch::NewStub(c->channel);
    return c;
  }

  absl::Mutex mu;
  std::shared_ptr<EtcdConn> conn ABSL_GUARDED_BY(mu);
  absl::Time last_connect ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

namespace {

// The one place a grpc::Status becomes an absl::Status. The numeric codes agree; a deadline
// that passed means "etcd did not answer in time", which for the caller is UNAVAILABLE.
absl::Status FromGrpc(const grpc::Status& s, const char* what, const std::string& url) {
  if (s.ok()) return absl::OkStatus();
  absl::StatusCode code = static_cast<absl::StatusCode>(s.error_code());
  if (code == absl::StatusCode::kDeadlineExceeded) code = absl::StatusCode::kUnavailable;
  return absl::Status(code, absl::StrCat("etcd ", what, " at ", url, ": ", s.error_message()));
}

bool TryNextEndpoint(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

EtcdKeyValue FromProto(const mvccpb::KeyValue& kv) {
  EtcdKeyValue out;
  out.key = kv.key();
  out.value = kv.value();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  out.version = kv.version();
  out.lease = kv.lease();
  return out;
}

absl::StatusOr<std::string> TargetOf(const std::string& url) {
  std::string t = url;
  if (absl::StartsWith(t, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd: ", url, ": TLS endpoints are not supported yet; use http://"));
  }
  if (absl::StartsWith(t, "http://")) t = t.substr(7);
  while (!t.empty() && t.back() == '/') t.pop_back();
  const size_t colon = t.rfind(':');
  const std::string port = colon == std::string::npos ? "" : t.substr(colon + 1);
  const bool numeric_port = !port.empty() && port.size() <= 5 &&
                            port.find_first_not_of("0123456789") == std::string::npos;
  if (t.find('/') != std::string::npos || colon == 0 || !numeric_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd: ", url, ": expected http://HOST:PORT or HOST:PORT"));
  }
  return t;
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

}  // namespace

std::string EtcdPrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::vector<std::string> SplitEtcdEndpoints(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view piece : absl::StrSplit(list, ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (!piece.empty()) out.emplace_back(piece);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd: at least one endpoint is required");
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd call_timeout must be positive");
  }
  std::vector<std::unique_ptr<Endpoint>> eps;
  for (const std::string& url : options.endpoints) {
    absl::StatusOr<std::string> target = TargetOf(url);
    if (!target.ok()) return target.status();
    auto ep = std::make_unique<Endpoint>();
    ep->url = url;
    ep->target = *target;
    eps.push_back(std::move(ep));
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(options), std::move(eps)));
}

EtcdClient::EtcdClient(EtcdClientOptions options, std::vector<std::unique_ptr<Endpoint>> eps)
    : options_(std::move(options)), endpoints_(std::move(eps)) {}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::EndpointsForMessages() const {
  return absl::StrJoin(options_.endpoints, ",");
}

template <typename Call>
absl::Status EtcdClient::WithFailover(const char* what, Call&& call) {
  const size_t n = endpoints_.size();
  const size_t first = preferred_.load() % n;
  absl::Status last;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (first + i) % n;
    Endpoint& ep = *endpoints_[idx];
    std::shared_ptr<EtcdConn> conn = ep.Get();
    grpc::ClientContext context;
    context.set_deadline(DeadlineAfter(options_.call_timeout));
    grpc::Status s = call(*conn, context);
    if (s.ok()) {
      preferred_.store(idx);
      return absl::OkStatus();
    }
    last = FromGrpc(s, what, ep.url);
    if (!TryNextEndpoint(s)) return last;
    ep.ReconnectIfStuck();
  }
  if (n > 1) {
    return absl::UnavailableError(absl::StrCat("etcd ", what, ": no endpoint answered (",
                                               EndpointsForMessages(),
                                               "); last: ", last.message()));
  }
  return last;
}

absl::StatusOr<EtcdRangeResult> EtcdClient::Range(const std::string& key,
                                                  const std::string& range_end, bool count_only) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  req.set_count_only(count_only);
  etcdserverpb::RangeResponse resp;
  absl::Status s = WithFailover("Range", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    return ep.kv->Range(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  EtcdRangeResult out;
  out.revision = resp.header().revision();
  out.kvs.reserve(static_cast<size_t>(resp.kvs_size()));
  for (const mvccpb::KeyValue& kv : resp.kvs()) out.kvs.push_back(FromProto(kv));
  return out;
}

absl::StatusOr<int64_t> EtcdClient::Put(const std::string& key, const std::string& value,
                                        int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  etcdserverpb::PutResponse resp;
  absl::Status s = WithFailover(
      "Put", [&](EtcdConn& ep, grpc::ClientContext& ctx) { return ep.kv->Put(&ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp.header().revision();
}

absl::StatusOr<int64_t> EtcdClient::DeleteRange(const std::string& key,
                                                const std::string& range_end) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  etcdserverpb::DeleteRangeResponse resp;
  absl::Status s = WithFailover("DeleteRange", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    return ep.kv->DeleteRange(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.deleted();
}

absl::StatusOr<EtcdClient::TxnResult> EtcdClient::PutIf(const std::string& key,
                                                        CompareTarget target, int64_t expected,
                                                        const std::string& value, int64_t lease) {
  etcdserverpb::TxnRequest req;
  etcdserverpb::Compare* c = req.add_compare();
  c->set_key(key);
  c->set_result(etcdserverpb::Compare::EQUAL);
  if (target == CompareTarget::kCreateRevision) {
    c->set_target(etcdserverpb::Compare::CREATE);
    c->set_create_revision(expected);
  } else {
    c->set_target(etcdserverpb::Compare::LEASE);
    c->set_lease(expected);
  }
  etcdserverpb::PutRequest* put = req.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  req.add_failure()->mutable_request_range()->set_key(key);
  etcdserverpb::TxnResponse resp;
  absl::Status s = WithFailover(
      "Txn", [&](EtcdConn& ep, grpc::ClientContext& ctx) { return ep.kv->Txn(&ctx, req, &resp); });
  if (!s.ok()) return s;
  TxnResult out;
  out.succeeded = resp.succeeded();
  out.revision = resp.header().revision();
  if (!out.succeeded && resp.responses_size() > 0 && resp.responses(0).has_response_range() &&
      resp.responses(0).response_range().kvs_size() > 0) {
    out.current = FromProto(resp.responses(0).response_range().kvs(0));
  }
  return out;
}

absl::StatusOr<bool> EtcdClient::DeleteIfLease(const std::string& key, int64_t lease) {
  etcdserverpb::TxnRequest req;
  etcdserverpb::Compare* c = req.add_compare();
  c->set_key(key);
  c->set_result(etcdserverpb::Compare::EQUAL);
  c->set_target(etcdserverpb::Compare::LEASE);
  c->set_lease(lease);
  req.add_success()->mutable_request_delete_range()->set_key(key);
  etcdserverpb::TxnResponse resp;
  absl::Status s = WithFailover(
      "Txn", [&](EtcdConn& ep, grpc::ClientContext& ctx) { return ep.kv->Txn(&ctx, req, &resp); });
  if (!s.ok()) return s;
  return resp.succeeded();
}

absl::Status EtcdClient::Compact(int64_t revision) {
  etcdserverpb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  etcdserverpb::CompactionResponse resp;
  return WithFailover("Compact", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    return ep.kv->Compact(&ctx, req, &resp);
  });
}

absl::StatusOr<int64_t> EtcdClient::LeaseGrant(int64_t ttl_s) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_s);
  etcdserverpb::LeaseGrantResponse resp;
  absl::Status s = WithFailover("LeaseGrant", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    return ep.lease->LeaseGrant(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  if (!resp.error().empty() || resp.id() == 0) {
    return absl::UnavailableError(absl::StrCat("etcd LeaseGrant: ", resp.error()));
  }
  return resp.id();
}

absl::Status EtcdClient::LeaseRevoke(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseRevokeResponse resp;
  return WithFailover("LeaseRevoke", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    return ep.lease->LeaseRevoke(&ctx, req, &resp);
  });
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease) {
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseKeepAliveResponse resp;
  bool answered = false;
  absl::Status s = WithFailover("LeaseKeepAlive", [&](EtcdConn& ep, grpc::ClientContext& ctx) {
    auto stream = ep.lease->LeaseKeepAlive(&ctx);
    answered = stream->Write(req) && stream->Read(&resp);
    stream->WritesDone();
    etcdserverpb::LeaseKeepAliveResponse extra;
    while (stream->Read(&extra)) {
    }
    grpc::Status st = stream->Finish();
    if (st.ok() && !answered) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream closed unanswered");
    }
    return st;
  });
  if (!s.ok()) return s;
  if (resp.ttl() <= 0) {
    return absl::NotFoundError(absl::StrCat("etcd lease ", lease, " has expired or was revoked"));
  }
  return resp.ttl();
}

// ---- EtcdPrefixWatcher ----

EtcdPrefixWatcher::EtcdPrefixWatcher(EtcdClient* client, std::string prefix, Callbacks callbacks,
                                     absl::Duration retry_interval)
    : client_(client),
      prefix_(std::move(prefix)),
      prefix_end_(EtcdPrefixEnd(prefix_)),
      callbacks_(std::move(callbacks)),
      retry_interval_(retry_interval),
      thread_([this] { Run(); }) {}

EtcdPrefixWatcher::~EtcdPrefixWatcher() { Stop(); }

void EtcdPrefixWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status EtcdPrefixWatcher::WaitForSnapshot(absl::Duration timeout) {
  if (first_snapshot_.WaitForNotificationWithTimeout(timeout)) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("etcd at ", client_->EndpointsForMessages(),
                                             " did not answer within ",
                                             absl::FormatDuration(timeout)));
}

bool EtcdPrefixWatcher::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void EtcdPrefixWatcher::SleepUnlessStopping(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
}

absl::StatusOr<int64_t> EtcdPrefixWatcher::Snapshot() {
  absl::StatusOr<EtcdRangeResult> r = client_->Range(prefix_, prefix_end_);
  if (!r.ok()) return r.status();
  mirror_.clear();
  for (EtcdKeyValue& kv : r->kvs) {
    std::string key = kv.key;
    mirror_.emplace(std::move(key), std::move(kv));
  }
  return r->revision;
}

void EtcdPrefixWatcher::Run() {
  auto log = [this](const std::string& line) {
    if (callbacks_.log) callbacks_.log(line);
  };
  int64_t applied = 0;
  bool need_snapshot = true;
  bool failing = false;  // log the first failure of a run of them, and the recovery
  while (!Stopping()) {
    if (need_snapshot) {
      absl::StatusOr<int64_t> rev = Snapshot();
      if (!rev.ok()) {
        if (!failing) log(absl::StrCat("watch ", prefix_, ": ", rev.status().message()));
        failing = true;
        SleepUnlessStopping(retry_interval_);
        continue;
      }
      if (failing) log(absl::StrCat("watch ", prefix_, ": etcd answers again; resynced"));
      failing = false;
      applied = *rev;
      need_snapshot = false;
      if (first_snapshot_.HasBeenNotified()) resyncs_.fetch_add(1);
      if (callbacks_.on_contact) callbacks_.on_contact();
      if (callbacks_.on_change) callbacks_.on_change(mirror_, applied);
      if (!first_snapshot_.HasBeenNotified()) first_snapshot_.Notify();
    }
    absl::Status s = WatchFrom(applied + 1, &applied);
    if (Stopping()) break;
    if (absl::IsOutOfRange(s)) {
      log(absl::StrCat("watch ", prefix_, ": ", s.message(), "; resyncing with a fresh Range"));
      need_snapshot = true;
      continue;
    }
    reconnects_.fetch_add(1);
    if (!failing) {
      log(absl::StrCat("watch ", prefix_, ": stream lost (", s.message(), "); reconnecting"));
    }
    failing = true;
    SleepUnlessStopping(retry_interval_);
  }
}

absl::Status EtcdPrefixWatcher::WatchFrom(int64_t start_revision, int64_t* applied) {
  const size_t n = client_->endpoints_.size();
  const size_t idx = client_->preferred_.load() % n;
  EtcdClient::Endpoint& ep = *client_->endpoints_[idx];
  std::shared_ptr<EtcdConn> conn = ep.Get();
  grpc::ClientContext context;  // no deadline: the stream lives as long as the watch
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    stream_context_ = &context;
  }
  auto stream = conn->watch->Watch(&context);
  etcdserverpb::WatchRequest req;
  etcdserverpb::WatchCreateRequest* create = req.mutable_create_request();
  create->set_key(prefix_);
  create->set_range_end(prefix_end_);
  create->set_start_revision(start_revision);
  absl::Status result;
  bool answered = false;
  if (stream->Write(req)) {
    etcdserverpb::WatchResponse resp;
    while (stream->Read(&resp)) {
      if (!answered) {
        answered = true;
        if (n > 1) client_->preferred_.store(idx);
      }
      if (callbacks_.on_contact) callbacks_.on_contact();
      if (resp.created() && resp.header().revision() < start_revision - 1) {
        // The store is behind what we applied: etcd lost its data or another cluster answers
        // at this URL. A watch from our revision would wait for a future that means nothing.
        result = absl::OutOfRangeError(
            absl::StrCat("etcd's revision went back from ", start_revision - 1, " to ",
                         resp.header().revision(), " (a new etcd data directory?)"));
        break;
      }
      if (resp.compact_revision() != 0) {
        result = absl::OutOfRangeError(absl::StrCat("revision ", start_revision,
                                                    " was compacted (oldest left ",
                                                    resp.compact_revision(), ")"));
        break;
      }
      if (resp.canceled()) {
        result =
            absl::OutOfRangeError(absl::StrCat("watch canceled by etcd: ", resp.cancel_reason()));
        break;
      }
      if (resp.events_size() == 0) continue;
      for (const mvccpb::Event& ev : resp.events()) {
        if (ev.type() == mvccpb::Event::DELETE) {
          mirror_.erase(ev.kv().key());
        } else {
          mirror_[ev.kv().key()] = FromProto(ev.kv());
        }
        *applied = std::max(*applied, ev.kv().mod_revision());
      }
      if (callbacks_.on_change) callbacks_.on_change(mirror_, *applied);
    }
  }
  context.TryCancel();  // ends the stream whether or not etcd closed it
  grpc::Status st = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    stream_context_ = nullptr;
  }
  if (!result.ok()) return result;
  if (!answered && n > 1) {
    // This endpoint did not even create the watch: let the next attempt try another one.
    size_t expected = idx;
    client_->preferred_.compare_exchange_strong(expected, (idx + 1) % n);
  }
  ep.ReconnectIfStuck();
  absl::Status lost = FromGrpc(st, "Watch", ep.url);
  if (lost.ok()) lost = absl::UnavailableError(absl::StrCat("etcd Watch at ", ep.url, ": closed"));
  return absl::UnavailableError(lost.message());
}

}  // namespace strata::cluster
