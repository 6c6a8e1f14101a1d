// Block codecs: how a block's bytes are compressed on the way down the tiers (DESIGN.md section 4).
//
// A Codec turns the payload of one block, described by its BlockLayout, into a self-describing
// encoded form and back. Every encoded form starts with a fixed header (kernels/codec_format.h:
// codec id, codec parameters, the layout, the payload and body lengths), so a decoder validates
// everything it reads: malformed or truncated input gives DATA_LOSS, a layout that does not match
// the caller's expectation gives INVALID_ARGUMENT, and neither ever reads out of bounds.
//
// Codecs (ids are stored in block headers and never change meaning):
//   0 raw           header + payload, lossless, any layout
//   1 shuffle-lz4   byte-plane shuffle of the elements then LZ4, lossless, any layout
//   2 shuffle-zstd  byte-plane shuffle then zstd (level 1), lossless, any layout
//   3 fp8-e4m3      OCP E4M3FN, one f32 scale per (layer, K|V, token, head) = absmax / 448,
//                   saturating; mla_latent: one scale per (layer, token). Keys are centered:
//                   an fp16 offset per (layer, K channel) over the block's tokens is taken out
//                   before the row's absmax (kernels/internal/quant_math.h)
//   4 int8          symmetric, one f32 scale per (layer, K|V, token, head) = absmax / 127;
//                   mla_latent: one scale per (layer, token). Keys are centered and scaled per
//                   channel (fp16 offset and channel scale per (layer, K channel)); a K row that
//                   centering would serve worse is stored plain, so no element's error exceeds
//                   plain int8's half step
//   5 kivi4         asymmetric min/max, 4 bits: keys per channel over groups of G tokens, values
//   6 kivi2         per token over groups of G channels (2 bits for kivi2). G in {32, 64, 128}
//                   is a parameter carried in the header ("kivi4" is G=32, "kivi4-g64" G=64...).
//                   fp16 scale and minimum per group (kivi4: codes at both ends of the
//                   group's range; kivi2: at the centres of four equal buckets). Tail rule: when tokens % G != 0 the last key
//                   group covers the remaining tokens, and when kv_heads * head_dim % G != 0 the
//                   last value group covers the remaining channels; each is quantized with its own
//                   scale and minimum (no full-precision residual). kv layouts only.
// Lossy codecs need a kv (or, for int8 and fp8, an mla_latent) layout with dtype f32, f16 or bf16
// and answer INVALID_ARGUMENT naming the layout field otherwise. Decoding returns bytes in the
// source dtype.
//
// Codec objects are immutable after construction: every method is const and thread-safe. The
// registry is a const table built on first use; FindCodec returns pointers into it that live
// for the whole program.
#ifndef STRATA_KERNELS_CODEC_H_
#define STRATA_KERNELS_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/block_layout.h"

namespace strata {

enum class CodecId : uint8_t {
  kRaw = 0,
  kShuffleLz4 = 1,
  kShuffleZstd = 2,
  kFp8E4M3 = 3,
  kInt8 = 4,
  kKivi4 = 5,
  kKivi2 = 6,
};

// Which CPU implementation a codec uses. kAuto picks AVX2 (+F16C) when the CPU has it, the
// portable path otherwise; tests force each one to check they agree bit for bit.
enum class CpuPath : uint8_t { kAuto = 0, kPortable = 1, kAvx2 = 2 };

// True when this build and this CPU can run the AVX2 path.
bool CpuHasAvx2Path();

struct EncodedHeader;  // kernels/codec_format.h

class Codec {
 public:
  virtual ~Codec() = default;

  CodecId id() const { return id_; }
  uint8_t numeric_id() const { return static_cast<uint8_t>(id_); }
  // Registry name including parameters, e.g. "kivi4-g64".
  std::string_view name() const { return name_; }
  bool lossless() const { return lossless_; }

  // OK when this codec can encode a payload of `payload_bytes` described by `layout`;
  // INVALID_ARGUMENT naming the field otherwise (e.g. "layout.kind: int8 needs ...").
  absl::Status CheckLayout(const BlockLayout& layout, uint64_t payload_bytes) const;

  // Upper bound on Encode's output, header included. REQUIRES: CheckLayout(...) is OK.
  virtual uint64_t MaxEncodedSize(const BlockLayout& layout, uint64_t payload_bytes) const = 0;

