#include "stratactl/cluster_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/block_hasher.h"
#include "common/units.h"

namespace strata::ctl {
namespace {

using nlohmann::json;

// "250ms", "2s", "1m"; a bare number is seconds.
absl::StatusOr<uint64_t> ParseIntervalMs(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return absl::InvalidArgumentError("--interval: '" + text + "' is not a duration");
  const uint64_t n = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ms") return n;
  if (unit.empty() || unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  return absl::InvalidArgumentError("--interval: unit '" + unit + "' is not ms, s or m");
}

// One node as `cluster status` shows it.
struct NodeStatus {
  const cluster::NodeRecord* record = nullptr;
  bool reachable = false;
  std::string error;
  v1::StatsResponse stats;
  v1::NodeInfoResponse info;
};

std::vector<NodeStatus> Survey(Client& client, const cluster::ClusterView& view) {
  std::vector<NodeStatus> out(view.nodes.size());
  std::vector<std::thread> threads;
  for (size_t j = 0; j < view.nodes.size(); ++j) {
    out[j].record = &view.nodes[j];
    threads.emplace_back([&client, &out, j] {
      NodeStatus& s = out[j];
      auto node = client.node(s.record->id);
      if (!node.ok()) {
        s.error = std::string(node.status().message());
        return;
      }
      auto stats = (*node)->Stats();
      auto info = (*node)->NodeInfo();
      if (!stats.ok() || !info.ok()) {
        s.error = std::string((stats.ok() ? info.status() : stats.status()).message());
        return;
      }
      s.reachable = true;
      s.stats = *std::move(stats);
      s.info = *std::move(info);
    });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

std::string StateOf(const NodeStatus& s) {
  return s.reachable ? std::string(cluster::NodeStateName(s.record->state)) : "unreachable";
}

double HitRatio(const v1::StatsResponse& s) {
  const uint64_t n = s.hits() + s.misses();
  return n ? static_cast<double>(s.hits()) / n : 0.0;
}

int64_t HeartbeatAgeMs(const cluster::NodeRecord& r) {
  if (r.heartbeat_unix_ms == 0) return -1;
  const uint64_t now = cluster::NowUnixMs();
  return now > r.heartbeat_unix_ms ? static_cast<int64_t>(now - r.heartbeat_unix_ms) : 0;
}

int ClusterStatus(const Globals& g) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  std::shared_ptr<const cluster::ClusterView> view = (*client)->view();
  std::vector<NodeStatus> nodes = Survey(**client, *view);
  const uint64_t age = ViewAgeMs(*view);
  if (g.json) {
    json list = json::array();
    for (const NodeStatus& s : nodes) {
      json n = {{"id", s.record->id},
                {"address", s.record->address},
                {"state", StateOf(s)},
                {"heartbeat_age_ms", nullptr}};  // null: the view has no heartbeats (static)
      if (HeartbeatAgeMs(*s.record) >= 0) n["heartbeat_age_ms"] = HeartbeatAgeMs(*s.record);
      if (s.reachable) {
        n["tiers"] = TiersJson(s.stats.tiers());
        n["hits"] = s.stats.hits();
        n["misses"] = s.stats.misses();
        n["hit_ratio"] = HitRatio(s.stats);
        n["data_plane"] = s.info.data_plane() ? s.info.data_plane_detail() : "off";
      } else {
        n["tiers"] = json::array();
        n["error"] = s.error;
      }
      list.push_back(std::move(n));
    }
    PrintJson({{"cluster", view->cluster},
               {"view", cluster::ViewSourceName(view->source)},
               {"view_age_ms", age},
               {"nodes", list}});
    return kExitOk;
  }
  std::cout << "cluster " << (view->cluster.empty() ? "-" : view->cluster) << ", "
            << cluster::ViewSourceName(view->source) << " view, " << age / 1000 << " s old, "
            << nodes.size() << " nodes\n";
  std::cout << std::left << std::setw(24) << "ID" << std::setw(22) << "ADDRESS" << std::setw(12)
            << "STATE" << std::setw(22) << "DRAM" << std::setw(22) << "SSD" << std::setw(7)
            << "HIT%" << std::setw(14) << "DATA-PLANE"
            << "HEARTBEAT\n";
  for (const NodeStatus& s : nodes) {
    auto tier = [&s](const std::string& name) -> std::string {
      for (const v1::TierInfo& t : s.stats.tiers()) {
        if (t.name() != name) continue;
        if (!t.available()) return "off";
        return FormatSize(t.used_bytes()) + "/" + FormatSize(t.capacity_bytes());
      }
      return "-";
    };
    const int64_t hb = HeartbeatAgeMs(*s.record);
    std::ostringstream ratio;
    ratio << std::fixed << std::setprecision(1) << 100.0 * HitRatio(s.stats);
    std::cout << std::left << std::setw(24) << s.record->id << std::setw(22) << s.record->address
              << std::setw(12) << StateOf(s) << std::setw(22) << (s.reachable ? tier("dram") : "-")
              << std::setw(22) << (s.reachable ? tier("ssd") : "-") << std::setw(7)
              << (s.reachable ? ratio.str() : "-") << std::setw(14)
              << (!s.reachable ? "-" : s.info.data_plane() ? "ucx" : "off")
              << (hb < 0 ? "-" : absl::StrCat(hb / 1000.0, " s ago")) << "\n";
  }
  return kExitOk;
}

int ClusterNodes(const Globals& g) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  std::shared_ptr<const cluster::ClusterView> view = (*client)->view();
  if (g.json) {
    json list = json::array();
    for (const cluster::NodeRecord& r : view->nodes) {
      list.push_back({{"id", r.id},
                      {"address", r.address},
                      {"state", cluster::NodeStateName(r.state)},
                      {"weight", r.Weight()},
                      {"down_for_this_client", (*client)->IsDown(r.id)}});
    }
    PrintJson({{"cluster", view->cluster},
               {"view", cluster::ViewSourceName(view->source)},
               {"view_age_ms", ViewAgeMs(*view)},
               {"nodes", list}});
    return kExitOk;
  }
  for (const cluster::NodeRecord& r : view->nodes) {
    std::cout << r.id << "\t" << r.address << "\t" << cluster::NodeStateName(r.state) << "\n";
  }
  return kExitOk;
}

int Inspect(const Globals& g, const std::string& ns, const std::string& hex) {
  auto key = HexKey(hex, "--key");
  if (!key.ok()) return Fail(key.status());
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  const std::vector<std::string> owners = (*client)->Owners(ns, *key);
  json list = json::array();
  bool found = false;
  for (const std::string& id : owners) {
    json o = {{"node", id}};
    auto node = (*client)->node(id);
    absl::StatusOr<v1::InspectResponse> r =
        node.ok() ? (*node)->Inspect(ns, *key) : absl::StatusOr<v1::InspectResponse>(node.status());
    if (!r.ok()) {
      if (absl::IsInvalidArgument(r.status())) return Fail(r.status());
      o["error"] = absl::IsUnimplemented(r.status())
                       ? "not supported by node " + id
                       : std::string(r.status().message());
    } else {
      found = found || r->found();
      o["found"] = r->found();
      if (r->found()) {
        o["tier"] = r->tier();
        o["size"] = r->size();
        o["stored_bytes"] = r->stored_bytes();
        o["codec"] = r->codec();
        o["age_ms"] = r->age_ms();
        o["parent"] = ToHex(r->parent());
      }
    }
    list.push_back(std::move(o));
  }
  if (g.json) {
    PrintJson({{"namespace", ns}, {"key", hex}, {"owners", list}, {"found", found}});
  } else {
    std::cout << ns << "/" << hex << ": " << owners.size() << " owner(s)\n";
    for (const json& o : list) {
      std::cout << "  " << o["node"].get<std::string>() << ": ";
      if (o.contains("error")) {
        std::cout << o["error"].get<std::string>() << "\n";
      } else if (!o["found"].get<bool>()) {
        std::cout << "not there\n";
      } else {
        std::cout << o["tier"].get<std::string>() << ", " << o["size"].get<uint64_t>()
                  << " bytes (" << o["stored_bytes"].get<uint64_t>() << " stored, codec "
                  << o["codec"].get<std::string>() << "), " << o["age_ms"].get<uint64_t>() / 1000.0
                  << " s old\n";
      }
    }
  }
  return found ? kExitOk : kExitMiss;
}

void PrintBar(const v1::DrainProgress& p) {
  const uint64_t total = p.blocks_total();
  const uint64_t done = p.blocks_moved() + p.blocks_failed();
  const int width = 30;
  const int filled = total ? static_cast<int>(width * std::min<uint64_t>(done, total) / total)
                           : (p.done() ? width : 0);
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
            << done << "/" << total << " blocks, " << FormatSize(p.bytes_moved()) << " moved, "
            << p.blocks_failed() << " failed" << std::flush;
}

int Drain(const Globals& g, const ClusterArgs& a) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto node = (*client)->node(a.drain_node);
  if (!node.ok()) return Fail(node.status());
  v1::DrainProgress last;
  bool any = false;
  absl::Status st = (*node)->Drain(
      !a.drain_stay, a.drain_timeout_s * 1000, [&](const v1::DrainProgress& p) {
        last = p;
        any = true;
        if (g.json) {
          PrintJson({{"node", a.drain_node},
                     {"blocks_total", p.blocks_total()},
                     {"blocks_moved", p.blocks_moved()},
                     {"blocks_failed", p.blocks_failed()},
                     {"bytes_moved", p.bytes_moved()},
                     {"done", p.done()},
                     {"error", p.error()}});
        } else {
          PrintBar(p);
        }
      });
  if (any && !g.json) std::cerr << "\n";
  if (absl::IsUnimplemented(st)) {
    return Fail(absl::UnimplementedError("drain: not supported by node " + a.drain_node));
  }
  if (!st.ok()) return Fail(st);
  if (!last.done()) return Fail(absl::UnavailableError("drain: the node stopped answering"));
  if (!last.error().empty()) return Fail(absl::AbortedError("drain: " + last.error()));
  if (!g.json) {
    std::cout << "drained " << a.drain_node << ": " << last.blocks_moved() << " blocks moved, "
              << last.blocks_failed() << " lost\n";
  }
  return kExitOk;
}

}  // namespace

int WatchStats(const Globals& g, const std::string& interval, int count) {
  auto ms = ParseIntervalMs(interval);
  if (!ms.ok()) return Fail(ms.status());
  if (count < 1) return Usage("--count: must be at least 1");
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  const bool tty = !g.json && isatty(STDOUT_FILENO);
  std::map<std::string, v1::StatsResponse> before;
  auto then = std::chrono::steady_clock::now();
  for (int round = 0; round < count; ++round) {
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(*ms));
    std::shared_ptr<const cluster::ClusterView> view = (*client)->view();
    std::vector<NodeStatus> nodes = Survey(**client, *view);
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::max(1e-3, std::chrono::duration<double>(now - then).count());
    then = now;
    json list = json::array();
    std::ostringstream table;
    table << std::left << std::setw(24) << "ID" << std::setw(12) << "STATE" << std::setw(12)
          << "HITS/s" << std::setw(12) << "MISSES/s" << std::setw(12) << "PUTS/s" << std::setw(7)
          << "HIT%" << "DRAM\n";
    for (const NodeStatus& s : nodes) {
      const v1::StatsResponse& cur = s.stats;
      const auto prev = before.find(s.record->id);
      auto rate = [&](uint64_t (v1::StatsResponse::*field)() const) {
        if (!s.reachable || prev == before.end()) return 0.0;
        const uint64_t a = (prev->second.*field)(), b = (cur.*field)();
        return b >= a ? (b - a) / secs : 0.0;
      };
      const double hits = rate(&v1::StatsResponse::hits), misses = rate(&v1::StatsResponse::misses),
                   puts = rate(&v1::StatsResponse::puts);
      std::string dram = "-";
      for (const v1::TierInfo& t : cur.tiers()) {
        if (t.name() == "dram" && t.available()) dram = FormatSize(t.used_bytes());
      }
      if (g.json) {
        list.push_back({{"id", s.record->id},
                        {"state", StateOf(s)},
                        {"hits_per_s", hits},
                        {"misses_per_s", misses},
                        {"puts_per_s", puts},
                        {"hit_ratio", HitRatio(cur)},
                        {"tiers", TiersJson(cur.tiers())}});
      } else {
        std::ostringstream ratio;
        ratio << std::fixed << std::setprecision(1) << 100.0 * HitRatio(cur);
        table << std::left << std::setw(24) << s.record->id << std::setw(12) << StateOf(s)
              << std::fixed << std::setprecision(1) << std::setw(12) << hits << std::setw(12)
              << misses << std::setw(12) << puts << std::setw(7) << ratio.str() << dram << "\n";
      }
      if (s.reachable) before[s.record->id] = cur;
    }
    if (g.json) {
      PrintJson({{"round", round}, {"view", cluster::ViewSourceName(view->source)}, {"nodes", list}});
    } else {
      if (tty) std::cout << "\x1b[H\x1b[2J";  // refresh in place on a terminal
      std::cout << table.str() << std::flush;
    }
  }
  return kExitOk;
}

