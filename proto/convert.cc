#include "proto/convert.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace strata {

absl::StatusOr<BlockLayout> LayoutFromProto(const v1::BlockLayout& p, std::string_view field) {
  BlockLayout l;
  switch (p.kind()) {
    case v1::LAYOUT_KIND_OPAQUE:
      l.kind = LayoutKind::kOpaque;
      break;
    case v1::LAYOUT_KIND_KV:
      l.kind = LayoutKind::kKv;
      break;
    case v1::LAYOUT_KIND_MLA_LATENT:
      l.kind = LayoutKind::kMlaLatent;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(field), ".kind: unknown value ", static_cast<int>(p.kind())));
  }
  switch (p.dtype()) {
    case v1::DTYPE_UNSPECIFIED:
      l.dtype = DType::kUnspecified;
      break;
    case v1::DTYPE_F32:
      l.dtype = DType::kF32;
      break;
    case v1::DTYPE_F16:
      l.dtype = DType::kF16;
      break;
    case v1::DTYPE_BF16:
      l.dtype = DType::kBF16;
      break;
    case v1::DTYPE_FP8_E4M3:
      l.dtype = DType::kFp8E4M3;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(field), ".dtype: unknown value ", static_cast<int>(p.dtype())));
  }
  l.layers = p.layers();
  l.kv_heads = p.kv_heads();
  l.head_dim = p.head_dim();
  l.tokens = p.tokens();
  return l;
}

void LayoutToProto(const BlockLayout& l, v1::BlockLayout* p) {
  p->set_kind(static_cast<v1::LayoutKind>(l.kind));
  p->set_dtype(static_cast<v1::DType>(l.dtype));
  p->set_layers(l.layers);
  p->set_kv_heads(l.kv_heads);
  p->set_head_dim(l.head_dim);
  p->set_tokens(l.tokens);
}

void StatusToKeyResult(const absl::Status& status, v1::KeyResult* out) {
  out->set_code(static_cast<int32_t>(status.code()));
  if (!status.ok()) out->set_message(std::string(status.message()));
}

absl::Status KeyResultToStatus(const v1::KeyResult& result) {
  if (result.code() == 0) return absl::OkStatus();
  const int code = result.code();
  if (code < 0 || code > 16) {
    return absl::UnknownError(absl::StrCat("unknown code ", code, ": ", result.message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), result.message());
}

}  // namespace strata
