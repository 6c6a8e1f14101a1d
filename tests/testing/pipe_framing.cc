#include "tests/testing/pipe_framing.h"

#include <poll.h>
#include <unistd.h>

#include "absl/time/clock.h"

namespace strata::testing {

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t size, absl::Duration timeout) {
  char* p = static_cast<char*>(data);
  const absl::Time deadline = absl::Now() + timeout;
  while (size > 0) {
    pollfd pfd{fd, POLLIN, 0};
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0 || poll(&pfd, 1, static_cast<int>(ms)) <= 0) return false;
    const ssize_t n = read(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteBlob(int fd, const std::string& blob) {
  const uint32_t size = static_cast<uint32_t>(blob.size());
  return WriteAll(fd, &size, sizeof(size)) && WriteAll(fd, blob.data(), blob.size());
}

bool ReadBlob(int fd, std::string* blob, absl::Duration timeout) {
  uint32_t size = 0;
  if (!ReadAll(fd, &size, sizeof(size), timeout) || size > kMaxPipeBlob) return false;
  blob->resize(size);
  return ReadAll(fd, blob->data(), size, timeout);
}

bool WritePeerRegion(int fd, const std::string& address, const transfer::RegionDescriptor& region) {
  return WriteBlob(fd, address) && WriteAll(fd, &region.base, sizeof(region.base)) &&
         WriteAll(fd, &region.length, sizeof(region.length)) && WriteBlob(fd, region.packed_rkey);
}

bool ReadPeerRegion(int fd, std::string* address, transfer::RegionDescriptor* region,
                    absl::Duration timeout) {
  return ReadBlob(fd, address, timeout) &&
         ReadAll(fd, &region->base, sizeof(region->base), timeout) &&
         ReadAll(fd, &region->length, sizeof(region->length), timeout) &&
         ReadBlob(fd, &region->packed_rkey, timeout);
}

}  // namespace strata::testing
