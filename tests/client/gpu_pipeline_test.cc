// The staging pipeline and the in-memory copier twin, without a node: chunk planning at the
// boundaries, the order in which copies and sends overlap, and errors in the middle of a batch.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "client/gpu_staging.h"
#include "client/internal/gpu_pipeline.h"

namespace strata::gpu {
namespace {

using Log = std::vector<MemoryCopier::LogEntry>;

std::vector<size_t> Counts(const std::vector<StagingChunk>& chunks) {
  std::vector<size_t> out;
  for (const StagingChunk& c : chunks) out.push_back(c.count);
  return out;
}

TEST(PlanChunksTest, CutsAtTheChunkBoundary) {
  // Exactly N chunks: four blocks of a quarter chunk fill one, eight fill two.
  EXPECT_EQ(Counts(PlanChunks(std::vector<uint64_t>(8, 256), 1024)), (std::vector<size_t>{4, 4}));
  // Not a multiple: the ninth block opens a third chunk.
  EXPECT_EQ(Counts(PlanChunks(std::vector<uint64_t>(9, 256), 1024)),
            (std::vector<size_t>{4, 4, 1}));
  // One byte; blocks of exactly a chunk; a block one byte short of a chunk leaves room for one.
  EXPECT_EQ(Counts(PlanChunks({1}, 1024)), (std::vector<size_t>{1}));
  EXPECT_EQ(Counts(PlanChunks({1024, 1024, 1024}, 1024)), (std::vector<size_t>{1, 1, 1}));
  EXPECT_EQ(Counts(PlanChunks({1023, 1, 2}, 1024)), (std::vector<size_t>{2, 1}));
  const std::vector<StagingChunk> c = PlanChunks({100, 200, 900}, 1024);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].local, (std::vector<uint64_t>{0, 100}));
  EXPECT_EQ(c[0].bytes, 300u);
  EXPECT_EQ(c[1].first, 2u);
  EXPECT_EQ(c[1].local, (std::vector<uint64_t>{0}));
  EXPECT_TRUE(PlanChunks({}, 1024).empty());
}

TEST(MemoryCopierTest, KnowsItsDeviceMemoryAndRefusesCopiesOutsideIt) {
  MemoryCopier copier;
  auto device = copier.AllocDevice(1000);
  ASSERT_TRUE(device.ok());
  std::string host(100, 'h');
  EXPECT_TRUE(*copier.IsDeviceMemory((*device)->data() + 999));
  EXPECT_FALSE(*copier.IsDeviceMemory(host.data()));
  auto stream = copier.NewStream();
  ASSERT_TRUE(stream.ok());
  absl::Status st = (*stream)->CopyToHost(host.data(), (*device)->data() + 950, 100);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("overrun"), std::string::npos) << st;
  EXPECT_EQ((*stream)->CopyToDevice(host.data(), host.data(), 10).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryCopierTest, CopiesLandOnlyWhenAnEventAfterThemIsWaitedOn) {
  MemoryCopier copier;
  auto device = copier.AllocDevice(16);
  std::memcpy((*device)->data(), "device-bytes-abc", 16);
  std::string host(16, '.');
  auto stream = copier.NewStream();
  ASSERT_TRUE((*stream)->CopyToHost(host.data(), (*device)->data(), 16).ok());
  auto event = (*stream)->Record();
  EXPECT_EQ(host, std::string(16, '.'));  // not yet: reading now would be a bug
  ASSERT_TRUE((*event)->Wait().ok());
  EXPECT_EQ(host, "device-bytes-abc");
}

// Index of the first log entry matching `pred`, or log.size().
template <typename Pred>
size_t Find(const Log& log, Pred pred) {
  for (size_t i = 0; i < log.size(); ++i)
    if (pred(log[i])) return i;
  return log.size();
}
size_t NoteAt(const Log& log, const std::string& note) {
  return Find(log, [&](const auto& e) { return e.kind == MemoryCopier::LogEntry::kNote && e.note == note; });
}
size_t CopyAt(const Log& log, MemoryCopier::LogEntry::Kind kind, const char* device) {
  return Find(log, [&](const auto& e) { return e.kind == kind && e.device == device; });
}

struct Fixture {
  MemoryCopier copier;
  std::unique_ptr<CopierMemory> device, slot0, slot1;
  std::unique_ptr<CopyStream> stream;
  Fixture(size_t device_bytes, size_t chunk) {
    device = *copier.AllocDevice(device_bytes);
    slot0 = *copier.AllocPinned(chunk);
    slot1 = *copier.AllocPinned(chunk);
    stream = *copier.NewStream();
    for (size_t i = 0; i < device_bytes; ++i) device->data()[i] = static_cast<char>(i * 7 + 3);
  }
  Slots slots() const { return {slot0->data(), slot1->data()}; }
};

