// strata-bench compare: the limits measured in the same run as the stores, to say how close to
// the hardware and the transport each store gets.
#ifndef STRATA_BENCH_COMPARE_LIMITS_H_
#define STRATA_BENCH_COMPARE_LIMITS_H_

#include <cstddef>
#include <optional>

namespace strata::bench {

// Loopback TCP between two threads of this process: one writes `chunk_bytes` at a time into a
// connected 127.0.0.1 socket, the other reads into its own buffer. GB/s (1e9 B/s) over `seconds`
// (or 4 GiB, whichever comes first); nullopt when the sockets cannot be set up.
std::optional<double> TcpSocketPairGbps(size_t chunk_bytes, double seconds);

}  // namespace strata::bench

#endif  // STRATA_BENCH_COMPARE_LIMITS_H_
