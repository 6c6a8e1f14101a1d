#include "cachenode/node.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cachenode/drain.h"
#include "common/net.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/units.h"
#include "storage/device_memory.h"
#include "storage/dram_tier.h"
#include "storage/eviction_policy.h"
#include "storage/hbm_tier.h"
#include "storage/ssd_tier.h"

namespace strata {
namespace {

// INVALID_ARGUMENT naming the flag and the file when it cannot be read: the operator gave it.
absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return absl::FailedPreconditionError(absl::StrCat("--port-file: cannot write ", tmp));
    out << port << "\n";
    if (!out.flush())
      return absl::FailedPreconditionError(absl::StrCat("--port-file: write failed"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic: readers never see a partial file
  if (ec) return absl::FailedPreconditionError(absl::StrCat("--port-file: ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const NodeOptions& o) {
  if (o.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      o.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  STRATA_ASSIGN_OR_RETURN(std::string cert, ReadFile(o.tls_cert, "--tls-cert"));
  STRATA_ASSIGN_OR_RETURN(std::string key, ReadFile(o.tls_key, "--tls-key"));
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!o.tls_client_ca.empty()) {
    STRATA_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(o.tls_client_ca, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  STRATA_RETURN_IF_ERROR(options.Validate());
  // Before the tiers open (SSD recovery takes a while): an unreadable key fails fast.
  STRATA_ASSIGN_OR_RETURN(auto creds, Credentials(options));
  std::unique_ptr<Node> node(new Node(options));
  // A token file that does not load refuses the start, naming the file and the entry.
  if (!options.auth_tokens.empty()) {
    STRATA_ASSIGN_OR_RETURN(node->auth_, Authenticator::Open(options.auth_tokens));
  }
  PeerCredentials peer;
  if (!options.peer_token_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(peer.token, ReadFile(options.peer_token_file, "--peer-token-file"));
    while (!peer.token.empty() && std::isspace(static_cast<unsigned char>(peer.token.back()))) {
      peer.token.pop_back();
    }
    if (peer.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--peer-token-file: ", options.peer_token_file, " is empty"));
    }
  }
  if (!options.peer_tls_ca.empty()) {
    STRATA_ASSIGN_OR_RETURN(peer.tls_ca_pem, ReadFile(options.peer_tls_ca, "--peer-tls-ca"));
  }
  std::string host;
  int port = 0;
  STRATA_RETURN_IF_ERROR(SplitHostPort(options.listen, "--listen", &host, &port));

  // Tiers, fastest first.
  std::vector<std::unique_ptr<Tier>> tiers;
  std::vector<std::string> policies, codecs;
  if (options.hbm_bytes > 0) {
    // On a node without a CUDA device the tier is reported off, not an error: it runs without.
    absl::StatusOr<std::unique_ptr<DeviceMemory>> device = NewCudaDeviceMemory(0);
    if (device.ok()) {
      STRATA_ASSIGN_OR_RETURN(
          auto hbm, HbmTier::Create({.capacity_bytes = options.hbm_bytes}, *std::move(device)));
      tiers.push_back(std::move(hbm));
      policies.push_back(kRecommendedEvictionPolicy);
      codecs.push_back("raw");
    } else {
      node->absent_.push_back({"hbm", absl::StrCat("requested ", FormatSize(options.hbm_bytes),
                                                   " but ", device.status().message())});
    }
  } else {
    node->absent_.push_back({"hbm", "--hbm 0"});
  }
  STRATA_ASSIGN_OR_RETURN(auto dram, DramTier::Create({.capacity_bytes = options.dram_bytes,
                                                       .page_bytes = options.dram_page_bytes}));
  const DramRegion& pool = dram->region();
  tiers.push_back(std::move(dram));
  policies.push_back(options.dram.policy);
  codecs.push_back(options.dram.codec);
  if (options.ssd_bytes > 0) {
    std::error_code ec;
    std::filesystem::create_directories(options.ssd_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("--ssd-dir: cannot create ", options.ssd_dir, ": ", ec.message()));
    }
    STRATA_ASSIGN_OR_RETURN(
        auto ssd, SsdTier::Open({.dir = options.ssd_dir, .capacity_bytes = options.ssd_bytes}));
    tiers.push_back(std::move(ssd));
    policies.push_back(options.ssd.policy);
    codecs.push_back(options.ssd.codec);
  } else {
    node->absent_.push_back({"ssd", "--ssd 0"});
  }
  TieredStoreOptions so;
  // The store applies one watermark pair to every tier; DRAM's are the ones that matter for
  // demotion, and the SSD tier (the last) only drops at its hard bound.
  so.high_watermark = options.dram.high_watermark;
  so.low_watermark = options.dram.low_watermark;
  so.shards = options.index_shards;
  so.policies = policies;
  so.tier_codecs = codecs;
  for (const auto& nc : options.namespace_codecs) {
    for (size_t t = 0; t < tiers.size(); ++t) {
      if (tiers[t]->name() == nc.tier) so.namespace_codecs.push_back({nc.prefix, t, nc.codec});
    }
  }
  so.promote_on_hit = options.promote_on_hit;
  so.max_lease_ms = options.max_lease_ms;
  so.max_leased_bytes = options.max_leased_bytes;
  so.track_shares = !options.quotas.empty();
  STRATA_ASSIGN_OR_RETURN(node->store_, TieredStore::Open(so, std::move(tiers)));
  // A quota file that does not load refuses the start, naming the file and the entry.
  if (!options.quotas.empty()) {
    STRATA_ASSIGN_OR_RETURN(node->quotas_, Quotas::Open(options.quotas, node->store_.get()));
  }

  if (!options.pruned_views.empty()) {
    std::vector<PrunedViewRule> rules;
    for (size_t i = 0; i < options.pruned_views.size(); ++i) {
      STRATA_ASSIGN_OR_RETURN(ParsedPrunedView pv, ParsePrunedView(options.pruned_views[i], i));
      PrunedViewRule rule{.ns_prefix = pv.prefix,
                          .prune = pv.prune,
                          .budget_fraction = pv.budget_fraction,
                          .page_bounds = pv.page_bounds};
      auto tier_index = [&](const std::string& name, std::string_view field,
                            size_t* out) -> absl::Status {
        for (size_t t = 0; t < node->store_->tier_count(); ++t) {
          if (node->store_->tier(t).name() == name) {
            *out = t;
            return absl::OkStatus();
          }
        }
        return absl::InvalidArgumentError(absl::StrCat(
            "pruned_views[", i, "].", AsAbsl(field), ": the ", name, " tier is not on this node"));
      };
      STRATA_RETURN_IF_ERROR(tier_index(pv.view_tier, "view_tier", &rule.view_tier));
      STRATA_RETURN_IF_ERROR(tier_index(pv.full_tier, "full_tier", &rule.full_tier));
      rules.push_back(std::move(rule));
    }
    STRATA_ASSIGN_OR_RETURN(PrunedViews views,
                            PrunedViews::Create(node->store_.get(), std::move(rules)));
    node->pruned_views_ = std::make_unique<PrunedViews>(std::move(views));
  }

  node->core_ = std::make_unique<NodeCore>(node->store_.get(), options, node->absent_);
  node->core_->SetQuotas(node->quotas_.get());
  node->core_->SetPrunedViews(node->pruned_views_.get());
  // The data plane is an accelerator: without it (UCX unusable here) clients use Get and Put.
  if (!options.data_plane.enabled) {
    node->data_plane_detail_ = "off (data_plane.enabled: false)";
  } else if (!options.tls_cert.empty() && !options.data_plane.allow_plaintext) {
    // UCX does not encrypt: with TLS on gRPC, block bytes would cross the network in the clear.
    node->data_plane_detail_ =
        "off (gRPC uses TLS and the UCX data plane cannot encrypt; data_plane.allow_plaintext: "
        "true runs it unencrypted anyway)";
  } else if (auto dp = DataPlane::Start(options.data_plane, node->store_.get(), pool,
                                        IsLoopbackHost(host));
             dp.ok()) {
    node->data_plane_ = *std::move(dp);
    node->data_plane_->set_authenticator(node->auth_.get());
    node->data_plane_detail_ = node->data_plane_->Describe();
    if (!options.tls_cert.empty()) {
      absl::StrAppend(&node->data_plane_detail_,
                      "; WARNING: not encrypted although gRPC uses TLS "
                      "(data_plane.allow_plaintext: true)");
    }
    node->core_->SetDataPlane(node->data_plane_.get(), node->data_plane_detail_);
    if (options.data_plane.messages) {
      node->message_calls_ = std::make_unique<MessageCalls>(
          node->core_.get(), node->data_plane_.get(), options.data_plane.call_threads);
    }
  } else {
    node->data_plane_detail_ = absl::StrCat("off (", dp.status().message(), ")");
  }
  if (!node->data_plane_) node->core_->SetDataPlane(nullptr, node->data_plane_detail_);
  NodeCore* core = node->core_.get();
  // Each server generation gets fresh services (grpc_server.h restarts a deaf one).
  const std::atomic<ClusterControl*>* cluster_control = &node->cluster_control_;
  const Authenticator* auth = node->auth_.get();
  auto make_services = [core, cluster_control, auth] {
    std::vector<std::unique_ptr<grpc::Service>> services;
    services.push_back(std::make_unique<CacheServiceImpl>(core, auth));
    services.push_back(std::make_unique<AdminServiceImpl>(core, cluster_control, auth));
    return services;
  };
  auto log = [](const std::string& line) {
    const std::string text = "strata-node: " + line + "\n";
    fwrite(text.data(), 1, text.size(), stderr);
  };
  STRATA_ASSIGN_OR_RETURN(node->grpc_, GrpcServer::Start(options, creds, make_services, log));
  node->port_ = node->grpc_->port();
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  node->address_ = absl::StrCat(shown_host, ":", node->port_);
  node->core_->SetIdentity(options.node_id, node->address_);

  std::string metrics = options.EffectiveMetricsListen();
  if (!metrics.empty()) {
    std::string mhost;
    int mport = 0;
    STRATA_RETURN_IF_ERROR(SplitHostPort(metrics, "--metrics-listen", &mhost, &mport));
    STRATA_ASSIGN_OR_RETURN(node->metrics_, MetricsServer::Start(mhost, mport, node->core_.get()));
  }
  if (!options.etcd.empty()) {
    ClusterAgentOptions ao;
    ao.cluster = options.cluster;
    ao.advertise = options.advertise.empty() ? node->address_ : options.advertise;
    ao.heartbeat_ms = options.cluster_tuning.heartbeat_ms;
    ao.drain.placement.default_replicas = options.cluster_tuning.replicas;
    if (!peer.token.empty() || !peer.tls_ca_pem.empty()) {
      ao.sink = std::make_shared<GrpcBlockSink>(30'000, 512ull << 20, peer);
    }
    // A drain with exit_when_done ends like SIGTERM: main() shuts the node down gracefully.
    ao.request_shutdown = [] { kill(getpid(), SIGTERM); };
    auto agent = JoinEtcdCluster(node->core_.get(), node->store_.get(), options.etcd,
                                 options.cluster_tuning.lease_ttl_s, std::move(ao));
    if (!agent.ok()) {
      return absl::Status(agent.status().code(),
                          absl::StrCat("--etcd/--cluster: cannot join cluster ", options.cluster,
                                       ": ", agent.status().message()));
    }
    node->agent_ = *std::move(agent);
    node->cluster_control_.store(node->agent_.get());
  }
  if (!options.port_file.empty())
    STRATA_RETURN_IF_ERROR(WritePortFile(options.port_file, node->port_));
  return node;
}

absl::StatusOr<size_t> Node::ReloadAuthTokens() {
  if (auth_ == nullptr) {
    return absl::FailedPreconditionError("no --auth-tokens file: nothing to reload");
  }
  return auth_->Reload();
}

absl::StatusOr<size_t> Node::ReloadQuotas() {
  if (quotas_ == nullptr) {
    return absl::FailedPreconditionError("no --quotas file: nothing to reload");
  }
  return quotas_->Reload();
}

Node::~Node() { (void)Shutdown(); }  // errors were reported by an explicit Shutdown(), if any

absl::Status Node::Shutdown() {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  // Leave the cluster first, so clients stop routing here now rather than when the lease ends.
  if (agent_) (void)agent_->Leave();  // on failure the lease expires on its own
  if (grpc_) {
    // Refuse new calls and let the ones in flight finish (bounded by the grace period), then
    // close every connection at once: gRPC's own Shutdown(deadline) would also wait out the
    // whole grace period for idle client connections.
    const int unfinished = core_->Drain(options_.shutdown_grace_ms);
    grpc_->Shutdown(unfinished > 0 ? 0 : 100);
  }
  cluster_control_.store(nullptr);
  agent_.reset();  // after the server: no Drain call is left to watch it
  metrics_.reset();
  message_calls_.reset();  // stops taking UCX message calls; those in flight finish
  data_plane_.reset();     // releases its pins before the store closes
  absl::Status flushed = store_ ? store_->Flush() : absl::OkStatus();
  store_.reset();  // closes RocksDB
  return flushed;
}

std::string Node::Summary() const {
  std::string s = absl::StrCat("strata-node 0.1.0 serving on ", address_, "\n");
  if (metrics_) {
    absl::StrAppend(
        &s, "  metrics   http://",
        options_.EffectiveMetricsListen().substr(0, options_.EffectiveMetricsListen().rfind(':')),
        ":", metrics_->port(), "/metrics\n");
  } else {
    absl::StrAppend(&s, "  metrics   off\n");
  }
  const StoreStats stats = store_->Stats();
  for (const AbsentTier& a : absent_) {
    absl::StrAppend(&s, "  tier ", a.name, "  off (", a.detail, ")\n");
  }
  for (const TierStats& t : stats.tiers) {
    absl::StrAppend(&s, "  tier ", t.name, "  ", FormatSize(t.capacity_bytes), ", policy ",
                    t.policy, ", codec ", t.codec, ", ", t.blocks, " blocks (",
                    FormatSize(t.used_bytes), ") held");
    if (t.name == "ssd") absl::StrAppend(&s, ", dir ", options_.ssd_dir);
    absl::StrAppend(&s, "\n");
  }
  if (stats.recovered_blocks > 0 || stats.recovery_dropped > 0) {
    absl::StrAppend(&s, "  recovered ", stats.recovered_blocks, " blocks from SSD (",
                    stats.recovery_dropped, " unreadable records dropped)\n");
  }
  absl::StrAppend(&s, "  data      ", data_plane_detail_, "\n");
  if (quotas_ != nullptr) {
    absl::StrAppend(&s, "  quotas    ", quotas_->current()->entries().size(), " from ",
                    quotas_->path(), " (SIGHUP re-reads it)\n");
  }
  if (auth_ != nullptr) {
    absl::StrAppend(&s, "  auth      ", auth_->current()->entries().size(), " tokens from ",
                    auth_->path(), " (SIGHUP re-reads it)\n");
  } else {
    absl::StrAppend(&s, "  auth      off (any caller may use every namespace)\n");
  }
  if (agent_) {
    absl::StrAppend(&s, "  cluster   ", options_.cluster, " via etcd ",
                    absl::StrJoin(options_.etcd, ","), ", advertised as ",
                    options_.advertise.empty() ? address_ : options_.advertise, "\n");
  }
  absl::StrAppend(&s, "  limits    batch ", options_.limits.max_batch, ", payload ",
                  FormatSize(options_.limits.max_payload_bytes), ", message ",
                  FormatSize(options_.EffectiveMaxMessageBytes()), ", in flight ",
                  FormatSize(options_.EffectiveInflightBytes()), "\n");
  return s;
}

}  // namespace strata
