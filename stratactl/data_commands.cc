#include "stratactl/data_commands.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/block_hasher.h"
#include "stratactl/cluster_commands.h"
#include "common/units.h"

namespace strata::ctl {
namespace {

using nlohmann::json;

void PrintTiersText(const google::protobuf::RepeatedPtrField<v1::TierInfo>& tiers) {
  for (const v1::TierInfo& t : tiers) {
    if (!t.available()) {
      std::cout << "  " << t.name() << ": off"
                << (t.detail().empty() ? "" : " (" + t.detail() + ")") << "\n";
      continue;
    }
    std::cout << "  " << t.name() << ": " << FormatSize(t.used_bytes()) << " of "
              << FormatSize(t.capacity_bytes()) << " used, " << t.blocks() << " blocks, policy "
              << t.policy() << "\n";
  }
}

int Info(const Globals& g) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto info = (*client)->NodeInfo();
  if (!info.ok()) return Fail(info.status());
  if (g.json) {
    PrintJson({{"node_id", info->node_id()},
               {"version", info->version()},
               {"listen", info->listen()},
               {"tiers", TiersJson(info->tiers())},
               {"max_batch", info->max_batch()},
               {"max_payload_bytes", info->max_payload_bytes()},
               {"uptime_ms", info->uptime_ms()},
               {"data_plane", info->data_plane()},
               {"data_plane_detail", info->data_plane_detail()}});
    return kExitOk;
  }
  std::cout << "node " << info->node_id() << " (strata " << info->version() << ") at "
            << info->listen() << ", up " << info->uptime_ms() / 1000 << " s\n";
  PrintTiersText(info->tiers());
  std::cout << "  limits: batch " << info->max_batch() << ", payload "
            << FormatSize(info->max_payload_bytes()) << "\n";
  std::cout << "  data plane: " << info->data_plane_detail() << "\n";
  return kExitOk;
}

int Stats(const Globals& g) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto s = (*client)->Stats();
  if (!s.ok()) return Fail(s.status());
  json by_tier = json::object();
  for (const auto& [tier, hits] : s->hits_by_tier()) by_tier[tier] = hits;
  const uint64_t lookups = s->hits() + s->misses();
  if (g.json) {
    PrintJson({{"tiers", TiersJson(s->tiers())},
               {"hits", s->hits()},
               {"misses", s->misses()},
               {"hit_ratio", lookups ? static_cast<double>(s->hits()) / lookups : 0.0},
               {"hits_by_tier", by_tier},
               {"puts", s->puts()},
               {"put_bytes", s->put_bytes()},
               {"get_bytes", s->get_bytes()},
               {"lookups", s->lookups()},
               {"demotions", s->demotions()},
               {"promotions", s->promotions()},
               {"evictions", s->evictions()},
               {"checksum_failures", s->checksum_failures()},
               {"removes", s->removes()},
               {"rejected_requests", s->rejected_requests()},
               {"no_space", s->no_space()},
               {"data_plane",
                {{"sessions", s->dp_sessions()},
                 {"regions", s->dp_regions()},
                 {"pinned_blocks", s->dp_pinned_blocks()},
                 {"get_bytes", s->dp_get_bytes()},
                 {"put_bytes", s->dp_put_bytes()},
                 {"failed_batches", s->dp_failed_batches()},
                 {"sessions_dropped", s->dp_sessions_dropped()},
                 {"message_calls", s->dp_message_calls()},
                 {"inline_calls", s->dp_inline_calls()}}}});
    return kExitOk;
  }
  PrintTiersText(s->tiers());
  std::cout << "  hits " << s->hits() << ", misses " << s->misses() << ", puts " << s->puts()
            << ", demotions " << s->demotions() << ", promotions " << s->promotions()
            << ", evictions " << s->evictions() << ", checksum failures " << s->checksum_failures()
            << ", rejected " << s->rejected_requests() << "\n";
  std::cout << "  data plane: " << s->dp_sessions() << " sessions, " << s->dp_regions()
            << " regions, " << s->dp_pinned_blocks() << " pinned, " << FormatSize(s->dp_get_bytes())
            << " out, " << FormatSize(s->dp_put_bytes()) << " in, " << s->dp_failed_batches()
            << " failed batches, " << s->dp_message_calls() << " calls as UCX messages ("
            << s->dp_inline_calls() << " inline)\n";
  return kExitOk;
}

