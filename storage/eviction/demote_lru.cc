#include "storage/eviction/demote_lru.h"

#include <algorithm>
#include <cmath>

#include "storage/eviction/node_slots.h"

namespace strata {

bool DemoteLruPolicy::Sampled(uint64_t mixed) const {
  return shift_ == 0 || (mixed >> (64 - shift_)) == 0;
}

bool DemoteLruPolicy::DoorkeeperHas(uint64_t mixed) const {
  for (const std::vector<uint64_t>& bits : door_) {
    if (bits.empty()) continue;
    const uint64_t mask = bits.size() * 64 - 1;
    const uint64_t a = mixed & mask, b = (mixed >> 32) & mask;
    if ((bits[a >> 6] >> (a & 63) & 1) && (bits[b >> 6] >> (b & 63) & 1)) return true;
  }
  return false;
}

void DemoteLruPolicy::DoorkeeperAdd(uint64_t mixed) {
  std::vector<uint64_t>& bits = door_[door_current_];
  const uint64_t mask = bits.size() * 64 - 1;
  const uint64_t a = mixed & mask, b = (mixed >> 32) & mask;
  bits[a >> 6] |= uint64_t{1} << (a & 63);
  bits[b >> 6] |= uint64_t{1} << (b & 63);
  if (++door_adds_ >=
      static_cast<uint64_t>(kDoorkeeperTurnovers * static_cast<double>(max_tracked_))) {
    door_current_ ^= 1;
    std::fill(door_[door_current_].begin(), door_[door_current_].end(), 0);
    door_adds_ = 0;
  }
}

void DemoteLruPolicy::Grow() {
  // 16 bits per block of the high-water mark, a power of two of at least 1,024 bits.
  size_t words = 16;
  while (words * 64 < 16 * max_tracked_) words *= 2;
  if (door_[0].size() < words) {
    // Resizing forgets what the doorkeeper knew; it happens at most log2(tier size) times.
    for (std::vector<uint64_t>& bits : door_) bits.assign(words, 0);
    door_adds_ = 0;
  }
  const double horizon = kHorizonTurnovers * static_cast<double>(max_tracked_);
  int shift = shift_;
  while (shift < 63 && horizon / std::exp2(shift) > static_cast<double>(kMaxShadow)) ++shift;
  if (shift != shift_) {
    shift_ = shift;
    for (auto it = shadow_.begin(); it != shadow_.end();) {
      if (Sampled(MixKeyHash(it->first))) {
        ++it;
      } else {
        shadow_.erase(it++);  // its shadow_order_ entry no longer matches and is skipped
      }
    }
  }
}

void DemoteLruPolicy::Outcome(Class c, bool reused) {
  constexpr double kKeep = 1.0 - 1.0 / kDecayOutcomes;
  for (size_t i = 0; i < kNumClasses; ++i) {
    reused_[i] *= kKeep;
    total_[i] *= kKeep;
  }
  total_[c] += 1;
  if (reused) reused_[c] += 1;
}

void DemoteLruPolicy::Referenced(uint64_t key_hash, uint64_t mixed) {
  if (shadow_.empty() || !Sampled(mixed)) return;
  auto it = shadow_.find(key_hash);
  if (it == shadow_.end()) return;
  Outcome(it->second.cls, true);
  shadow_.erase(it);
}

void DemoteLruPolicy::Expire() {
  const uint64_t horizon = std::max<uint64_t>(
      1, static_cast<uint64_t>(kHorizonTurnovers * static_cast<double>(max_tracked_)));
  while (!shadow_order_.empty() && shadow_order_.front().second + horizon <= inserts_) {
    const auto [key, since] = shadow_order_.front();
    shadow_order_.pop_front();
    auto it = shadow_.find(key);
    if (it == shadow_.end() || it->second.since != since) continue;
    Outcome(it->second.cls, false);
    shadow_.erase(it);
  }
}

double DemoteLruPolicy::reuse_rate(Class c) const {
  return total_[c] > 0 ? reused_[c] / total_[c] : 0;
}

bool DemoteLruPolicy::demoted(Class c) const {
  if (total_[c] < kMinOutcomes) return false;
  double reused = 0, total = 0;
  for (size_t i = 0; i < kNumClasses; ++i) {
    reused += reused_[i];
    total += total_[i];
  }
  return reused_[c] < kDemoteRatio * (reused / total) * total_[c];
}

uint32_t DemoteLruPolicy::PushFront(uint32_t head, BlockId id) {
  const uint32_t n = eviction_internal::TakeNode(nodes_, free_nodes_);
  nodes_[n].id = id;
  LinkFront(head, n);
  return n;
}

void DemoteLruPolicy::LinkFront(uint32_t head, uint32_t node) {
  const uint32_t first = nodes_[head].next;
  nodes_[node].prev = head;
  nodes_[node].next = first;
  nodes_[first].prev = node;
  nodes_[head].next = node;
}

void DemoteLruPolicy::Unlink(uint32_t node) {
  const Node& n = nodes_[node];
  nodes_[n.prev].next = n.next;
  nodes_[n.next].prev = n.prev;
}

void DemoteLruPolicy::OnInsert(BlockId id, const BlockInfo& info) {
  auto [slot, inserted] = blocks_.try_emplace(id);
  if (!inserted) return;  // REQUIRES violated; keep the existing entry.
  if (blocks_.size() > max_tracked_) {
    max_tracked_ = blocks_.size();
    if (door_[0].empty() || (max_tracked_ & (max_tracked_ - 1)) == 0) Grow();
  }
  ++inserts_;
  Expire();
  const uint64_t mixed = MixKeyHash(info.key_hash);
  Referenced(info.key_hash, mixed);
  const bool partial = info.tokens != 0 && info.tokens < max_tokens_;
  max_tokens_ = std::max(max_tokens_, info.tokens);
  const bool seen = DoorkeeperHas(mixed);
  DoorkeeperAdd(mixed);
  const Class cls = static_cast<Class>((partial ? 2 : 0) + (seen ? 1 : 0));
  if (Sampled(mixed)) {
    shadow_[info.key_hash] = Watch{inserts_, cls};
    shadow_order_.emplace_back(info.key_hash, inserts_);
  }
  Entry& e = slot->second;
  e.key_hash = info.key_hash;
  e.probation = demoted(cls);
  e.node = PushFront(e.probation ? kProbation : kMain, id);
}

void DemoteLruPolicy::OnAccess(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Entry& e = it->second;
  Unlink(e.node);
  LinkFront(kMain, e.node);
  e.probation = false;
  if (!shadow_.empty()) Referenced(e.key_hash, MixKeyHash(e.key_hash));
}

void DemoteLruPolicy::OnErase(BlockId id) {
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return;
  Unlink(it->second.node);
  free_nodes_.push_back(it->second.node);
  blocks_.erase(it);
}

std::optional<BlockId> DemoteLruPolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  for (const uint32_t head : {kProbation, kMain}) {
    for (uint32_t n = nodes_[head].prev; n != head; n = nodes_[n].prev) {
      if (can_evict(nodes_[n].id)) return nodes_[n].id;
    }
  }
  return std::nullopt;
}

bool DemoteLruPolicy::TEST_on_probation(BlockId id) const {
  auto it = blocks_.find(id);
  return it != blocks_.end() && it->second.probation;
}

size_t DemoteLruPolicy::TEST_learning_bytes() const {
  return (door_[0].size() + door_[1].size()) * sizeof(uint64_t) +
         shadow_.capacity() * (sizeof(uint64_t) + sizeof(Watch) + 1) +
         shadow_order_.size() * sizeof(std::pair<uint64_t, uint64_t>);
}

}  // namespace strata
