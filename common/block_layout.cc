#include "common/block_layout.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {
namespace {

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kFp8E4M3:
      return 1;
    case DType::kUnspecified:
      return 0;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kFp8E4M3:
      return "fp8_e4m3";
    case DType::kUnspecified:
      return "unspecified";
  }
  return "unknown";
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3}) {
    if (name == DTypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype '", AsAbsl(name), "': expected f32, f16, bf16 or fp8_e4m3"));
}

std::string_view LayoutKindName(LayoutKind kind) {
  switch (kind) {
    case LayoutKind::kOpaque:
      return "opaque";
    case LayoutKind::kKv:
      return "kv";
    case LayoutKind::kMlaLatent:
      return "mla_latent";
  }
  return "unknown";
}

BlockLayout BlockLayout::Kv(DType dtype, uint32_t layers, uint32_t kv_heads, uint32_t head_dim,
                            uint32_t tokens) {
  return BlockLayout{LayoutKind::kKv, dtype, layers, kv_heads, head_dim, tokens};
}

BlockLayout BlockLayout::MlaLatent(DType dtype, uint32_t layers, uint32_t head_dim,
                                   uint32_t tokens) {
  return BlockLayout{LayoutKind::kMlaLatent, dtype, layers, 1, head_dim, tokens};
}

uint64_t BlockLayout::Elements() const {
  switch (kind) {
    case LayoutKind::kOpaque:
      return 0;
    case LayoutKind::kKv:
      return uint64_t{layers} * 2 * tokens * kv_heads * head_dim;
    case LayoutKind::kMlaLatent:
      return uint64_t{layers} * tokens * head_dim;
  }
  return 0;
}

absl::Status BlockLayout::Validate(uint64_t payload_bytes, std::string_view field) const {
  if (kind == LayoutKind::kOpaque) {
    if (layers != 0 || kv_heads != 0 || head_dim != 0 || tokens != 0 ||
        dtype != DType::kUnspecified) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(field), ": an opaque layout carries no dtype or dimensions"));
    }
    return absl::OkStatus();
  }
  if (kind != LayoutKind::kKv && kind != LayoutKind::kMlaLatent) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".kind: unknown layout kind"));
  }
  if (DTypeSize(dtype) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".dtype: must be set for a ",
                                                   AsAbsl(LayoutKindName(kind)), " layout"));
  }
  if (layers == 0)
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".layers: must be > 0"));
  if (tokens == 0)
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".tokens: must be > 0"));
  if (head_dim == 0) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".head_dim: must be > 0"));
  }
  if (kind == LayoutKind::kKv && kv_heads == 0) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ".kv_heads: must be > 0"));
  }
  if (kind == LayoutKind::kMlaLatent && kv_heads > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(field), ".kv_heads: an mla_latent layout has one latent per token (0 or 1)"));
  }
  // Each dimension is u32, so Elements() cannot overflow u64 for kMlaLatent; for kKv the
  // product of four u32 values can. Check with division before trusting it.
  const uint64_t per_layer =
      uint64_t{tokens} * head_dim * (kind == LayoutKind::kKv ? 2ull * kv_heads : 1ull);
  if (per_layer > std::numeric_limits<uint64_t>::max() / layers / 8) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field), ": dimensions overflow"));
  }
  if (Bytes() != payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(field), ": describes ", Bytes(), " bytes (", AsAbsl(LayoutKindName(kind)), " ",
        AsAbsl(DTypeName(dtype)), " layers=", layers, " kv_heads=", kv_heads,
        " head_dim=", head_dim, " tokens=", tokens, ") but the payload has ", payload_bytes));
  }
  return absl::OkStatus();
}

void BlockLayout::EncodeTo(std::string* out) const {
  out->push_back(static_cast<char>(kind));
  out->push_back(static_cast<char>(dtype));
  out->push_back(0);
  out->push_back(0);
  PutU32(out, layers);
  PutU32(out, kv_heads);
  PutU32(out, head_dim);
  PutU32(out, tokens);
}

absl::StatusOr<BlockLayout> BlockLayout::Decode(std::string_view bytes) {
  if (bytes.size() != kEncodedSize) {
    return absl::DataLossError(
        absl::StrCat("layout: ", bytes.size(), " bytes, expected ", kEncodedSize));
  }
  BlockLayout l;
  const auto kind = static_cast<uint8_t>(bytes[0]);
  const auto dtype = static_cast<uint8_t>(bytes[1]);
  if (kind > 2 || dtype > 4) return absl::DataLossError("layout: unknown kind or dtype");
  l.kind = static_cast<LayoutKind>(kind);
  l.dtype = static_cast<DType>(dtype);
  l.layers = GetU32(bytes.data() + 4);
  l.kv_heads = GetU32(bytes.data() + 8);
  l.head_dim = GetU32(bytes.data() + 12);
  l.tokens = GetU32(bytes.data() + 16);
  return l;
}

}  // namespace strata