int Put(const Globals& g, const PutArgs& a) {
  auto key = HexKey(a.key, "--key");
  if (!key.ok()) return Fail(key.status());
  std::string parent;
  if (!a.parent.empty()) {
    auto p = HexKey(a.parent, "--parent");
    if (!p.ok()) return Fail(p.status());
    parent = *p;
  }
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return Usage("--file: cannot read " + a.file);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string payload = ss.str();
  BlockLayout layout;
  if (a.layout != "opaque") {
    if (a.layout == "kv") {
      layout.kind = LayoutKind::kKv;
    } else if (a.layout == "mla_latent") {
      layout.kind = LayoutKind::kMlaLatent;
    } else {
      return Usage("--layout: expected opaque, kv or mla_latent");
    }
    auto dtype = ParseDType(a.dtype);
    if (!dtype.ok()) return Fail(dtype.status());
    layout.dtype = *dtype;
    layout.layers = a.layers;
    layout.kv_heads = a.kv_heads;
    layout.head_dim = a.head_dim;
    layout.tokens = a.tokens;
  }
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  PutBlock block{*key, parent, layout, payload};
  auto results = (*client)->Put(a.ns, absl::MakeConstSpan(&block, 1));
  if (!results.ok()) return Fail(results.status());
  if (!(*results)[0].ok()) return Fail((*results)[0]);
  if (g.json) {
    PrintJson({{"key", a.key}, {"stored", true}, {"bytes", payload.size()}});
  } else {
    std::cout << "stored " << a.key << " (" << payload.size() << " bytes)\n";
  }
  return kExitOk;
}

int Get(const Globals& g, const std::string& ns, const std::string& hex, const std::string& out) {
  auto key = HexKey(hex, "--key");
  if (!key.ok()) return Fail(key.status());
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  std::vector<std::string> keys = {*key};
  auto results = (*client)->Get(ns, keys);
  if (!results.ok()) return Fail(results.status());
  const GetResult& r = (*results)[0];
  if (absl::IsNotFound(r.status)) {
    if (g.json) PrintJson({{"key", hex}, {"found", false}});
    std::cerr << "stratactl: miss: " << hex << " is not cached in " << ns << "\n";
    return kExitMiss;
  }
  if (!r.status.ok()) return Fail(r.status);
  if (!out.empty()) {
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    if (!f.write(r.payload.data(), static_cast<std::streamsize>(r.payload.size()))) {
      return Fail(absl::InternalError("--out: cannot write " + out));
    }
  }
  if (g.json) {
    PrintJson({{"key", hex}, {"found", true}, {"bytes", r.payload.size()}, {"tier", r.tier}});
  } else if (out.empty()) {
    std::cout.write(r.payload.data(), static_cast<std::streamsize>(r.payload.size()));
  } else {
    std::cout << "got " << hex << " (" << r.payload.size() << " bytes from " << r.tier << ") -> "
              << out << "\n";
  }
  return kExitOk;
}

int Lookup(const Globals& g, const std::string& ns, const std::string& csv, uint32_t lease_ms) {
  auto keys = HexKeys(csv, "--keys");
  if (!keys.ok()) return Fail(keys.status());
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto matched = (*client)->Lookup(ns, *keys, lease_ms);
  if (!matched.ok()) return Fail(matched.status());
  if (g.json) {
    PrintJson({{"matched", *matched}, {"keys", keys->size()}});
  } else {
    std::cout << "matched " << *matched << " of " << keys->size() << " keys\n";
  }
  return kExitOk;
}

int Remove(const Globals& g, const std::string& ns, const std::string& csv) {
  auto keys = HexKeys(csv, "--key");
  if (!keys.ok()) return Fail(keys.status());
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto removed = (*client)->Remove(ns, *keys);
  if (!removed.ok()) return Fail(removed.status());
  size_t n = 0;
  for (bool r : *removed) n += r;
  if (g.json) {
    PrintJson({{"removed", n}, {"keys", keys->size()}});
  } else {
    std::cout << "removed " << n << " of " << keys->size() << " keys\n";
  }
  if (n == 0) {
    std::cerr << "stratactl: miss: no such key in " << ns << "\n";
    return kExitMiss;
  }
  return kExitOk;
}

int Evict(const Globals& g, const std::string& ns) {
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  auto r = (*client)->Evict(ns);
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    PrintJson({{"namespace", ns}, {"blocks", r->blocks()}, {"bytes", r->bytes()}});
  } else {
    std::cout << "evicted " << r->blocks() << " blocks (" << FormatSize(r->bytes()) << ") of " << ns
              << "\n";
  }
  return kExitOk;
}

