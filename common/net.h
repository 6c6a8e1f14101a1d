// Address helpers shared by the node and the client: which hosts are loopback (DESIGN.md
// section 7: a loopback node and its clients keep UCX on the loopback device).
#ifndef STRATA_COMMON_NET_H_
#define STRATA_COMMON_NET_H_

#include <string_view>

namespace strata {

// True for 127.0.0.0/8, ::1 (bare or bracketed) and localhost.
inline bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.substr(0, 4) == "127.";
}

// True when `address` ("host:port", "[v6]:port" or a bare host) names a loopback host.
inline bool IsLoopbackAddress(std::string_view address) {
  std::string_view host = address;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    host = close == std::string_view::npos ? host : host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':');
             colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);  // one colon: host:port (several: a bare IPv6 host)
  }
  return IsLoopbackHost(host);
}

}  // namespace strata

#endif  // STRATA_COMMON_NET_H_
