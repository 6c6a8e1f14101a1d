#include "kernels/codec.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "kernels/codec_format.h"
#include "kernels/gpu_codec.h"
#include "kernels/internal/codecs.h"

namespace strata {
namespace {

// Decoders refuse to allocate more than this for one block, whatever a header claims.
constexpr uint64_t kMaxDecodedBytes = uint64_t{4} << 30;

struct RegistryEntry {
  const char* name;
  CodecId id;
  uint32_t group;  // kivi only
};

constexpr RegistryEntry kEntries[] = {
    {"raw", CodecId::kRaw, 0},
    {"shuffle-lz4", CodecId::kShuffleLz4, 0},
    {"shuffle-zstd", CodecId::kShuffleZstd, 0},
    {"fp8-e4m3", CodecId::kFp8E4M3, 0},
    {"int8", CodecId::kInt8, 0},
    {"kivi4", CodecId::kKivi4, 32},
    {"kivi2", CodecId::kKivi2, 32},
    {"kivi4-g32", CodecId::kKivi4, 32},
    {"kivi4-g64", CodecId::kKivi4, 64},
    {"kivi4-g128", CodecId::kKivi4, 128},
    {"kivi2-g32", CodecId::kKivi2, 32},
    {"kivi2-g64", CodecId::kKivi2, 64},
    {"kivi2-g128", CodecId::kKivi2, 128},
};

std::unique_ptr<Codec> Construct(const RegistryEntry& e, CpuPath path) {
  switch (e.id) {
    case CodecId::kRaw:
    case CodecId::kShuffleLz4:
    case CodecId::kShuffleZstd:
      return internal::NewLosslessCodec(e.id, path);
    case CodecId::kFp8E4M3:
    case CodecId::kInt8:
      return internal::NewAbsMaxCodec(e.id, path);
    case CodecId::kKivi4:
    case CodecId::kKivi2:
      return internal::NewKiviCodec(e.id, e.group, path);
  }
  return nullptr;
}

// The registry: built once, never modified.
class Registry {
 public:
  Registry() {
    for (const RegistryEntry& e : kEntries) codecs_.push_back(Construct(e, CpuPath::kAuto));
  }
  const std::vector<std::unique_ptr<Codec>>& codecs() const { return codecs_; }

 private:
  std::vector<std::unique_ptr<Codec>> codecs_;
};

const Registry& GetRegistry() {
  static const Registry* const registry = new Registry();
  return *registry;
}

}  // namespace

namespace internal {

absl::Status CheckFloatDType(const BlockLayout& layout, std::string_view codec) {
  if (layout.dtype == DType::kF32 || layout.dtype == DType::kF16 || layout.dtype == DType::kBF16) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("layout.dtype: ", AsAbsl(codec),
                                                 " encodes f32, f16 or bf16 elements, not ",
                                                 AsAbsl(DTypeName(layout.dtype))));
}

}  // namespace internal

absl::Status Codec::CheckLayout(const BlockLayout& layout, uint64_t payload_bytes) const {
  STRATA_RETURN_IF_ERROR(layout.Validate(payload_bytes, "layout"));
  return CheckLayoutImpl(layout);
}

absl::StatusOr<size_t> Codec::EncodeTo(const BlockLayout& layout, std::string_view src,
                                       std::span<char> dst) const {
  STRATA_RETURN_IF_ERROR(CheckLayout(layout, src.size()));
  const uint64_t max = MaxEncodedSize(layout, src.size());
  if (dst.size() < max) {
    return absl::ResourceExhaustedError(
        absl::StrCat("dst: ", dst.size(), " bytes, ", AsAbsl(name_), " may need up to ", max));
  }
  uint8_t p0 = param0();
  STRATA_ASSIGN_OR_RETURN(const size_t body,
                          EncodeBody(layout, src, dst.subspan(EncodedHeader::kSize), &p0));
  EncodedHeader h;
  h.codec_id = numeric_id();
  h.param0 = p0;
  h.param1 = param1();
  h.layout = layout;
  h.payload_bytes = src.size();
  h.body_bytes = body;
  h.WriteTo(dst.data());
  return EncodedHeader::kSize + body;
}

absl::StatusOr<std::string> Codec::Encode(const BlockLayout& layout, std::string_view src) const {
  STRATA_RETURN_IF_ERROR(CheckLayout(layout, src.size()));
  std::string out(MaxEncodedSize(layout, src.size()), '\0');
  STRATA_ASSIGN_OR_RETURN(const size_t n, EncodeTo(layout, src, std::span<char>(out)));
  out.resize(n);
  return out;
}

