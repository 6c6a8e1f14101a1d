#include "cachenode/options.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/units.h"
#include "common/validation.h"
#include "kernels/codec.h"
#include "storage/eviction_policy.h"

namespace strata {

absl::StatusOr<ParsedPrunedView> ParsePrunedView(const NodeOptions::PrunedView& pv, size_t i) {
  const std::string at = absl::StrCat("pruned_views[", i, "].");
  auto error = [&](std::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(at, AsAbsl(field), ": ", what));
  };
  ParsedPrunedView out;
  out.prefix = pv.prefix;
  if (!pv.prefix.empty()) {
    if (absl::Status st = ValidateNamespace(pv.prefix, "prefix"); !st.ok()) {
      return error("prefix", st.message());
    }
  }
  absl::StatusOr<PruneSelector> selector = ParsePruneSelector(pv.selector);
  if (!selector.ok()) {
    return error("selector",
                 absl::StrCat("'", pv.selector, "' (sink-window, scores-topk or keynorm)"));
  }
  out.prune.selector = *selector;
  std::string_view budget = pv.budget;
  if (!budget.empty() && budget.back() == '%') {
    budget.remove_suffix(1);
    double pct = 0;
    if (!absl::SimpleAtod(AsAbsl(budget), &pct) || !(pct > 0 && pct <= 100)) {
      return error("budget", absl::StrCat("'", pv.budget, "': a percentage must be in (0%, 100%]"));
    }
    out.budget_fraction = pct / 100.0;
  } else if (!absl::SimpleAtoi(AsAbsl(budget), &out.prune.budget_tokens) ||
             out.prune.budget_tokens < 1) {
    return error("budget", absl::StrCat("'", pv.budget, "': tokens >= 1 or a percentage (25%)"));
  }
  if (pv.shape == "constant") {
    out.prune.shape = BudgetShape::kConstant;
  } else if (pv.shape == "pyramid") {
    out.prune.shape = BudgetShape::kPyramid;
  } else {
    return error("shape", absl::StrCat("'", pv.shape, "' (constant or pyramid)"));
  }
  if (!(pv.beta >= 1.0)) return error("beta", "must be >= 1");
  out.prune.pyramid_beta = pv.beta;
  out.prune.sink_tokens = pv.sink_tokens;
  if (pv.pool_window < 1 || pv.pool_window % 2 == 0) return error("pool_window", "must be odd");
  out.prune.pool_window = pv.pool_window;
  const auto tier_rank = [](const std::string& t) {
    return t == "hbm" ? 0 : t == "dram" ? 1 : t == "ssd" ? 2 : -1;
  };
  if (tier_rank(pv.view_tier) < 0) {
    return error("view_tier", absl::StrCat("'", pv.view_tier, "' (hbm, dram or ssd)"));
  }
  if (tier_rank(pv.full_tier) < 0) {
    return error("full_tier", absl::StrCat("'", pv.full_tier, "' (hbm, dram or ssd)"));
  }
  if (tier_rank(pv.view_tier) >= tier_rank(pv.full_tier)) {
    return error("view_tier", absl::StrCat("'", pv.view_tier, "' must be faster than full_tier '",
                                           pv.full_tier, "'"));
  }
  out.view_tier = pv.view_tier;
  out.full_tier = pv.full_tier;
  out.page_bounds = pv.page_bounds;
  return out;
}

absl::Status SplitHostPort(const std::string& address, std::string_view field, std::string* host,
                           int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": '", address, "' is not HOST:PORT"));
  }
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(field), ": port of '", address, "' must be 0-65535"));
  }
  *host = h;
  *port = p;
  return absl::OkStatus();
}

std::string NodeOptions::EffectiveMetricsListen() const {
  if (metrics_listen == "off") return "";
  if (!metrics_listen.empty()) return metrics_listen;
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen, "listen", &host, &port).ok()) return "";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return absl::StrCat(host, ":", port == 0 ? 0 : port + 80);
}

uint64_t NodeOptions::EffectiveInflightBytes() const {
  if (inflight_bytes != 0) return inflight_bytes;
  const uint64_t by_dram =
      std::min(std::max(dram_bytes / 4, uint64_t{64} << 20), uint64_t{1} << 30);
  return std::max(by_dram, limits.max_payload_bytes + kMessageSlackBytes);
}

uint64_t NodeOptions::EffectiveMaxMessageBytes() const {
  return std::min(max_message_bytes, EffectiveInflightBytes());
}