// A quick load against a live node: Put then Get of `blocks` random blocks in batches, as gRPC
// bytes or through registered buffers (PutFrom/GetInto).
int Bench(Globals g, const BenchArgs& a) {
  auto size = ParseSize(a.block_bytes);
  if (!size.ok()) return Fail(size.status());
  if (a.blocks == 0 || a.batch == 0 || *size == 0 || a.rounds == 0) {
    return Usage("bench: counts must be > 0");
  }
  if (a.path != "bytes" && a.path != "ucx" && a.path != "auto") {
    return Usage("bench: --path must be bytes, ucx or auto");
  }
  const bool zero_copy = a.path != "bytes";
  if (a.path == "ucx") g.data_path = ClientOptions::DataPath::kUcx;
  auto client = ConnectTo(g);
  if (!client.ok()) return Fail(client.status());
  std::mt19937_64 rng(1);
  std::string payload(*size, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  std::vector<std::string> keys;
  for (size_t i = 0; i < a.blocks; ++i) keys.push_back(absl::StrCat("bench-", i));
  // Zero-copy: one registered buffer holding a batch of blocks for Put and one for Get.
  const size_t batch_bytes = a.batch * *size;
  std::string put_mem, get_mem;
  std::unique_ptr<RegisteredBuffer> put_buf, get_buf;
  std::vector<uint64_t> offsets, capacities;
  if (zero_copy) {
    put_mem.resize(batch_bytes);
    get_mem.resize(batch_bytes);
    for (size_t k = 0; k < a.batch; ++k) {
      std::memcpy(put_mem.data() + k * *size, payload.data(), *size);
      offsets.push_back(k * *size);
      capacities.push_back(*size);
    }
    auto p = (*client)->RegisterBuffer(put_mem.data(), put_mem.size());
    if (!p.ok()) return Fail(p.status());
    auto q = (*client)->RegisterBuffer(get_mem.data(), get_mem.size());
    if (!q.ok()) return Fail(q.status());
    put_buf = *std::move(p);
    get_buf = *std::move(q);
  }
  auto now = [] { return std::chrono::steady_clock::now(); };
  const auto t0 = now();
  for (size_t i = 0; i < a.blocks; i += a.batch) {
    const size_t n = std::min(a.batch, a.blocks - i);
    absl::StatusOr<std::vector<absl::Status>> r;
    if (zero_copy) {
      std::vector<PutFromBlock> batch;
      for (size_t k = 0; k < n; ++k) batch.push_back({keys[i + k], "", {}, k * *size, *size});
      r = (*client)->PutFrom(a.ns, *put_buf, batch);
    } else {
      std::vector<PutBlock> batch;
      for (size_t k = 0; k < n; ++k) batch.push_back({keys[i + k], "", {}, payload});
      r = (*client)->Put(a.ns, batch);
    }
    if (!r.ok()) return Fail(r.status());
  }
  const auto t1 = now();
  size_t hits = 0;
  for (size_t round = 0; round < a.rounds; ++round) {
    for (size_t i = 0; i < a.blocks; i += a.batch) {
      const size_t n = std::min(a.batch, a.blocks - i);
      auto batch_keys = absl::MakeConstSpan(keys).subspan(i, n);
      if (zero_copy) {
        auto r = (*client)->GetInto(a.ns, batch_keys, *get_buf,
                                    absl::MakeConstSpan(offsets).subspan(0, n),
                                    absl::MakeConstSpan(capacities).subspan(0, n));
        if (!r.ok()) return Fail(r.status());
        for (size_t k = 0; k < n; ++k) {
          hits += (*r)[k].found() && (*r)[k].size == *size &&
                  std::memcmp(get_mem.data() + k * *size, payload.data(), *size) == 0;
        }
      } else {
        auto r = (*client)->Get(a.ns, batch_keys);
        if (!r.ok()) return Fail(r.status());
        for (const auto& x : *r) hits += x.found() && x.payload == payload;
      }
    }
  }
  const auto t2 = now();
  const double bytes = static_cast<double>(a.blocks) * static_cast<double>(*size);
  const double put_s = std::chrono::duration<double>(t1 - t0).count();
  const double get_s = std::chrono::duration<double>(t2 - t1).count() / a.rounds;
  const std::string path = zero_copy ? std::string((*client)->data_path()) : "bytes";
  put_buf.reset();
  get_buf.reset();
  (void)(*client)->Evict(a.ns);  // leave the node as we found it
  const size_t expected = a.blocks * a.rounds;
  if (g.json) {
    PrintJson({{"blocks", a.blocks},
               {"block_bytes", *size},
               {"batch", a.batch},
               {"path", path},
               {"put_gbps", bytes / put_s / 1e9},
               {"get_gbps", bytes / get_s / 1e9},
               {"exact_hits", hits}});
  } else {
    std::cout << "path " << path << ": put " << bytes / put_s / 1e9 << " GB/s, get "
              << bytes / get_s / 1e9 << " GB/s, " << hits << "/" << expected
              << " blocks read back exact\n";
  }
  return hits == expected ? kExitOk : kExitError;
}

}  // namespace

