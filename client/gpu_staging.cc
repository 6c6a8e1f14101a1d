// The in-memory DeviceCopier twin (gpu_staging.h). The CUDA copier is in gpu_staging_cuda.cc.
#include "client/gpu_staging.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "absl/strings/str_cat.h"

namespace strata::gpu {

// Copies wait in `queue_` until an event recorded after them is waited on: that is when the bytes
// move, as late as CUDA may move them.
class MemoryCopier::Stream : public CopyStream {
 public:
  explicit Stream(MemoryCopier* owner) : owner_(owner) {}

  absl::Status CopyToHost(char* host, const char* device, size_t n) override {
    if (absl::Status st = owner_->CheckDevice(device, n, "CopyToHost source"); !st.ok()) return st;
    if (host == nullptr) return absl::InvalidArgumentError("CopyToHost: null host pointer");
    owner_->Append({LogEntry::kIssueToHost, device, n, ""});
    queue_.push_back(Op{true, host, device, n});
    ++issued_;
    return absl::OkStatus();
  }

  absl::Status CopyToDevice(char* device, const char* host, size_t n) override {
    if (absl::Status st = owner_->CheckDevice(device, n, "CopyToDevice destination"); !st.ok()) {
      return st;
    }
    if (host == nullptr) return absl::InvalidArgumentError("CopyToDevice: null host pointer");
    owner_->Append({LogEntry::kIssueToDevice, device, n, ""});
    queue_.push_back(Op{false, device, host, n});
    ++issued_;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<CopyEvent>> Record() override {
    owner_->Append({LogEntry::kRecord, nullptr, 0, ""});
    return std::unique_ptr<CopyEvent>(new Event(this, issued_));
  }

  absl::Status Synchronize() override {
    RunUpTo(issued_);
    return absl::OkStatus();
  }

 private:
  struct Op {
    bool to_host;
    char* dst;
    const char* src;
    size_t n;
  };
  class Event : public CopyEvent {
   public:
    Event(Stream* stream, uint64_t upto) : stream_(stream), upto_(upto) {}
    absl::Status Wait() override {
      stream_->owner_->Append({LogEntry::kWait, nullptr, 0, ""});
      stream_->RunUpTo(upto_);
      return absl::OkStatus();
    }

   private:
    Stream* const stream_;
    const uint64_t upto_;
  };

  void RunUpTo(uint64_t upto) {
    while (done_ < upto && !queue_.empty()) {
      const Op op = queue_.front();
      queue_.pop_front();
      std::memcpy(op.dst, op.src, op.n);
      owner_->Append({op.to_host ? LogEntry::kRunToHost : LogEntry::kRunToDevice,
                      op.to_host ? op.src : op.dst, op.n, ""});
      ++done_;
    }
  }

  MemoryCopier* const owner_;
  std::deque<Op> queue_;
  uint64_t issued_ = 0;
  uint64_t done_ = 0;
};

absl::StatusOr<bool> MemoryCopier::IsDeviceMemory(const void* ptr) const {
  return CheckDevice(static_cast<const char*>(ptr), 1, "pointer").ok();
}

absl::Status MemoryCopier::CheckDevice(const char* ptr, size_t n, std::string_view what) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [base, size] : device_) {
    if (ptr >= base && ptr < base + size) {
      if (n > static_cast<size_t>(base + size - ptr)) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": ", n, " bytes at offset ",
                                                       ptr - base, " overrun a device allocation of ",
                                                       size, " bytes"));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": not device memory"));
}

absl::StatusOr<std::unique_ptr<CopierMemory>> MemoryCopier::AllocPinned(size_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("AllocPinned: zero bytes");
  char* p = static_cast<char*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
  if (p == nullptr) return absl::ResourceExhaustedError("AllocPinned: out of memory");
  {
    absl::MutexLock lock(&mu_);
    pinned_bytes_ += bytes;
  }
  return std::make_unique<CopierMemory>(p, bytes, [this, bytes](char* q) {
    std::free(q);
    absl::MutexLock lock(&mu_);
    pinned_bytes_ -= bytes;
  });
}

absl::StatusOr<std::unique_ptr<CopierMemory>> MemoryCopier::AllocDevice(size_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("AllocDevice: zero bytes");
  char* p = static_cast<char*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
  if (p == nullptr) return absl::ResourceExhaustedError("AllocDevice: out of memory");
  {
    absl::MutexLock lock(&mu_);
    device_.emplace_back(p, bytes);
  }
  return std::make_unique<CopierMemory>(p, bytes, [this](char* q) {
    {
      absl::MutexLock lock(&mu_);
      device_.erase(std::remove_if(device_.begin(), device_.end(),
                                   [q](const auto& d) { return d.first == q; }),
                    device_.end());
    }
    std::free(q);
  });
}

absl::StatusOr<std::unique_ptr<CopyStream>> MemoryCopier::NewStream() {
  return std::unique_ptr<CopyStream>(new Stream(this));
}

void MemoryCopier::Note(std::string note) { Append({LogEntry::kNote, nullptr, 0, std::move(note)}); }

void MemoryCopier::Append(LogEntry entry) {
  absl::MutexLock lock(&mu_);
  log_.push_back(std::move(entry));
}

std::vector<MemoryCopier::LogEntry> MemoryCopier::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

size_t MemoryCopier::pinned_bytes() const {
  absl::MutexLock lock(&mu_);
  return pinned_bytes_;
}

}  // namespace strata::gpu
