// Writes the binary seed inputs of the fuzz targets into DIR/<target>/ (fuzz/corpus/ in the
// repo): `fuzz_write_seeds fuzz/corpus`. Seeds are valid inputs that reach deep into each
// decoder (requests that store and read blocks, blocks encoded by every codec, SSD records with
// their payloads), so the fuzzer mutates from there instead of rediscovering the formats.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "fuzz/rpc_calls.h"
#include "kernels/codec.h"
#include "proto/strata.pb.h"
#include "storage/block_record.h"

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out << bytes;
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Small float16 values (a KV cache's range) so lossy codecs see realistic input.
std::string HalfFloats(size_t elements, uint32_t seed) {
  std::string s(elements * 2, '\0');
  uint32_t x = seed + 7;
  for (size_t i = 0; i < elements; ++i) {
    x = x * 1103515245u + 12345u;
    const uint16_t h =
        static_cast<uint16_t>(0x3000 + ((x >> 16) & 0x0fff)) | static_cast<uint16_t>((x & 1) << 15);
    s[2 * i] = static_cast<char>(h & 0xff);
    s[2 * i + 1] = static_cast<char>(h >> 8);
  }
  return s;
}

// rpc_fuzzer's framing: call byte, 2-byte length, body.
void Frame(std::string* out, uint8_t call, const google::protobuf::Message& m) {
  const std::string body = m.SerializeAsString();
  out->push_back(static_cast<char>(call));
  out->push_back(static_cast<char>(body.size() & 0xff));
  out->push_back(static_cast<char>(body.size() >> 8));
  out->append(body);
}

void RpcSeeds(const fs::path& dir) {
  using namespace strata::v1;
  using namespace strata::fuzz;  // NOLINT: the call numbers (rpc_calls.h)
  PutRequest put;
  put.set_namespace_("acme/llama3-8b/tp0");
  auto* a = put.add_items();
  a->set_key("k1");
  a->set_payload("hello");
  auto* b = put.add_items();
  b->set_key("k2");
  b->set_parent("k1");
  auto* l = b->mutable_layout();
  l->set_kind(LAYOUT_KIND_KV);
  l->set_dtype(DTYPE_F16);
  l->set_layers(1);
  l->set_kv_heads(1);
  l->set_head_dim(8);
  l->set_tokens(4);
  b->set_payload(HalfFloats(64, 1));  // 1 x 2 x 4 x 1 x 8 halves
  GetRequest get;
  get.set_namespace_(put.namespace_());
  for (const char* k : {"k1", "k2", "k3"}) get.add_keys(k);
  LookupRequest lookup;
  lookup.set_namespace_(put.namespace_());
  lookup.add_keys("k1");
  lookup.add_keys("k2");
  lookup.set_lease_ms(1000);
  ExistsRequest exists;
  exists.set_namespace_(put.namespace_());
  exists.add_keys("k2");
  RemoveRequest remove;
  remove.set_namespace_(put.namespace_());
  remove.add_keys("k1");
  InspectRequest inspect;
  inspect.set_namespace_(put.namespace_());
  inspect.set_key("k2");
  EvictRequest evict;
  evict.set_namespace_(put.namespace_());
  StatsRequest stats;

  std::string s;
  Frame(&s, kPut, put);
  Frame(&s, kGet, get);
  Frame(&s, kLookup, lookup);
  Frame(&s, kExists, exists);
  Frame(&s, kInspect, inspect);
  Frame(&s, kRemove, remove);
  Frame(&s, kGet, get);
  Frame(&s, kEvict, evict);
  Frame(&s, kStats, stats);
  Write(dir, "store_and_read", s);

  // Requests the node must refuse by field name.
  PutRequest bad = put;
  bad.set_namespace_("bad namespace");
  s.clear();
  Frame(&s, kPut, bad);
  bad = put;
  bad.mutable_items(0)->set_key(std::string(65, 'k'));
  Frame(&s, kPut, bad);
  bad = put;
  bad.mutable_items(1)->mutable_layout()->set_tokens(5);
  Frame(&s, kPut, bad);
  bad = put;
  bad.mutable_items(1)->set_parent("k2");
  Frame(&s, kPut, bad);
  GetRequest empty_get;
  empty_get.set_namespace_("ns");
  Frame(&s, kGet, empty_get);
  Write(dir, "bad_requests", s);

  // The data plane calls of a node without a data plane.
  HelloRequest hello;
  hello.set_worker_address(Pattern(64, 3));
  hello.set_client_name("fuzz");
  RegisterRegionRequest region;
  region.set_session_id(1);
  region.set_base(4096);
  region.set_length(1 << 20);
  region.set_packed_rkey(Pattern(32, 4));
  GetIntoRequest get_into;
  get_into.set_namespace_("ns");
  get_into.set_session_id(1);
  get_into.set_region_id(1);
  auto* gi = get_into.add_items();
  gi->set_key("k1");
  gi->set_capacity(4096);
  PutFromRequest put_from;
  put_from.set_namespace_("ns");
  put_from.set_session_id(1);
  auto* pf = put_from.add_items();
  pf->set_key("k1");
  pf->set_size(5);
  DataPlaneCall call;
  call.set_call_id(7);
  *call.mutable_get_into() = get_into;
  DeregisterRegionRequest dereg;
  dereg.set_session_id(1);
  GoodbyeRequest bye;
  bye.set_session_id(1);
  s.clear();
  Frame(&s, kHello, hello);
  Frame(&s, kRegisterRegion, region);
  Frame(&s, kGetInto, get_into);
  Frame(&s, kPutFrom, put_from);
  Frame(&s, kDataPlaneCall, call);
  Frame(&s, kDeregisterRegion, dereg);
  Frame(&s, kGoodbye, bye);
  Write(dir, "data_plane", s);
}

void CodecSeeds(const fs::path& dir) {
  strata::BlockLayout kv;
  kv.kind = strata::LayoutKind::kKv;
  kv.dtype = strata::DType::kF16;
  kv.layers = 2;
  kv.kv_heads = 2;
  kv.head_dim = 16;
  kv.tokens = 32;
  const std::string kv_payload = HalfFloats(kv.Elements(), 5);
  strata::BlockLayout opaque;
  const std::string opaque_payload = Pattern(3000, 6) + std::string(3000, 'z');
  for (const strata::Codec* codec : strata::AllCodecs()) {
    for (const auto& [layout, payload, tag] :
         {std::tuple{kv, kv_payload, "kv"}, std::tuple{opaque, opaque_payload, "opaque"}}) {
      if (!codec->CheckLayout(layout, payload.size()).ok()) continue;
      absl::StatusOr<std::string> encoded = codec->Encode(layout, payload);
      if (!encoded.ok()) continue;
      Write(dir, std::string(codec->name()) + "_" + tag, *encoded);
    }
  }
}

void BlockRecordSeeds(const fs::path& dir) {
  for (const char* codec_name : {"raw", "shuffle-zstd", "shuffle-lz4", "int8"}) {
    strata::BlockRecord r;
    r.parent = "parent-key";
    r.layout.kind = strata::LayoutKind::kKv;
    r.layout.dtype = strata::DType::kF16;
    r.layout.layers = 1;
    r.layout.kv_heads = 2;
    r.layout.head_dim = 16;
    r.layout.tokens = 8;
    std::string payload = HalfFloats(r.layout.Elements(), 9);
    std::string stored = payload;
    const strata::Codec* codec = strata::FindCodec(codec_name);
    if (codec->id() != strata::CodecId::kRaw) {
      stored = *codec->Encode(r.layout, payload);
      if (!codec->lossless()) payload = *codec->Decode(r.layout, stored);
    }
    r.checksum = strata::BlockChecksum(payload);
    r.payload_bytes = payload.size();
    r.codec_id = codec->numeric_id();
    r.stored_bytes = stored.size();
    const std::string record = r.Encode();
    std::string s;
    s.push_back(static_cast<char>(record.size() & 0xff));
    s.push_back(static_cast<char>(record.size() >> 8));
    s += record + stored;
    Write(dir, std::string("record_") + codec_name, s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_write_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  RpcSeeds(root / "rpc");
  CodecSeeds(root / "codec");
  BlockRecordSeeds(root / "block_record");
  return 0;
}
