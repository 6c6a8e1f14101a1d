#include "kernels/pruned_view_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "common/strings.h"

namespace strata {
namespace {

template <typename T>
void Append(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only, as every Strata target
  out->append(b, sizeof(T));
}

template <typename T>
T Read(std::string_view bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

absl::Status Loss(std::string_view what) {
  return absl::DataLossError(absl::StrCat("pruned view: ", AsAbsl(what)));
}

}  // namespace

bool LooksLikePrunedView(std::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), kPrunedViewMagic, 4) == 0;
}

std::string EncodePrunedView(const PrunedBlock& view, uint64_t source_checksum) {
  std::string out;
  out.reserve(kPrunedViewHeaderBytes + 4 * (view.kept.size() + view.positions.size()) +
              view.payload.size() + 8);
  out.append(kPrunedViewMagic, 4);
  Append<uint16_t>(&out, kPrunedViewVersion);
  Append<uint8_t>(&out, static_cast<uint8_t>(view.options.selector));
  Append<uint8_t>(&out, static_cast<uint8_t>(view.options.shape));
  Append<uint8_t>(&out, static_cast<uint8_t>(view.source.dtype));
  out.append(3, '\0');
  for (uint32_t v :
       {view.source.layers, view.source.kv_heads, view.source.head_dim, view.source.tokens}) {
    Append<uint32_t>(&out, v);
  }
  Append<int64_t>(&out, view.options.budget_tokens);
  Append<double>(&out, view.options.pyramid_beta);
  Append<int64_t>(&out, view.options.sink_tokens);
  Append<int64_t>(&out, view.options.pool_window);
  Append<uint64_t>(&out, source_checksum);
  for (uint32_t k : view.kept) Append<uint32_t>(&out, k);
  out.append(reinterpret_cast<const char*>(view.positions.data()), 4 * view.positions.size());
  out.append(view.payload);
  Append<uint64_t>(&out, BlockChecksum(out));
  return out;
}

absl::StatusOr<DecodedPrunedView> DecodePrunedView(std::string_view bytes) {
  if (bytes.size() < kPrunedViewHeaderBytes + 8) {
    return Loss(absl::StrCat(bytes.size(), " bytes, shorter than the header"));
  }
  if (!LooksLikePrunedView(bytes)) return Loss("bad magic (not a pruned view)");
  const uint16_t version = Read<uint16_t>(bytes, 4);
  if (version != kPrunedViewVersion) {
    return Loss(
        absl::StrCat("format version ", version, " (this build reads ", kPrunedViewVersion, ")"));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  if (BlockChecksum(body) != Read<uint64_t>(bytes, bytes.size() - 8)) {
    return Loss("checksum mismatch");
  }
  DecodedPrunedView d;
  PrunedBlock& v = d.view;
  const uint8_t selector = Read<uint8_t>(bytes, 6), shape = Read<uint8_t>(bytes, 7),
                dtype = Read<uint8_t>(bytes, 8);
  if (selector < 1 || selector > 3) return Loss(absl::StrCat("unknown selector ", selector));
  if (shape > 1) return Loss(absl::StrCat("unknown budget shape ", shape));
  v.options.selector = static_cast<PruneSelector>(selector);
  v.options.shape = static_cast<BudgetShape>(shape);
  v.source.kind = LayoutKind::kKv;
  v.source.dtype = static_cast<DType>(dtype);
  v.source.layers = Read<uint32_t>(bytes, 12);
  v.source.kv_heads = Read<uint32_t>(bytes, 16);
  v.source.head_dim = Read<uint32_t>(bytes, 20);
  v.source.tokens = Read<uint32_t>(bytes, 24);
  v.options.budget_tokens = Read<int64_t>(bytes, 28);
  v.options.pyramid_beta = Read<double>(bytes, 36);
  v.options.sink_tokens = Read<int64_t>(bytes, 44);
  v.options.pool_window = Read<int64_t>(bytes, 52);
  d.source_checksum = Read<uint64_t>(bytes, 60);
  const uint64_t esize = DTypeSize(v.source.dtype);
  if (esize == 0 || v.source.layers == 0 || v.source.kv_heads == 0 || v.source.head_dim == 0) {
    return Loss("source layout is not a kv block");
  }
  size_t at = kPrunedViewHeaderBytes;
  if (uint64_t{v.source.layers} * 4 > body.size() - at) return Loss("truncated kept counts");
  v.kept.resize(v.source.layers);
  uint64_t slots = 0;
  for (uint32_t l = 0; l < v.source.layers; ++l, at += 4) {
    v.kept[l] = Read<uint32_t>(bytes, at);
    if (v.kept[l] > v.source.tokens) {
      return Loss(
          absl::StrCat("layer ", l, " keeps ", v.kept[l], " of ", v.source.tokens, " tokens"));
    }
    slots += v.kept[l];
  }
  const uint64_t positions = slots * v.source.kv_heads;
  const uint64_t payload = positions * 2 * v.source.head_dim * esize;
  if (body.size() - at != 4 * positions + payload) {
    return Loss(absl::StrCat(body.size() - at, " bytes of positions and payload, want ",
                             4 * positions + payload));
  }
  v.positions.resize(positions);
  std::memcpy(v.positions.data(), bytes.data() + at, 4 * positions);
  at += 4 * positions;
  for (uint32_t p : v.positions) {
    if (p >= v.source.tokens) return Loss(absl::StrCat("position ", p, " past the block"));
  }
  v.payload.assign(bytes.data() + at, payload);
  return d;
}

}  // namespace strata
