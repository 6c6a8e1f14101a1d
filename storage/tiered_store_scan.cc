// TieredStore::Describe and ListBlocks: read-only views of the index for operators (inspect) and
// for moving a node's blocks elsewhere (drain).
#include <algorithm>

#include "kernels/codec.h"
#include "storage/tiered_store.h"

namespace strata {
namespace {

std::string CodecName(uint8_t id) {
  const Codec* codec = FindCodecById(id);
  return codec ? std::string(codec->name()) : "unknown";
}

}  // namespace

std::optional<TieredStore::BlockSummary> TieredStore::Describe(std::string_view ns,
                                                               std::string_view key) {
  const std::string id = MakeId(ns, key);
  Shard& shard = ShardFor(id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.ids.find(id);
  if (it == shard.ids.end()) return std::nullopt;
  const Entry& e = shard.entries.at(it->second);
  return BlockSummary{std::string(ns),
                      std::string(key),
                      e.record.parent,
                      std::string(tiers_[e.tier]->name()),
                      e.record.payload_bytes,
                      e.record.stored_bytes,
                      CodecName(e.record.codec_id),
                      it->second,
                      std::max<int64_t>(Now() - e.stored_ms, 0)};
}

std::vector<TieredStore::BlockSummary> TieredStore::ListBlocks() {
  std::vector<std::pair<size_t, BlockSummary>> all;  // (tier, summary)
  const int64_t now = Now();
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    for (const auto& [block, e] : shard->entries) {
      const size_t sep = e.id.find('\0');
      if (sep == std::string::npos) continue;  // every id has one (MakeId)
      all.emplace_back(e.tier, BlockSummary{e.id.substr(0, sep), e.id.substr(sep + 1),
                                            e.record.parent, std::string(tiers_[e.tier]->name()),
                                            e.record.payload_bytes, e.record.stored_bytes,
                                            CodecName(e.record.codec_id), block,
                                            std::max<int64_t>(now - e.stored_ms, 0)});
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return (a.second.block >> 8) > (b.second.block >> 8);  // ids: counter << shard bits | shard
  });
  std::vector<BlockSummary> out;
  out.reserve(all.size());
  for (auto& [tier, summary] : all) out.push_back(std::move(summary));
  return out;
}

}  // namespace strata