void AddClusterCommands(CLI::App& app, Globals& g, ClusterArgs& a, std::function<int()>* run) {
  auto* cluster = app.add_subcommand("cluster", "the cluster's nodes as this client sees them");
  cluster->require_subcommand(1);
  auto* status = cluster->add_subcommand(
      "status", "each node: state, capacity and use per tier, hit ratio, data plane, heartbeat");
  status->callback([&g, run] { *run = [&g] { return ClusterStatus(g); }; });
  auto* nodes = cluster->add_subcommand("nodes", "the nodes of the view");
  nodes->callback([&g, run] { *run = [&g] { return ClusterNodes(g); }; });

  auto* inspect = app.add_subcommand("inspect", "a block's owners and how each holds it");
  inspect->add_option("--ns", a.inspect_ns, "namespace")->required();
  inspect->add_option("--key", a.inspect_key, "block key (hex)")->required();
  inspect->callback([&g, &a, run] {
    *run = [&g, &a] { return Inspect(g, a.inspect_ns, a.inspect_key); };
  });

  auto* drain = app.add_subcommand(
      "drain", "move a node's blocks to their other owners, then take it out of the cluster");
  drain->add_option("node", a.drain_node, "node id or address")->required();
  drain->add_flag("--stay", a.drain_stay, "keep the node running after the drain");
  drain->add_option("--timeout-s", a.drain_timeout_s, "give up after this long (default: none)");
  drain->callback([&g, &a, run] { *run = [&g, &a] { return Drain(g, a); }; });
}

}  // namespace strata::ctl
