// Fuzz target: request validation of every CacheService and AdminService call the node serves
// (cachenode/node_core.h), from the wire bytes on: a request body is parsed as its proto, as the
// gRPC adapters do, and handed to NodeCore over a small in-memory store.
//
// Input: a sequence of calls, each one byte naming the call, two bytes (little-endian) of body
// length, then the body (the serialized request). A fresh core per input runs them in order, so
// a Put can be followed by the Get that checks it. Invariants checked:
//  - every call answers OK or a code the contract names (INVALID_ARGUMENT for a bad request,
//    NOT_FOUND, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNIMPLEMENTED for the data plane calls
//    of a node without one, UNAVAILABLE); never INTERNAL, UNKNOWN or a crash;
//  - a rejected Put stores nothing;
//  - every key a Put acknowledged reads back byte-exact right after (Get), and Exists says so;
//  - Get, Exists and Remove answer one result per key.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cachenode/node_core.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/rpc_calls.h"
#include "storage/mem_tier.h"

namespace {

using strata::v1::DataPlaneCall;

using namespace strata::fuzz;  // NOLINT: the call numbers

void CheckCode(const absl::Status& st) {
  using absl::StatusCode;
  switch (st.code()) {
    case StatusCode::kOk:
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kResourceExhausted:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
    case StatusCode::kUnavailable:
      return;
    default:
      std::fprintf(stderr, "unexpected status: %s\n", st.ToString().c_str());
      STRATA_FUZZ_CHECK(false, "a call answers a code its contract names");
  }
}

template <typename Request>
bool Parse(std::string_view body, Request* request) {
  return request->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

class Harness {
 public:
  Harness() {
    options_.limits.max_batch = 64;
    options_.limits.max_payload_bytes = 64 << 10;
    std::vector<std::unique_ptr<strata::Tier>> tiers;
    tiers.push_back(std::make_unique<strata::MemTier>(
        strata::MemTierOptions{.name = "dram", .capacity_bytes = 1 << 20}));
    tiers.push_back(std::make_unique<strata::MemTier>(
        strata::MemTierOptions{.name = "ssd", .capacity_bytes = 4 << 20}));
    strata::TieredStoreOptions store_options;
    store_options.shards = 2;
    store_ = *strata::TieredStore::Open(store_options, std::move(tiers));
    core_ = std::make_unique<strata::NodeCore>(store_.get(), options_,
                                               std::vector<strata::AbsentTier>{});
  }

  void Run(uint8_t call, std::string_view body) {
    switch (call % kCallCount) {
      case kPut:
        return Put(body);
      case kGet: {
        strata::v1::GetRequest r;
        if (!Parse(body, &r)) return;
        strata::v1::GetResponse out;
        absl::Status st = core_->Get(r, &out);
        CheckCode(st);
        if (st.ok()) STRATA_FUZZ_CHECK(out.items_size() == r.keys_size(), "one Get item per key");
        return;
      }
      case kExists: {
        strata::v1::ExistsRequest r;
        if (!Parse(body, &r)) return;
        strata::v1::ExistsResponse out;
        absl::Status st = core_->Exists(r, &out);
        CheckCode(st);
        if (st.ok()) STRATA_FUZZ_CHECK(out.present_size() == r.keys_size(), "one flag per key");
        return;
      }
      case kRemove: {
        strata::v1::RemoveRequest r;
        if (!Parse(body, &r)) return;
        strata::v1::RemoveResponse out;
        absl::Status st = core_->Remove(r, &out);
        CheckCode(st);
        if (st.ok()) STRATA_FUZZ_CHECK(out.removed_size() == r.keys_size(), "one flag per key");
        return;
      }
      case kLookup:
        return Simple<strata::v1::LookupRequest, strata::v1::LookupResponse>(
            body, &strata::NodeCore::Lookup);
      case kEvict:
        return Simple<strata::v1::EvictRequest, strata::v1::EvictResponse>(
            body, &strata::NodeCore::Evict);
      case kInspect:
        return Simple<strata::v1::InspectRequest, strata::v1::InspectResponse>(
            body, &strata::NodeCore::Inspect);
      case kHello: {
        strata::v1::HelloRequest r;
        if (!Parse(body, &r)) return;
        strata::v1::HelloResponse out;
        CheckCode(core_->Hello(r, &out));  // auth off: Access::Unrestricted()
        return;
      }
      case kRegisterRegion:
        return Simple<strata::v1::RegisterRegionRequest, strata::v1::RegisterRegionResponse>(
            body, &strata::NodeCore::RegisterRegion);
      case kDeregisterRegion: {
        strata::v1::DeregisterRegionRequest r;
        if (Parse(body, &r)) CheckCode(core_->DeregisterRegion(r));
        return;
      }
      case kGoodbye: {
        strata::v1::GoodbyeRequest r;
        if (Parse(body, &r)) CheckCode(core_->Goodbye(r));
        return;
      }
      case kGetInto:
        return Simple<strata::v1::GetIntoRequest, strata::v1::GetIntoResponse>(
            body, &strata::NodeCore::GetInto);
      case kPutFrom:
        return Simple<strata::v1::PutFromRequest, strata::v1::PutFromResponse>(
            body, &strata::NodeCore::PutFrom);
      case kDataPlaneCall: {
        DataPlaneCall c;
        if (!Parse(body, &c)) return;
        if (c.has_get_into()) {
          strata::v1::GetIntoResponse out;
          CheckCode(core_->GetInto(c.get_into(), &out));
        } else if (c.has_put_from()) {
          strata::v1::PutFromResponse out;
          CheckCode(core_->PutFrom(c.put_from(), &out));
        }
        return;
      }
      case kStats: {
        strata::v1::StatsResponse stats;
        CheckCode(core_->Stats(&stats));
        strata::v1::NodeInfoResponse info;
        CheckCode(core_->NodeInfo(&info));
        return;
      }
    }
  }

 private:
  template <typename Request, typename Response>
  void Simple(std::string_view body,
              absl::Status (strata::NodeCore::*method)(const Request&, Response*)) {
    Request r;
    if (!Parse(body, &r)) return;
    Response out;
    CheckCode((core_.get()->*method)(r, &out));
  }

  void Put(std::string_view body) {
    strata::v1::PutRequest r;
    if (!Parse(body, &r)) return;
    const uint64_t puts_before = store_->Stats().puts;
    strata::v1::PutResponse out;
    absl::Status st = core_->Put(r, &out);
    CheckCode(st);
    if (absl::IsInvalidArgument(st)) {
      STRATA_FUZZ_CHECK(store_->Stats().puts == puts_before, "a rejected Put stores nothing");
      return;
    }
    if (!st.ok()) return;
    STRATA_FUZZ_CHECK(out.results_size() == r.items_size(), "one Put result per item");
    // The last acknowledged payload of each key must read back exact (a key may repeat).
    std::map<std::string, std::string> acked;
    for (int i = 0; i < r.items_size(); ++i) {
      if (out.results(i).code() == 0) acked[r.items(i).key()] = r.items(i).payload();
    }
    for (const auto& [key, payload] : acked) {
      strata::v1::GetRequest get;
      get.set_namespace_(r.namespace_());
      get.add_keys(key);
      strata::v1::GetResponse got;
      STRATA_FUZZ_CHECK(core_->Get(get, &got).ok() && got.items_size() == 1, "Get answers");
      // A later item of the same batch may have pushed it out of a small store: a miss is
      // allowed, other bytes are not.
      if (got.items(0).result().code() == 0) {
        STRATA_FUZZ_CHECK(got.items(0).payload() == payload,
                          "an acknowledged block reads back exact");
      }
    }
  }

  strata::NodeOptions options_;
  std::unique_ptr<strata::TieredStore> store_;
  std::unique_ptr<strata::NodeCore> core_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every string field that is not UTF-8; the parse failing is what matters.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  Harness harness;
  size_t at = 0;
  while (at + 3 <= size) {
    const uint8_t call = data[at];
    const size_t len = std::min<size_t>(size - at - 3, data[at + 1] | (size_t{data[at + 2]} << 8));
    harness.Run(call, std::string_view(reinterpret_cast<const char*>(data) + at + 3, len));
    at += 3 + len;
  }
  return 0;
}