void AddDataCommands(CLI::App& app, Globals& g, DataArgs& a, std::function<int()>* run) {
  auto* info = app.add_subcommand("info", "node identity, tiers and limits");
  info->callback([&g, run] { *run = [&g] { return Info(g); }; });

  auto* stats = app.add_subcommand("stats", "tier usage, hits, misses, movements");
  stats->add_flag("--watch", a.stats_watch, "a per-node table with rates, refreshed --count times");
  stats->add_option("--interval", a.stats_interval, "--watch: time between tables (default 1s)");
  stats->add_option("--count", a.stats_count, "--watch: number of tables (default 10)");
  stats->callback([&g, &a, run] {
    *run = [&g, &a] {
      return a.stats_watch ? WatchStats(g, a.stats_interval, a.stats_count) : Stats(g);
    };
  });

  auto* put = app.add_subcommand("put", "store a block from a file");
  put->add_option("--ns", a.put.ns, "namespace")->required();
  put->add_option("--key", a.put.key, "block key (hex)")->required();
  put->add_option("--file", a.put.file, "payload file")->required();
  put->add_option("--parent", a.put.parent, "parent block key (hex)");
  put->add_option("--layout", a.put.layout, "opaque (default), kv or mla_latent");
  put->add_option("--dtype", a.put.dtype, "f32, f16, bf16 or fp8_e4m3 (shaped layouts)");
  put->add_option("--layers", a.put.layers);
  put->add_option("--kv-heads", a.put.kv_heads);
  put->add_option("--head-dim", a.put.head_dim);
  put->add_option("--tokens", a.put.tokens);
  put->callback([&g, &a, run] { *run = [&g, &a] { return Put(g, a.put); }; });

  auto* get = app.add_subcommand("get", "fetch a block (exit 3 on a miss)");
  get->add_option("--ns", a.get_ns, "namespace")->required();
  get->add_option("--key", a.get_key, "block key (hex)")->required();
  get->add_option("--out", a.get_out, "write the payload here (default: stdout)");
  get->callback(
      [&g, &a, run] { *run = [&g, &a] { return Get(g, a.get_ns, a.get_key, a.get_out); }; });

  auto* lookup = app.add_subcommand("lookup", "count the leading keys of a chain that are cached");
  lookup->add_option("--ns", a.lookup_ns, "namespace")->required();
  lookup->add_option("--keys", a.lookup_keys, "HEX[,HEX...] first block first")->required();
  lookup->add_option("--lease-ms", a.lookup_lease, "keep the matched blocks this long");
  lookup->callback([&g, &a, run] {
    *run = [&g, &a] { return Lookup(g, a.lookup_ns, a.lookup_keys, a.lookup_lease); };
  });

  auto* remove = app.add_subcommand("remove", "remove blocks (exit 3 when none was there)");
  remove->add_option("--ns", a.remove_ns, "namespace")->required();
  remove->add_option("--key,--keys", a.remove_keys, "HEX[,HEX...]")->required();
  remove->callback(
      [&g, &a, run] { *run = [&g, &a] { return Remove(g, a.remove_ns, a.remove_keys); }; });

  auto* evict = app.add_subcommand("evict", "remove every block of a namespace");
  evict->add_option("--ns", a.evict_ns, "namespace")->required();
  evict->callback([&g, &a, run] { *run = [&g, &a] { return Evict(g, a.evict_ns); }; });

  auto* bench = app.add_subcommand("bench", "quick put/get load against the node");
  bench->add_option("--ns", a.bench.ns);
  bench->add_option("--blocks", a.bench.blocks);
  bench->add_option("--block-bytes", a.bench.block_bytes);
  bench->add_option("--batch", a.bench.batch);
  bench->add_option("--path", a.bench.path,
                    "bytes (Put/Get, default), ucx or auto (PutFrom/GetInto)");
  bench->add_option("--rounds", a.bench.rounds, "times to run the Get phase (default 1)");
  bench->callback([&g, &a, run] { *run = [&g, &a] { return Bench(g, a.bench); }; });
}

}  // namespace strata::ctl