absl::StatusOr<EncodedHeader> Codec::ValidateForDecode(const BlockLayout& layout,
                                                       std::string_view encoded) const {
  STRATA_ASSIGN_OR_RETURN(const EncodedHeader h, EncodedHeader::Parse(encoded));
  if (h.codec_id != numeric_id()) {
    return absl::InvalidArgumentError(absl::StrCat("encoded block: codec id ", h.codec_id,
                                                   ", expected ", numeric_id(), " (", AsAbsl(name_),
                                                   ")"));
  }
  if (!(h.layout == layout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout: does not match the encoded block's layout (",
                     AsAbsl(LayoutKindName(h.layout.kind)), " ", AsAbsl(DTypeName(h.layout.dtype)),
                     " layers=", h.layout.layers, " kv_heads=", h.layout.kv_heads,
                     " head_dim=", h.layout.head_dim, " tokens=", h.layout.tokens, ")"));
  }
  // The recorded layout and parameters must be ones this codec writes: DATA_LOSS, since the
  // bytes are wrong rather than the call.
  if (absl::Status s = CheckLayoutImpl(h.layout); !s.ok()) {
    return absl::DataLossError(absl::StrCat("encoded block: ", s.message()));
  }
  STRATA_RETURN_IF_ERROR(CheckParams(h.param0, h.param1));
  if (h.payload_bytes > kMaxDecodedBytes) {
    return absl::DataLossError(absl::StrCat("encoded block: claims ", h.payload_bytes,
                                            " decoded bytes, more than the ", kMaxDecodedBytes,
                                            "-byte limit"));
  }
  STRATA_RETURN_IF_ERROR(CheckBody(h.layout, h.param0, h.param1, h.payload_bytes,
                                   encoded.substr(EncodedHeader::kSize)));
  return h;
}

absl::Status Codec::DecodeTo(const BlockLayout& layout, std::string_view encoded,
                             std::span<char> dst) const {
  STRATA_ASSIGN_OR_RETURN(const EncodedHeader h, ValidateForDecode(layout, encoded));
  if (dst.size() != h.payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("dst: ", dst.size(), " bytes, the block has ", h.payload_bytes));
  }
  return DecodeBody(h.layout, h.param0, h.param1, encoded.substr(EncodedHeader::kSize), dst);
}

absl::StatusOr<std::string> Codec::Decode(const BlockLayout& layout,
                                          std::string_view encoded) const {
  STRATA_ASSIGN_OR_RETURN(const EncodedHeader h, ValidateForDecode(layout, encoded));
  std::string out(h.payload_bytes, '\0');
  STRATA_RETURN_IF_ERROR(DecodeBody(h.layout, h.param0, h.param1,
                                    encoded.substr(EncodedHeader::kSize), std::span<char>(out)));
  return out;
}

const Codec* FindCodec(std::string_view name) {
  for (const auto& c : GetRegistry().codecs()) {
    if (c->name() == name) return c.get();
  }
  return nullptr;
}

const Codec* FindCodecById(uint8_t id) {
  for (const auto& c : GetRegistry().codecs()) {
    if (c->numeric_id() == id) return c.get();
  }
  return nullptr;
}

absl::StatusOr<const Codec*> GetCodec(std::string_view name) {
  if (const Codec* c = FindCodec(name)) return c;
  std::vector<std::string> names;
  for (const RegistryEntry& e : kEntries) names.push_back(e.name);
  return absl::InvalidArgumentError(
      absl::StrCat("codec '", AsAbsl(name), "': unknown; known: ", absl::StrJoin(names, ", ")));
}

std::vector<const Codec*> AllCodecs() {
  std::vector<const Codec*> out;
  for (const auto& c : GetRegistry().codecs()) out.push_back(c.get());
  return out;
}

std::unique_ptr<Codec> MakeCodec(std::string_view name, CpuPath path) {
  for (const RegistryEntry& e : kEntries) {
    if (name == e.name) return Construct(e, path);
  }
  return nullptr;
}

absl::StatusOr<std::string> DecodeAnyBlock(std::string_view encoded, BlockLayout* layout,
                                           CpuPath path) {
  STRATA_ASSIGN_OR_RETURN(const EncodedHeader h, EncodedHeader::Parse(encoded));
  const Codec* codec = FindCodecById(h.codec_id);
  if (codec == nullptr) {
    return absl::DataLossError(absl::StrCat("encoded block: unknown codec id ", h.codec_id));
  }
  std::unique_ptr<Codec> forced;
  if (path != CpuPath::kAuto) {
    forced = MakeCodec(codec->name(), path);
    codec = forced.get();
  }
  if (layout != nullptr) *layout = h.layout;
  return codec->Decode(h.layout, encoded);
}

namespace gpu {

bool HasKernels(const Codec& codec) {
  switch (codec.id()) {
    case CodecId::kFp8E4M3:
    case CodecId::kInt8:
    case CodecId::kKivi4:
    case CodecId::kKivi2:
      return true;
    default:
      return false;
  }
}

}  // namespace gpu

}  // namespace strata