absl::Status NodeOptions::Validate() const {
  std::string host;
  int port = 0;
  STRATA_RETURN_IF_ERROR(SplitHostPort(listen, "--listen", &host, &port));
  const std::string metrics = EffectiveMetricsListen();
  if (!metrics.empty())
    STRATA_RETURN_IF_ERROR(SplitHostPort(metrics, "--metrics-listen", &host, &port));
  if (dram_bytes < dram_page_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dram: ", dram_bytes, " bytes is less than one page (", dram_page_bytes, ")"));
  }
  if (ssd_bytes > 0 && ssd_dir.empty()) {
    return absl::InvalidArgumentError("--ssd-dir: must be set when the SSD tier is on");
  }
  for (const auto& [name, t] :
       {std::pair<const char*, const TierOptions*>{"dram", &dram}, {"ssd", &ssd}}) {
    STRATA_RETURN_IF_ERROR(MakeEvictionPolicy(t->policy).status());
    const Codec* codec = FindCodec(t->codec);
    if (codec == nullptr || !codec->lossless()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tiers.", name, ".codec: '", t->codec,
          codec == nullptr ? "' is not a codec" : "' is lossy; use namespace_codecs to opt in"));
    }
    if (!(t->low_watermark > 0 && t->low_watermark <= t->high_watermark &&
          t->high_watermark <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tiers.", name, ": watermarks must satisfy 0 < low_watermark <= high_watermark <= 1"));
    }
  }
  for (size_t i = 0; i < namespace_codecs.size(); ++i) {
    const auto& nc = namespace_codecs[i];
    if (nc.tier != "dram" && nc.tier != "ssd") {
      return absl::InvalidArgumentError(
          absl::StrCat("namespace_codecs[", i, "].tier: '", nc.tier, "' (dram or ssd)"));
    }
    STRATA_RETURN_IF_ERROR(GetCodec(nc.codec).status());
  }
  for (size_t i = 0; i < pruned_views.size(); ++i) {
    STRATA_RETURN_IF_ERROR(ParsePrunedView(pruned_views[i], i).status());
  }
  if (limits.max_batch == 0) return absl::InvalidArgumentError("limits.max_batch: must be > 0");
  if (limits.max_payload_bytes == 0) {
    return absl::InvalidArgumentError("limits.max_payload: must be > 0");
  }
  if (limits.max_key_bytes == 0 || limits.max_key_bytes > kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_key_bytes: must be 1-", kMaxKeyBytes));
  }
  if (max_message_bytes < limits.max_payload_bytes + kMessageSlackBytes ||
      max_message_bytes > (2ull << 30) - 1) {
    return absl::InvalidArgumentError(
        "limits.max_message: must hold one maximal payload and stay below 2 GiB");
  }
  if (inflight_bytes != 0 && inflight_bytes < limits.max_payload_bytes + kMessageSlackBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.inflight_bytes (--max-inflight): ", FormatSize(inflight_bytes),
                     " cannot hold one maximal payload (limits.max_payload + ", kMessageSlackBytes, " bytes)"));
  }
  if (handshake_timeout_ms == 0 || max_connection_idle_ms == 0 || max_concurrent_streams == 0) {
    return absl::InvalidArgumentError(
        "limits.handshake_timeout_ms, max_connection_idle_ms, max_concurrent_streams: must be > 0");
  }
  if (index_shards == 0 || index_shards > 256) {
    return absl::InvalidArgumentError("index_shards: must be 1-256");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca: needs --tls-cert and --tls-key");
  }
  if (data_plane.tls != "tcp" && data_plane.tls != "shm") {
    return absl::InvalidArgumentError(
        absl::StrCat("data_plane.tls: \"", data_plane.tls, "\" (want tcp or shm)"));
  }
  if (data_plane.enabled && data_plane.staging_bytes < limits.max_payload_bytes) {
    return absl::InvalidArgumentError(
        "data_plane.staging_bytes: must hold one maximal payload (limits.max_payload)");
  }
  if (data_plane.progress != "event" && data_plane.progress != "busy") {
    return absl::InvalidArgumentError(
        absl::StrCat("data_plane.progress: \"", data_plane.progress, "\" (want event or busy)"));
  }
  if (data_plane.call_threads == 0 || data_plane.call_threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("data_plane.call_threads: ", data_plane.call_threads, " (want 1 to 64)"));
  }
  if (data_plane.transfer_timeout_ms == 0 || data_plane.session_idle_ms == 0) {
    return absl::InvalidArgumentError(
        "data_plane.transfer_timeout_ms and session_idle_ms: must be > 0");
  }
  {
    const transfer::FaultPolicy& f = data_plane.fault;
    if (f.fail_probability + f.drop_probability + f.delay_probability + f.disconnect_probability >
        1.0) {
      return absl::InvalidArgumentError("data_plane.fault: probabilities add up to more than 1");
    }
  }
  if (etcd.empty() != cluster.empty()) {
    return absl::InvalidArgumentError(
        etcd.empty() ? "--cluster: needs --etcd (the cluster's etcd endpoints)"
                     : "--etcd: needs --cluster (the cluster's name)");
  }
  for (const std::string& url : etcd) {
    if (url.rfind("http://", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--etcd: \"", url, "\" (want http://HOST:PORT[,http://HOST:PORT...])"));
    }
  }
  if (!cluster.empty()) {
    const bool ok_name =
        cluster.size() <= 64 && std::all_of(cluster.begin(), cluster.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
        });
    if (!ok_name) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cluster: \"", cluster, "\" (1-64 bytes of [A-Za-z0-9._-])"));
    }
  }
  if (!advertise.empty()) {
    std::string host;
    int port = 0;
    STRATA_RETURN_IF_ERROR(SplitHostPort(advertise, "--advertise", &host, &port));
    if (port == 0) return absl::InvalidArgumentError("--advertise: needs a port other than 0");
  }
  if (cluster_tuning.lease_ttl_s < 2 || cluster_tuning.lease_ttl_s > 300) {
    return absl::InvalidArgumentError(absl::StrCat("cluster.lease_ttl_s: ",
                                                   cluster_tuning.lease_ttl_s, " (want 2 to 300)"));
  }
  if (cluster_tuning.heartbeat_ms < 100 ||
      cluster_tuning.heartbeat_ms >= cluster_tuning.lease_ttl_s * 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster.heartbeat_ms: ", cluster_tuning.heartbeat_ms,
                     " (want 100 up to less than the lease TTL)"));
  }
  if (cluster_tuning.replicas < 1 || cluster_tuning.replicas > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster.replicas: ", cluster_tuning.replicas, " (want 1 to 8)"));
  }
  if (!insecure) {
    // Checked here, before anything binds: a node must not serve an open port for a moment.
    std::string listen_host;
    int listen_port = 0;
    STRATA_RETURN_IF_ERROR(SplitHostPort(listen, "--listen", &listen_host, &listen_port));
    if (!IsLoopbackHost(listen_host) && (tls_cert.empty() || auth_tokens.empty())) {
      const char* missing = tls_cert.empty() && auth_tokens.empty() ? "without TLS and tokens"
                            : tls_cert.empty()                      ? "without TLS"
                                                                    : "without tokens";
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", listen, ": refusing to serve a non-loopback address ", missing, " (",
          tls_cert.empty() ? "tokens and blocks would cross the network in the clear"
                           : "anyone who reaches the port could read, overwrite and evict every "
                             "namespace",
          "); give --tls-cert/--tls-key and --auth-tokens, or --insecure to serve anyway"));
    }
  }
  return absl::OkStatus();
}

