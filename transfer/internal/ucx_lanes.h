// Reads which transports UCX chose for an endpoint, to pick the data-plane protocol.
//
// UCX 1.13 has no API that says whether an endpoint's RMA is native: ucp_ep_query only reports
// names and socket addresses. What it does print (ucp_ep_print_info, the same text as
// `ucx_info -e`) is the endpoint configuration: one line per lane ("lane[2]: 2:cma/memory.0 ...
// rma_bw#0") and one "put[N]:" / "get[N]:" line per RMA lane. With the v1 protocols (1.13's
// default) ucp_put_nbx/ucp_get_nbx run natively only on an RMA lane whose memory domain can reach
// memory the peer registered with ucp_mem_map; otherwise UCX emulates them in software over
// active messages, which needs the peer's CPU and is slower than Strata's own AM rendezvous here
// (docs/data-plane.md: 2-4x over tcp; over shm from par to 20x depending on size and load). Of the
// transports UCX ships, the RMA lanes that reach registered memory are RDMA (rc/dc) and xpmem.
// sysv/posix RMA lanes reach only memory they allocated themselves, and cma and knem are used only
// as rendezvous (rma_bw) lanes -- which the active-message rendezvous path uses, zero-copy.
// So: native RMA <=> the endpoint has an RMA lane on rc/dc/xpmem.
#ifndef STRATA_TRANSFER_INTERNAL_UCX_LANES_H_
#define STRATA_TRANSFER_INTERNAL_UCX_LANES_H_

#include <ucp/api/ucp.h>

#include <string>
#include <string_view>

namespace strata::transfer::internal {

struct EndpointLanes {
  bool native_rma = false;
  std::string transports;  // e.g. "sysv/memory,posix/memory,cma/memory" or "tcp/lo"
};

// Parses the text printed by ucp_ep_print_info. Pure, for tests.
EndpointLanes ParseEndpointInfo(std::string_view text);
// Prints the endpoint's configuration to memory and parses it.
EndpointLanes InspectEndpoint(ucp_ep_h ep);

// Whether the context has any resource that does RMA without the peer's CPU (shared memory,
// cma, knem, xpmem, rdma verbs, cuda ipc), from the "resource N : ... flags -- tl/dev" lines of
// ucp_context_print_info. For Capabilities; the per-endpoint choice uses InspectEndpoint.
bool ParseContextHasNativeRma(std::string_view text);
bool ContextHasNativeRma(ucp_context_h context);

// Whether the context has an active-message transport that supports UCP_ERR_HANDLING_MODE_PEER
// (tcp, rdma). Without one -- UCX_TLS=sm in UCX 1.13, whose sysv/posix transports cannot report
// peer failure -- ucp_ep_create in that mode can only fail (and logs an error saying so).
bool ParseContextHasPeerFailureTransport(std::string_view text);

// Whether the configuration's UCX_TLS can select a shared-memory transport (sm, shm, sysv, posix,
// all, or a negated list), from the text ucp_config_print writes. Shared-memory settings applied
// to a configuration without one make UCX warn on every worker.
bool ParseConfigMayUseSharedMemory(std::string_view text);
bool ConfigMayUseSharedMemory(const ucp_config_t* config);
bool ContextHasPeerFailureTransport(ucp_context_h context);

}  // namespace strata::transfer::internal

#endif  // STRATA_TRANSFER_INTERNAL_UCX_LANES_H_
