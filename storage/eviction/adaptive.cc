#include "storage/eviction/adaptive.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"

namespace strata {
absl::StatusOr<std::unique_ptr<AdaptivePolicy>> AdaptivePolicy::Create(const Options& options) {
  if (options.candidates.empty()) {
    return absl::InvalidArgumentError("adaptive: needs at least one candidate policy");
  }
  if (options.candidates.size() > kMaxCandidates) {
    return absl::InvalidArgumentError(absl::StrCat("adaptive: ", options.candidates.size(),
                                                   " candidate policies, at most ",
                                                   kMaxCandidates));
  }
  if (options.target_sample_blocks == 0) {
    return absl::InvalidArgumentError("adaptive: target_sample_blocks must be at least 1");
  }
  std::vector<Candidate> candidates;
  for (const std::string& name : options.candidates) {
    if (name == "adaptive") {
      return absl::InvalidArgumentError("adaptive: cannot be its own candidate");
    }
    auto mini = MakeEvictionPolicy(name);
    if (!mini.ok()) return mini.status();
    Candidate c;
    c.name = name;
    c.mini = std::move(*mini);
    candidates.push_back(std::move(c));
  }
  auto running = MakeEvictionPolicy(options.candidates[0]);
  if (!running.ok()) return running.status();
  return std::unique_ptr<AdaptivePolicy>(
      new AdaptivePolicy(options, std::move(candidates), std::move(*running)));
}

AdaptivePolicy::AdaptivePolicy(const Options& options, std::vector<Candidate> candidates,
                               std::unique_ptr<EvictionPolicy> running)
    : options_(options),
      candidates_(std::move(candidates)),
      policy_(std::move(running)),
      shift_(std::clamp(options.min_shift, 0, kMaxShift)) {}

uint8_t AdaptivePolicy::SampleLevel(uint64_t key_hash) {
  // The top `shift` bits of the mixed hash are zero (rate 2^-shift) exactly when it has at least
  // `shift` leading zeros; shift 0 samples every key.
  return static_cast<uint8_t>(absl::countl_zero(MixKeyHash(key_hash)));
}

size_t AdaptivePolicy::sample_capacity() const {
  return std::max<size_t>(1, max_tracked_ >> shift_);
}

size_t AdaptivePolicy::sampled_blocks() const {
  size_t n = 0;
  for (const Candidate& c : candidates_) n += c.held;
  return n;
}

std::vector<double> AdaptivePolicy::TEST_scores() const {
  std::vector<double> out;
  for (const Candidate& c : candidates_) out.push_back(c.score);
  return out;
}

void AdaptivePolicy::Resample() {
  int shift = shift_;
  while (shift < kMaxShift && (max_tracked_ >> shift) > options_.target_sample_blocks) ++shift;
  if (shift != shift_) {
    shift_ = shift;
    // Keys that left the sample leave every miniature.
    for (auto it = sampled_.begin(); it != sampled_.end();) {
      if (Sampled(SampleLevel(it->first))) {
        ++it;
        continue;
      }
      for (size_t i = 0; i < candidates_.size(); ++i) {
        if ((it->second >> i & 1) == 0) continue;
        candidates_[i].mini->OnErase(it->first);
        --candidates_[i].held;
      }
      sampled_.erase(it++);
    }
  }
  decay_ =
      std::exp2(-1.0 / (options_.half_life_turnovers * static_cast<double>(sample_capacity())));
}

void AdaptivePolicy::Reference(const BlockInfo& info, uint8_t level) {
  if (!Sampled(level)) return;
  ++sampled_refs_;
  const size_t cap = sample_capacity();
  const uint64_t key = info.key_hash;
  // Evicting from a miniature only erases other keys' entries, which leaves `self` valid.
  auto self = sampled_.try_emplace(key, 0).first;
  uint32_t held = self->second;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    Candidate& c = candidates_[i];
    const uint32_t bit = uint32_t{1} << i;
    c.score *= decay_;
    c.hit = (held & bit) != 0;
    if (c.hit) {
      c.score += 1;
      c.mini->OnAccess(key);
      continue;
    }
    bool room = true;
    while (c.held >= cap) {
      std::optional<BlockId> victim = c.mini->PickVictim([](BlockId) { return true; });
      if (!victim.has_value()) {
        room = false;
        break;
      }
      c.mini->OnErase(*victim);
      --c.held;
      auto v = sampled_.find(*victim);
      if (v != sampled_.end() && (v->second &= ~bit) == 0) sampled_.erase(v);
    }
    if (!room) continue;
    held |= bit;
    ++c.held;
    c.mini->OnInsert(key, info);
  }
  if (held == 0) {
    sampled_.erase(self);
  } else {
    self->second = held;
  }
  const bool running_hit = candidates_[running_].hit;
  for (Candidate& c : candidates_) c.discordant = c.discordant * decay_ + (c.hit != running_hit);
  if (sampled_refs_ >= next_check_ref_) {
    next_check_ref_ = sampled_refs_ + std::max<size_t>(16, cap / 4);
    MaybeSwitch();
  }
}