  // Encodes `src` (the block payload, in layout.dtype) into a new string.
  absl::StatusOr<std::string> Encode(const BlockLayout& layout, std::string_view src) const;
  // Encodes into `dst` and returns the encoded length. `dst` must hold MaxEncodedSize bytes
  // (RESOURCE_EXHAUSTED otherwise).
  absl::StatusOr<size_t> EncodeTo(const BlockLayout& layout, std::string_view src,
                                  std::span<char> dst) const;

  // Decodes a block this codec (any parameters) encoded, checking that it was encoded from
  // `layout`: INVALID_ARGUMENT when the codec id or layout differ, DATA_LOSS when the bytes are
  // malformed. Output is layout.Bytes() (opaque: the recorded payload length) in layout.dtype.
  absl::StatusOr<std::string> Decode(const BlockLayout& layout, std::string_view encoded) const;
  // As Decode, into `dst`, which must be exactly the payload size (INVALID_ARGUMENT otherwise).
  absl::Status DecodeTo(const BlockLayout& layout, std::string_view encoded,
                        std::span<char> dst) const;

  // The parameter bytes this codec writes into the header (kernels/codec_format.h): kivi
  // bits and log2(G); lossless codecs may set param0 per block (stored/compressed).
  virtual uint8_t param0() const { return 0; }
  virtual uint8_t param1() const { return 0; }

 protected:
  Codec(CodecId id, std::string name, bool lossless, CpuPath path)
      : id_(id), name_(std::move(name)), lossless_(lossless), path_(path) {}

  CpuPath path() const { return path_; }
  // Codec-specific layout checks beyond BlockLayout::Validate.
  virtual absl::Status CheckLayoutImpl(const BlockLayout& layout) const = 0;
  // Writes the body (everything after the header) into dst; returns its length. dst holds
  // MaxEncodedSize - header bytes. The header may adjust param0 (lossless "stored" flag) via
  // *param0_out, which starts as param0().
  virtual absl::StatusOr<size_t> EncodeBody(const BlockLayout& layout, std::string_view src,
                                            std::span<char> dst, uint8_t* param0_out) const = 0;
  // Decodes a body whose header was validated: params as recorded, dst exactly the payload.
  virtual absl::Status DecodeBody(const BlockLayout& layout, uint8_t param0, uint8_t param1,
                                  std::string_view body, std::span<char> dst) const = 0;
  // Validates recorded parameters; DATA_LOSS when they cannot have come from this codec.
  virtual absl::Status CheckParams(uint8_t param0, uint8_t param1) const = 0;
  // DATA_LOSS unless a body of this size (and, for compressed bodies, these leading bytes) can
  // decode to `payload_bytes` under `layout`. Runs before the decoder allocates anything.
  virtual absl::Status CheckBody(const BlockLayout& layout, uint8_t param0, uint8_t param1,
                                 uint64_t payload_bytes, std::string_view body) const = 0;

 private:
  // Everything Decode and DecodeTo check before touching the body.
  absl::StatusOr<EncodedHeader> ValidateForDecode(const BlockLayout& layout,
                                                  std::string_view encoded) const;

  // Constant after construction.
  const CodecId id_;
  const std::string name_;
  const bool lossless_;
  const CpuPath path_;
};

// Registry. Names: "raw", "shuffle-lz4", "shuffle-zstd", "fp8-e4m3", "int8", "kivi4", "kivi2",
// "kivi4-g32|g64|g128", "kivi2-g32|g64|g128". Returns nullptr for unknown names and ids.
// FindCodecById returns the default-parameter codec of that id, which decodes blocks encoded with
// any parameters of that id.
const Codec* FindCodec(std::string_view name);
const Codec* FindCodecById(uint8_t id);
// As FindCodec, INVALID_ARGUMENT listing the known names when `name` is unknown.
absl::StatusOr<const Codec*> GetCodec(std::string_view name);
// Every registered codec, registry order.
std::vector<const Codec*> AllCodecs();
// A codec that uses a forced CPU path (tests, benchmarks). nullptr for unknown names.
std::unique_ptr<Codec> MakeCodec(std::string_view name, CpuPath path);

// Decodes any encoded block by the codec id in its header, writing the recorded layout to
// *layout (may be null). For callers holding only the encoded bytes (e.g. a client fetching an
// encoded block). DATA_LOSS for malformed input or an unknown codec id.
absl::StatusOr<std::string> DecodeAnyBlock(std::string_view encoded, BlockLayout* layout = nullptr,
                                           CpuPath path = CpuPath::kAuto);

}  // namespace strata

#endif  // STRATA_KERNELS_CODEC_H_