TEST(PipelinePutTest, StagesTheNextChunkWhileThisOneIsSent) {
  // Six blocks of 100 bytes, two per 256-byte chunk: three chunks.
  Fixture f(600, 256);
  std::vector<uint64_t> offsets{0, 100, 200, 300, 400, 500}, sizes(6, 100);
  const auto chunks = PlanChunks(sizes, 256);
  ASSERT_EQ(chunks.size(), 3u);
  std::string sent;
  SendChunk send = [&](int slot, const StagingChunk& chunk)
      -> absl::StatusOr<std::vector<absl::Status>> {
    f.copier.Note("send-begin " + std::to_string(chunk.first / 2));
    sent.append(f.slots()[slot], chunk.bytes);
    f.copier.Note("send-end " + std::to_string(chunk.first / 2));
    return std::vector<absl::Status>(chunk.count);
  };
  auto r = PipelinePut(*f.stream, f.slots(), f.device->data(), offsets, sizes, chunks, send);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 6u);
  EXPECT_EQ(sent, std::string(f.device->data(), 600));  // every byte, in order
  const Log log = f.copier.log();
  for (int c = 0; c < 3; ++c) {
    const size_t begin = NoteAt(log, "send-begin " + std::to_string(c));
    const size_t end = NoteAt(log, "send-end " + std::to_string(c));
    ASSERT_LT(end, log.size());
    // Chunk c's bytes were in the slot before it was sent...
    EXPECT_LT(CopyAt(log, MemoryCopier::LogEntry::kRunToHost, f.device->data() + 200 * c + 100),
              begin);
    // ...and the copy of chunk c+1 was issued before chunk c's send completed.
    if (c < 2) {
      EXPECT_LT(CopyAt(log, MemoryCopier::LogEntry::kIssueToHost, f.device->data() + 200 * (c + 1)),
                end)
          << "chunk " << c + 1 << " was not staged while chunk " << c << " was sent";
    }
  }
}

TEST(PipelineGetTest, ReceivesTheNextChunkWhileThisOneIsCopiedToTheDevice) {
  Fixture f(600, 256);
  std::memset(f.device->data(), 0, 600);
  std::vector<uint64_t> offsets{0, 100, 200, 300, 400, 500}, caps(6, 100);
  const auto chunks = PlanChunks(caps, 256);
  std::string source(600, '\0');
  for (size_t i = 0; i < 600; ++i) source[i] = static_cast<char>(i * 13 + 1);
  ReceiveChunk receive = [&](int slot, const StagingChunk& chunk)
      -> absl::StatusOr<std::vector<GetIntoResult>> {
    f.copier.Note("recv-begin " + std::to_string(chunk.first / 2));
    std::vector<GetIntoResult> out(chunk.count);
    for (size_t j = 0; j < chunk.count; ++j) {
      // The last item is a miss: nothing is copied for it.
      if (chunk.first + j == 5) {
        out[j].status = absl::NotFoundError("miss");
        continue;
      }
      std::memcpy(f.slots()[slot] + chunk.local[j], source.data() + 100 * (chunk.first + j), 100);
      out[j].size = 100;
    }
    return out;
  };
  auto r = PipelineGet(*f.stream, f.slots(), f.device->data(), offsets, chunks, receive);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::string(f.device->data(), 500), source.substr(0, 500));
  EXPECT_EQ(std::string(f.device->data() + 500, 100), std::string(100, '\0'));
  EXPECT_EQ((*r)[5].status.code(), absl::StatusCode::kNotFound);
  const Log log = f.copier.log();
  for (int c = 0; c < 2; ++c) {
    const size_t next = NoteAt(log, "recv-begin " + std::to_string(c + 1));
    const char* first = f.device->data() + 200 * c;
    EXPECT_LT(CopyAt(log, MemoryCopier::LogEntry::kIssueToDevice, first), next);
    // Chunk c's copy to the device was still in flight when chunk c+1 began to arrive.
    EXPECT_GT(CopyAt(log, MemoryCopier::LogEntry::kRunToDevice, first), next)
        << "chunk " << c << " was copied to the device before chunk " << c + 1 << " was received";
  }
}

TEST(PipelinePutTest, AFailedSendEndsTheBatchWithNoCopyInFlight) {
  Fixture f(600, 256);
  std::vector<uint64_t> offsets{0, 100, 200, 300, 400, 500}, sizes(6, 100);
  int sends = 0;
  SendChunk send = [&](int, const StagingChunk& chunk) -> absl::StatusOr<std::vector<absl::Status>> {
    if (++sends == 2) return absl::UnavailableError("node went away");
    return std::vector<absl::Status>(chunk.count);
  };
  auto r = PipelinePut(*f.stream, f.slots(), f.device->data(), offsets, sizes,
                       PlanChunks(sizes, 256), send);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sends, 2);
  // Chunk 2 had been staged; the stream was drained before returning.
  const Log log = f.copier.log();
  EXPECT_LT(CopyAt(log, MemoryCopier::LogEntry::kRunToHost, f.device->data() + 500), log.size());
}

}  // namespace
}  // namespace strata::gpu