namespace {

// Reads a YAML config into NodeOptions, naming "FILE: key" in every error.
class ConfigReader {
 public:
  ConfigReader(std::string path, NodeOptions* o) : path_(std::move(path)), o_(o) {}

  absl::Status Read(const YAML::Node& root) {
    if (!root.IsMap()) return Error("", "the top level must be a mapping");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      absl::Status st;
      if (key == "listen")
        st = Str(key, v, &o_->listen);
      else if (key == "port_file")
        st = Str(key, v, &o_->port_file);
      else if (key == "metrics_listen")
        st = Str(key, v, &o_->metrics_listen);
      else if (key == "node_id")
        st = Str(key, v, &o_->node_id);
      else if (key == "dram")
        st = Size(key, v, &o_->dram_bytes);
      else if (key == "ssd")
        st = Size(key, v, &o_->ssd_bytes);
      else if (key == "ssd_dir")
        st = Str(key, v, &o_->ssd_dir);
      else if (key == "hbm")
        st = Size(key, v, &o_->hbm_bytes);
      else if (key == "promote_on_hit")
        st = Bool(key, v, &o_->promote_on_hit);
      else if (key == "index_shards")
        st = Uint(key, v, &o_->index_shards);
      else if (key == "shutdown_grace_ms")
        st = Uint(key, v, &o_->shutdown_grace_ms);
      else if (key == "advertise")
        st = Str(key, v, &o_->advertise);
      else if (key == "cluster")
        st = v.IsMap() ? ClusterTuning(v) : Str(key, v, &o_->cluster);
      else if (key == "etcd")
        st = StrList(key, v, &o_->etcd);
      else if (key == "tls_cert")
        st = Str(key, v, &o_->tls_cert);
      else if (key == "tls_key")
        st = Str(key, v, &o_->tls_key);
      else if (key == "tls_client_ca")
        st = Str(key, v, &o_->tls_client_ca);
      else if (key == "auth_tokens")
        st = Str(key, v, &o_->auth_tokens);
      else if (key == "quotas")
        st = Str(key, v, &o_->quotas);
      else if (key == "peer_token_file")
        st = Str(key, v, &o_->peer_token_file);
      else if (key == "peer_tls_ca")
        st = Str(key, v, &o_->peer_tls_ca);
      else if (key == "insecure")
        st = Bool(key, v, &o_->insecure);
      else if (key == "tiers")
        st = Tiers(v);
      else if (key == "limits")
        st = Limits(v);
      else if (key == "leases")
        st = Leases(v);
      else if (key == "namespace_codecs")
        st = NamespaceCodecs(v);
      else if (key == "pruned_views")
        st = PrunedViews(v);
      else if (key == "data_plane")
        st = DataPlane(v);
      else
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const std::string& key, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path_, ": ", key, key.empty() ? "" : ": ", AsAbsl(what)));
  }
  absl::Status Str(const std::string& key, const YAML::Node& v, std::string* out) const {
    if (!v.IsScalar()) return Error(key, "expected a string");
    *out = v.as<std::string>();
    return absl::OkStatus();
  }
  absl::Status StrList(const std::string& key, const YAML::Node& v,
                       std::vector<std::string>* out) const {
    if (v.IsScalar()) {
      out->assign({v.as<std::string>()});
      return absl::OkStatus();
    }
    if (!v.IsSequence()) return Error(key, "expected a list of strings");
    out->clear();
    for (const auto& e : v) out->push_back(e.as<std::string>());
    return absl::OkStatus();
  }
  absl::Status Size(const std::string& key, const YAML::Node& v, uint64_t* out) const {
    if (!v.IsScalar()) return Error(key, "expected a size such as 64MiB");
    auto parsed = ParseSize(v.as<std::string>());
    if (!parsed.ok()) return Error(key, AsStd(parsed.status().message()));
    *out = *parsed;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Uint(const std::string& key, const YAML::Node& v, T* out) const {
    uint64_t value = 0;
    if (!v.IsScalar() || !absl::SimpleAtoi(v.as<std::string>(), &value)) {
      return Error(key, "expected a non-negative integer");
    }
    *out = static_cast<T>(value);
    return absl::OkStatus();
  }
  absl::Status Bool(const std::string& key, const YAML::Node& v, bool* out) const {
    const std::string s = v.IsScalar() ? v.as<std::string>() : "";
    if (s == "true")
      *out = true;
    else if (s == "false")
      *out = false;
    else
      return Error(key, "expected true or false");
    return absl::OkStatus();
  }
  absl::Status Fraction(const std::string& key, const YAML::Node& v, double* out) const {
    double d = 0;
    if (!v.IsScalar() || !absl::SimpleAtod(v.as<std::string>(), &d) || !(d >= 0 && d <= 1)) {
      return Error(key, "expected a number between 0 and 1");
    }
    *out = d;
    return absl::OkStatus();
  }
  absl::Status Tiers(const YAML::Node& v) {
    if (!v.IsMap()) return Error("tiers", "expected a mapping of dram/ssd settings");
    for (const auto& kv : v) {
      const std::string tier = kv.first.as<std::string>();
      TierOptions* t = tier == "dram" ? &o_->dram : tier == "ssd" ? &o_->ssd : nullptr;
      if (t == nullptr) return Error("tiers." + tier, "unknown tier (dram, ssd)");
      if (!kv.second.IsMap()) return Error("tiers." + tier, "expected a mapping");
      for (const auto& f : kv.second) {
        const std::string key = "tiers." + tier + "." + f.first.as<std::string>();
        const std::string name = f.first.as<std::string>();
        absl::Status st;
        if (name == "policy")
          st = Str(key, f.second, &t->policy);
        else if (name == "codec")
          st = Str(key, f.second, &t->codec);
        else if (name == "high_watermark")
          st = Fraction(key, f.second, &t->high_watermark);
        else if (name == "low_watermark")
          st = Fraction(key, f.second, &t->low_watermark);
        else if (name == "page_size" && tier == "dram")
          st = Size(key, f.second, &o_->dram_page_bytes);
        else
          st = Error(key, "unknown key");
        STRATA_RETURN_IF_ERROR(st);
      }
    }
    return absl::OkStatus();
  }
  // `cluster:` as a mapping: {name, lease_ttl_s, heartbeat_ms, replicas}; as a string, the name.
  absl::Status ClusterTuning(const YAML::Node& v) {
    for (const auto& kv : v) {
      const std::string name = kv.first.as<std::string>();
      const std::string key = "cluster." + name;
      absl::Status st;
      if (name == "name")
        st = Str(key, kv.second, &o_->cluster);
      else if (name == "lease_ttl_s")
        st = Uint(key, kv.second, &o_->cluster_tuning.lease_ttl_s);
      else if (name == "heartbeat_ms")
        st = Uint(key, kv.second, &o_->cluster_tuning.heartbeat_ms);
      else if (name == "replicas")
        st = Uint(key, kv.second, &o_->cluster_tuning.replicas);
      else
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }
  absl::Status Limits(const YAML::Node& v) {
    if (!v.IsMap()) return Error("limits", "expected a mapping");
    for (const auto& kv : v) {
      const std::string name = kv.first.as<std::string>();
      const std::string key = "limits." + name;
      absl::Status st;
      if (name == "max_batch")
        st = Uint(key, kv.second, &o_->limits.max_batch);
      else if (name == "max_payload")
        st = Size(key, kv.second, &o_->limits.max_payload_bytes);
      else if (name == "max_key_bytes")
        st = Uint(key, kv.second, &o_->limits.max_key_bytes);
      else if (name == "max_message")
        st = Size(key, kv.second, &o_->max_message_bytes);
      else if (name == "inflight_bytes")
        st = Size(key, kv.second, &o_->inflight_bytes);
      else if (name == "handshake_timeout_ms")
        st = Uint(key, kv.second, &o_->handshake_timeout_ms);
      else if (name == "max_connection_idle_ms")
        st = Uint(key, kv.second, &o_->max_connection_idle_ms);
      else if (name == "max_concurrent_streams")
        st = Uint(key, kv.second, &o_->max_concurrent_streams);
      else if (name == "listener_check_ms")
        st = Uint(key, kv.second, &o_->listener_check_ms);
      else
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }
  absl::Status NamespaceCodecs(const YAML::Node& v) {
    if (!v.IsSequence()) {
      return Error("namespace_codecs", "expected a list of {prefix, tier, codec}");
    }
    o_->namespace_codecs.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string at = absl::StrCat("namespace_codecs[", i, "]");
      if (!v[i].IsMap()) return Error(at, "expected {prefix, tier, codec}");
      NodeOptions::NamespaceCodec nc;
      for (const auto& kv : v[i]) {
        const std::string name = kv.first.as<std::string>();
        absl::Status st;
        if (name == "prefix")
          st = Str(at + ".prefix", kv.second, &nc.prefix);
        else if (name == "tier")
          st = Str(at + ".tier", kv.second, &nc.tier);
        else if (name == "codec")
          st = Str(at + ".codec", kv.second, &nc.codec);
        else
          st = Error(at + "." + name, "unknown key");
        STRATA_RETURN_IF_ERROR(st);
      }
      o_->namespace_codecs.push_back(nc);
    }
    return absl::OkStatus();
  }
  absl::Status PrunedViews(const YAML::Node& v) {
    if (!v.IsSequence()) {
      return Error("pruned_views", "expected a list of {prefix, selector, budget, ...}");
    }
    o_->pruned_views.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string at = absl::StrCat("pruned_views[", i, "]");
      if (!v[i].IsMap()) return Error(at, "expected {prefix, selector, budget, ...}");
      NodeOptions::PrunedView pv;
      for (const auto& kv : v[i]) {
        const std::string name = kv.first.as<std::string>();
        const std::string key = at + "." + name;
        absl::Status st;
        if (name == "prefix")
          st = Str(key, kv.second, &pv.prefix);
        else if (name == "selector")
          st = Str(key, kv.second, &pv.selector);
        else if (name == "budget")
          st = Str(key, kv.second, &pv.budget);
        else if (name == "shape")
          st = Str(key, kv.second, &pv.shape);
        else if (name == "beta")
          st = Number(key, kv.second, &pv.beta);
        else if (name == "sink_tokens")
          st = Uint(key, kv.second, &pv.sink_tokens);
        else if (name == "pool_window")
          st = Uint(key, kv.second, &pv.pool_window);
        else if (name == "view_tier")
          st = Str(key, kv.second, &pv.view_tier);
        else if (name == "full_tier")
          st = Str(key, kv.second, &pv.full_tier);
        else if (name == "page_bounds")
          st = Bool(key, kv.second, &pv.page_bounds);
        else
          st = Error(key, "unknown key");
        STRATA_RETURN_IF_ERROR(st);
      }
      o_->pruned_views.push_back(pv);
    }
    return absl::OkStatus();
  }
  absl::Status Number(const std::string& key, const YAML::Node& v, double* out) const {
    if (!v.IsScalar() || !absl::SimpleAtod(v.as<std::string>(), out)) {
      return Error(key, "expected a number");
    }
    return absl::OkStatus();
  }
  absl::Status DataPlane(const YAML::Node& v) {
    if (!v.IsMap()) return Error("data_plane", "expected a mapping");
    DataPlaneOptions& d = o_->data_plane;
    for (const auto& kv : v) {
      const std::string name = kv.first.as<std::string>();
      const std::string key = "data_plane." + name;
      absl::Status st;
      if (name == "enabled")
        st = Bool(key, kv.second, &d.enabled);
      else if (name == "tls")
        st = Str(key, kv.second, &d.tls);
      else if (name == "staging_bytes")
        st = Size(key, kv.second, &d.staging_bytes);
      else if (name == "session_idle_ms")
        st = Uint(key, kv.second, &d.session_idle_ms);
      else if (name == "transfer_timeout_ms")
        st = Uint(key, kv.second, &d.transfer_timeout_ms);
      else if (name == "progress")
        st = Str(key, kv.second, &d.progress);
      else if (name == "messages")
        st = Bool(key, kv.second, &d.messages);
      else if (name == "call_threads")
        st = Uint(key, kv.second, &d.call_threads);
      else if (name == "allow_plaintext")
        st = Bool(key, kv.second, &d.allow_plaintext);
      else if (name == "fault")
        st = Fault(kv.second);
      else
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }
  absl::Status Fault(const YAML::Node& v) {
    if (!v.IsMap()) return Error("data_plane.fault", "expected a mapping");
    transfer::FaultPolicy& f = o_->data_plane.fault;
    for (const auto& kv : v) {
      const std::string name = kv.first.as<std::string>();
      const std::string key = "data_plane.fault." + name;
      absl::Status st;
      uint32_t delay_ms = 0;
      if (name == "seed")
        st = Uint(key, kv.second, &f.seed);
      else if (name == "fail")
        st = Fraction(key, kv.second, &f.fail_probability);
      else if (name == "drop")
        st = Fraction(key, kv.second, &f.drop_probability);
      else if (name == "delay")
        st = Fraction(key, kv.second, &f.delay_probability);
      else if (name == "disconnect")
        st = Fraction(key, kv.second, &f.disconnect_probability);
      else if (name == "delay_ms" && (st = Uint(key, kv.second, &delay_ms)).ok())
        f.delay = absl::Milliseconds(delay_ms);
      else if (name != "delay_ms")
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }
  absl::Status Leases(const YAML::Node& v) {
    if (!v.IsMap()) return Error("leases", "expected a mapping");
    for (const auto& kv : v) {
      const std::string name = kv.first.as<std::string>();
      const std::string key = "leases." + name;
      absl::Status st;
      if (name == "max_ttl_ms")
        st = Uint(key, kv.second, &o_->max_lease_ms);
      else if (name == "max_bytes")
        st = Size(key, kv.second, &o_->max_leased_bytes);
      else
        st = Error(key, "unknown key");
      STRATA_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

  const std::string path_;
  NodeOptions* const o_;
};

}  // namespace

absl::Status ApplyConfigFile(const std::string& path, NodeOptions* options) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config ", path, ": cannot be read"));
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {  // yaml-cpp reports by exception; it stops here
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();  // an empty file changes nothing
  try {
    return ConfigReader(path, options).Read(root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", e.what()));
  }
}

}  // namespace strata