void AdaptivePolicy::MaybeSwitch() {
  size_t best = running_;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (candidates_[i].score > candidates_[best].score) best = i;
  }
  if (best == running_) return;
  const double lead = candidates_[best].score - candidates_[running_].score;
  const double since = static_cast<double>(sampled_refs_ - last_switch_ref_);
  const double settled = static_cast<double>(sampled_refs_ - last_growth_ref_);
  // The lead must beat noise (McNemar): both miniatures see the same references, so the
  // difference of their hits is the difference of the references only one of them hit, whose
  // standard deviation is about sqrt(the number of such references) when neither is better.
  const double noise = options_.switch_sigmas * std::sqrt(candidates_[best].discordant);
  // The spacing keeps a stationary trace from flipping between two near-equal choices; before
  // the first switch the running policy is the starting guess, not a choice, so only the lead
  // and the tier's warm-up gate leaving it.
  const bool spaced = switches_ == 0 || since >= options_.min_turnovers_between_switches *
                                                     static_cast<double>(sample_capacity());
  if (lead > 2 && lead > noise && lead > options_.switch_margin * candidates_[running_].score &&
      spaced && full_ && settled >= static_cast<double>(sample_capacity())) {
    SwitchTo(best);
  }
}

void AdaptivePolicy::SwitchTo(size_t candidate) {
  auto made = MakeEvictionPolicy(candidates_[candidate].name);
  if (!made.ok()) return;  // every candidate was made once in Create: unreachable
  std::vector<std::pair<uint64_t, BlockId>> order;
  order.reserve(resident_.size());
  for (const auto& [id, r] : resident_) order.emplace_back(r.last_use, id);
  std::sort(order.begin(), order.end());
  // In last-use order, each block inserted then touched once per later use it had: every block
  // becomes the most recent in turn, so recency order is kept and use counts carry over.
  for (const auto& [use, id] : order) {
    const Resident& r = resident_[id];
    (*made)->OnInsert(id, r.info);
    for (uint32_t u = 1; u < r.uses; ++u) (*made)->OnAccess(id);
  }
  for (const auto& [id, r] : resident_) {
    if (r.children > 0) (*made)->OnResidentChildren(id, r.children);
  }
  policy_ = std::move(*made);
  running_ = candidate;
  for (Candidate& c : candidates_) c.discordant = 0;
  last_switch_ref_ = sampled_refs_;
  ++switches_;
}

void AdaptivePolicy::OnInsert(BlockId id, const BlockInfo& info) {
  const uint8_t level = SampleLevel(info.key_hash);
  resident_[id] = Resident{info, 0, 1, level, ++clock_};
  policy_->OnInsert(id, info);
  if (resident_.size() > max_tracked_) {
    max_tracked_ = resident_.size();
    if (max_tracked_ * 16 > growth_base_ * 17) {
      // The tier is still filling: the miniatures model a smaller cache than the one that
      // will run, so their lead so far does not count.
      growth_base_ = max_tracked_;
      last_growth_ref_ = sampled_refs_;
    }
    if ((max_tracked_ >> shift_) > options_.target_sample_blocks || decay_ == 1 ||
        (max_tracked_ & (max_tracked_ - 1)) == 0) {
      Resample();
    }
  }
  Reference(info, level);
}

void AdaptivePolicy::OnAccess(BlockId id) {
  auto it = resident_.find(id);
  if (it == resident_.end()) return;
  it->second.last_use = ++clock_;
  if (it->second.uses < kMaxReplayedUses) ++it->second.uses;
  policy_->OnAccess(id);
  Reference(it->second.info, it->second.level);
}

void AdaptivePolicy::OnErase(BlockId id) {
  auto it = resident_.find(id);
  if (it == resident_.end()) return;
  resident_.erase(it);
  policy_->OnErase(id);
}

void AdaptivePolicy::OnResidentChildren(BlockId id, uint32_t resident_children) {
  auto it = resident_.find(id);
  if (it == resident_.end()) return;
  it->second.children = resident_children;
  policy_->OnResidentChildren(id, resident_children);
  if (resident_children == 0 || !Sampled(it->second.level)) return;
  const uint64_t key = it->second.info.key_hash;
  auto s = sampled_.find(key);
  if (s == sampled_.end()) return;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if ((s->second >> i & 1) == 0) continue;
    candidates_[i].mini->OnResidentChildren(key, 1);
    candidates_[i].mini->OnResidentChildren(key, 0);
  }
}

std::optional<BlockId> AdaptivePolicy::PickVictim(absl::FunctionRef<bool(BlockId)> can_evict) {
  full_ = true;
  return policy_->PickVictim(can_evict);
}

}  // namespace strata
