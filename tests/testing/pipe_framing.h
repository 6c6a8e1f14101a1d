// Framing for a parent and a child process talking over pipes (or any blocking fd): whole
// buffers, length-prefixed blobs (a 4-byte native-endian length, then the bytes), and the
// hand-over of a UCX peer that serves a registered region to the process driving it. Reads are
// bounded by a deadline; a closed pipe, an error or the deadline all read as false.
#ifndef STRATA_TESTS_TESTING_PIPE_FRAMING_H_
#define STRATA_TESTS_TESTING_PIPE_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "transfer/transport.h"

namespace strata::testing {

// The largest blob ReadBlob accepts (a larger length reads as a broken stream).
inline constexpr uint32_t kMaxPipeBlob = 1u << 20;

// Writes all `size` bytes; false when the fd fails or closes first.
bool WriteAll(int fd, const void* data, size_t size);
// Reads exactly `size` bytes, waiting at most `timeout` in total.
bool ReadAll(int fd, void* data, size_t size, absl::Duration timeout);

// A blob of at most kMaxPipeBlob bytes.
bool WriteBlob(int fd, const std::string& blob);
// Reads a blob; `timeout` bounds the length and the bytes each (as two ReadAll calls).
bool ReadBlob(int fd, std::string* blob, absl::Duration timeout);

// A peer's worker address, then its region's descriptor: base and length (8 bytes each, native
// endian) and the packed rkey as a blob. Each of ReadPeerRegion's four reads waits at most
// `timeout`.
bool WritePeerRegion(int fd, const std::string& address, const transfer::RegionDescriptor& region);
bool ReadPeerRegion(int fd, std::string* address, transfer::RegionDescriptor* region,
                    absl::Duration timeout);

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_PIPE_FRAMING_H_
