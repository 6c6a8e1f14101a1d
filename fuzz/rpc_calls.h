// The calls the rpc fuzz target makes, by number: an input is a sequence of (call byte, length,
// serialized request) records (rpc_fuzzer.cc); write_seeds.cc writes seeds in the same numbering.
#ifndef STRATA_FUZZ_RPC_CALLS_H_
#define STRATA_FUZZ_RPC_CALLS_H_

#include <cstdint>

namespace strata::fuzz {

enum RpcCall : uint8_t {
  kPut,
  kGet,
  kExists,
  kRemove,
  kLookup,
  kEvict,
  kInspect,
  kHello,
  kRegisterRegion,
  kDeregisterRegion,
  kGoodbye,
  kGetInto,
  kPutFrom,
  kDataPlaneCall,  // the UCX message form of GetInto/PutFrom
  kStats,
  kCallCount,
};

}  // namespace strata::fuzz

#endif  // STRATA_FUZZ_RPC_CALLS_H_
