// BlockLayout: what the bytes of a block mean (DESIGN.md section 3).
//
// Element order is [layer][K,V][token][head][dim] for kKv and [layer][token][dim] for
// kMlaLatent (one latent vector per token and layer; kv_heads is 1). kOpaque blocks carry no
// shape: only lossless codecs may touch them. Plain value type; thread-compatible.
#ifndef STRATA_COMMON_BLOCK_LAYOUT_H_
#define STRATA_COMMON_BLOCK_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace strata {

enum class LayoutKind : uint8_t { kOpaque = 0, kKv = 1, kMlaLatent = 2 };
enum class DType : uint8_t { kUnspecified = 0, kF32 = 1, kF16 = 2, kBF16 = 3, kFp8E4M3 = 4 };

// Bytes per element; 0 for kUnspecified.
size_t DTypeSize(DType dtype);
std::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(std::string_view name);
std::string_view LayoutKindName(LayoutKind kind);

struct BlockLayout {
  LayoutKind kind = LayoutKind::kOpaque;
  DType dtype = DType::kUnspecified;
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t tokens = 0;

  // Shaped layouts (element order above).
  static BlockLayout Kv(DType dtype, uint32_t layers, uint32_t kv_heads, uint32_t head_dim,
                        uint32_t tokens);
  static BlockLayout MlaLatent(DType dtype, uint32_t layers, uint32_t head_dim, uint32_t tokens);

  bool is_opaque() const { return kind == LayoutKind::kOpaque; }

  // Number of elements the layout describes (0 for opaque).
  uint64_t Elements() const;
  // Bytes the layout describes in its dtype (0 for opaque).
  uint64_t Bytes() const { return Elements() * DTypeSize(dtype); }

  // OK when the layout is self-consistent and, for shaped layouts, describes exactly
  // `payload_bytes`. INVALID_ARGUMENT names the field (prefixed by `field`, e.g.
  // "items[3].layout").
  absl::Status Validate(uint64_t payload_bytes, std::string_view field = "layout") const;

  // Fixed-size little-endian encoding used in stored block headers.
  static constexpr size_t kEncodedSize = 20;
  void EncodeTo(std::string* out) const;
  static absl::StatusOr<BlockLayout> Decode(std::string_view bytes);

  friend bool operator==(const BlockLayout&, const BlockLayout&) = default;
};

}  // namespace strata

#endif  // STRATA_COMMON_BLOCK_LAYOUT_H_
