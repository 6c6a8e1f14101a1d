#include "cachenode/metrics.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "cachenode/node_core.h"

namespace strata {
namespace {

void Counter(std::string* out, const char* name, const char* help, uint64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ",
                  value, "\n");
}

void Gauge(std::string* out, const char* name, const char* help, uint64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", value,
                  "\n");
}

}  // namespace

std::string RenderPrometheus(const v1::StatsResponse& s) {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP strata_tier_capacity_bytes Capacity of each tier.\n"
                  "# TYPE strata_tier_capacity_bytes gauge\n");
  for (const auto& t : s.tiers()) {
    absl::StrAppend(&out, "strata_tier_capacity_bytes{tier=\"", t.name(), "\"} ",
                    t.capacity_bytes(), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP strata_tier_used_bytes Bytes held by each tier.\n"
                  "# TYPE strata_tier_used_bytes gauge\n");
  for (const auto& t : s.tiers()) {
    absl::StrAppend(&out, "strata_tier_used_bytes{tier=\"", t.name(), "\"} ", t.used_bytes(), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP strata_tier_blocks Blocks held by each tier.\n"
                  "# TYPE strata_tier_blocks gauge\n");
  for (const auto& t : s.tiers()) {
    absl::StrAppend(&out, "strata_tier_blocks{tier=\"", t.name(), "\"} ", t.blocks(), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP strata_tier_available Whether the tier is on (1) or off (0).\n"
                  "# TYPE strata_tier_available gauge\n");
  for (const auto& t : s.tiers()) {
    absl::StrAppend(&out, "strata_tier_available{tier=\"", t.name(), "\"} ", t.available() ? 1 : 0,
                    "\n");
  }
  absl::StrAppend(&out,
                  "# HELP strata_tier_degraded Whether the tier refuses writes because its medium "
                  "failed (full disk, I/O errors): 1, else 0.\n"
                  "# TYPE strata_tier_degraded gauge\n");
  for (const auto& t : s.tiers()) {
    absl::StrAppend(&out, "strata_tier_degraded{tier=\"", t.name(), "\"} ", t.degraded() ? 1 : 0,
                    "\n");
  }
  absl::StrAppend(&out,
                  "# HELP strata_tier_hits_total Block hits served from each tier.\n"
                  "# TYPE strata_tier_hits_total counter\n");
  for (const auto& [tier, hits] : s.hits_by_tier()) {
    absl::StrAppend(&out, "strata_tier_hits_total{tier=\"", tier, "\"} ", hits, "\n");
  }
  Counter(&out, "strata_hits_total", "Keys found by Get.", s.hits());
  Counter(&out, "strata_misses_total", "Keys not found by Get.", s.misses());
  Counter(&out, "strata_puts_total", "Blocks stored by Put.", s.puts());
  Counter(&out, "strata_put_bytes_total", "Payload bytes received by Put.", s.put_bytes());
  Counter(&out, "strata_get_bytes_total", "Payload bytes served by Get.", s.get_bytes());
  Counter(&out, "strata_lookups_total", "Lookup calls.", s.lookups());
  Counter(&out, "strata_demotions_total", "Blocks moved to a lower tier.", s.demotions());
  Counter(&out, "strata_promotions_total", "Blocks moved to the first tier on a hit.",
          s.promotions());
  Counter(&out, "strata_evictions_total", "Blocks dropped from the last tier.", s.evictions());
  Counter(&out, "strata_checksum_failures_total",
          "Blocks that failed their checksum (deleted, answered as misses).",
          s.checksum_failures());
  Counter(&out, "strata_removes_total", "Blocks removed by Remove or Evict.", s.removes());
  Counter(&out, "strata_rejected_requests_total", "Requests answered INVALID_ARGUMENT.",
          s.rejected_requests());
  Counter(&out, "strata_no_space_total", "Keys answered RESOURCE_EXHAUSTED.", s.no_space());
  Gauge(&out, "strata_dp_sessions", "Open data-plane sessions.", s.dp_sessions());
  Gauge(&out, "strata_dp_regions", "Client regions registered with the data plane.",
        s.dp_regions());
  Gauge(&out, "strata_dp_pinned_blocks", "Blocks held in place by transfers in flight.",
        s.dp_pinned_blocks());
  Counter(&out, "strata_dp_get_bytes_total", "Bytes written into client buffers (GetInto).",
          s.dp_get_bytes());
  Counter(&out, "strata_dp_put_bytes_total", "Bytes read from client buffers (PutFrom).",
          s.dp_put_bytes());
  Counter(&out, "strata_dp_failed_batches_total", "Data-plane transfer batches that failed.",
          s.dp_failed_batches());
  Counter(&out, "strata_dp_sessions_dropped_total",
          "Sessions dropped for a failed endpoint, a failed transfer or idleness.",
          s.dp_sessions_dropped());
  Counter(&out, "strata_dp_message_calls_total",
          "GetInto/PutFrom calls that arrived as UCX messages instead of gRPC calls.",
          s.dp_message_calls());
  Counter(&out, "strata_dp_inline_calls_total",
          "Message GetInto calls served on the UCX progress thread (every block a DRAM hit).",
          s.dp_inline_calls());
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host,
                                                                    int port,
                                                                    const NodeCore* core) {
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->server_ = std::make_unique<httplib::Server>();
  m->server_->Get("/metrics", [core](const httplib::Request&, httplib::Response& res) {
    v1::StatsResponse stats;
    (void)core->Stats(&stats);  // Stats cannot fail; it reads counters
    res.set_content(RenderPrometheus(stats), "text/plain; version=0.0.4");
  });
  m->server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  if (port == 0) {
    m->port_ = m->server_->bind_to_any_port(host);
  } else {
    m->port_ = m->server_->bind_to_port(host, port) ? port : -1;
  }
  if (m->port_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", host, ":", port, " (in use?)"));
  }
  httplib::Server* server = m->server_.get();
  m->thread_ = std::thread([server] { server->listen_after_bind(); });
  return m;
}

MetricsServer::~MetricsServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace strata
