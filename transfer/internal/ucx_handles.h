// RAII owners for UCX handles (STYLE.md practice 9). Each deleter is the one UCX call that
// releases the handle; handles that need their parent (memh needs the context, the worker
// address needs the worker) carry it in the deleter.
#ifndef STRATA_TRANSFER_INTERNAL_UCX_HANDLES_H_
#define STRATA_TRANSFER_INTERNAL_UCX_HANDLES_H_

#include <ucp/api/ucp.h>

#include <memory>

namespace strata::transfer::internal {

struct UcpConfigDeleter {
  void operator()(ucp_config_t* config) const { ucp_config_release(config); }
};
using UcpConfigPtr = std::unique_ptr<ucp_config_t, UcpConfigDeleter>;

struct UcpContextDeleter {
  void operator()(ucp_context* context) const { ucp_cleanup(context); }
};
using UcpContextPtr = std::unique_ptr<ucp_context, UcpContextDeleter>;

struct UcpWorkerDeleter {
  void operator()(ucp_worker* worker) const { ucp_worker_destroy(worker); }
};
using UcpWorkerPtr = std::unique_ptr<ucp_worker, UcpWorkerDeleter>;

struct UcpWorkerAddressDeleter {
  ucp_worker_h worker = nullptr;
  void operator()(ucp_address_t* address) const { ucp_worker_release_address(worker, address); }
};
using UcpWorkerAddressPtr = std::unique_ptr<ucp_address_t, UcpWorkerAddressDeleter>;

struct UcpMemDeleter {
  ucp_context_h context = nullptr;
  void operator()(ucp_mem* memh) const { ucp_mem_unmap(context, memh); }
};
using UcpMemPtr = std::unique_ptr<ucp_mem, UcpMemDeleter>;

struct UcpRkeyBufferDeleter {
  void operator()(void* buffer) const { ucp_rkey_buffer_release(buffer); }
};
using UcpRkeyBufferPtr = std::unique_ptr<void, UcpRkeyBufferDeleter>;

struct UcpRkeyDeleter {
  void operator()(ucp_rkey* rkey) const { ucp_rkey_destroy(rkey); }
};
// An unpacked remote key; valid only with the endpoint it was unpacked on. UCX asks for it to be
// destroyed after the operations using it are flushed and before its endpoint is destroyed; a
// forced close does both at once (it purges the operations, then releases the endpoint), so
// UcxTransport closes first and destroys the rkeys right after: no operation can use them then,
// and in UCX 1.13 releasing an rkey touches only its memory domains, not the endpoint.
using UcpRkeyPtr = std::unique_ptr<ucp_rkey, UcpRkeyDeleter>;

}  // namespace strata::transfer::internal

#endif  // STRATA_TRANSFER_INTERNAL_UCX_HANDLES_H_
