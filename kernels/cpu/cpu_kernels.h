// The CPU inner loops of the block codecs, as a table of function pointers with two
// implementations: portable C++ (always built, always tested) and AVX2+F16C (x86-64 only, chosen
// at run time when the CPU has it). Both produce bit-identical output for finite input: they
// perform the same float operations in the same order (kernels/internal/quant_math.h), the AVX2
// path eight lanes at a time.
//
// Pointers may be unaligned everywhere. The tables are immutable; thread-safe.
#ifndef STRATA_KERNELS_CPU_CPU_KERNELS_H_
#define STRATA_KERNELS_CPU_CPU_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "common/block_layout.h"
#include "kernels/codec.h"

namespace strata::cpu {

enum class AbsMaxFormat : uint8_t { kInt8 = 0, kFp8 = 1 };

struct Kernels {
  const char* name;
  // Quantizes `rows` rows of `dim` elements of `dtype` (f32, f16 or bf16): scales[r] =
  // AbsMaxScale(max |row r|), codes[r * dim + i] = int8 (two's complement) or E4M3 code.
  void (*absmax_encode)(AbsMaxFormat format, DType dtype, const void* src, size_t rows, size_t dim,
                        float* scales, uint8_t* codes);
  // Inverse of absmax_encode, writing elements of `dtype` to dst.
  void (*absmax_decode)(AbsMaxFormat format, DType dtype, const uint8_t* codes, const float* scales,
                        size_t rows, size_t dim, void* dst);
  // Rows of a K plane with channel parameters (quant_math.h, "centered key rows"): row r uses
  // offset[p * dim + i], inv_cscale[p * dim + i] (1 / channel scale) and max_cscale[p], where
  // p = r % period. Each row is stored centered (scales[r] >= 0, codes of
  // CenterElement(x, offset, inv_cscale)) when UseCenteredRow allows it, else plain (scales[r] has
  // kPlainRowBit set, codes as absmax_encode).
  void (*absmax_encode_centered)(AbsMaxFormat format, DType dtype, const void* src, size_t rows,
                                 size_t dim, size_t period, const float* offset,
                                 const float* inv_cscale, const float* max_cscale, float* scales,
                                 uint8_t* codes);
  // Inverse of absmax_encode_centered: UncenterElement(q, scale, cscale, offset) for centered rows,
  // q * |scale| for rows marked plain.
  void (*absmax_decode_centered)(AbsMaxFormat format, DType dtype, const uint8_t* codes,
                                 const float* scales, size_t rows, size_t dim, size_t period,
                                 const float* offset, const float* cscale, void* dst);
  // Column-wise minimum and maximum of `rows` rows of n elements of dtype. REQUIRES: rows >= 1.
  void (*plane_min_max)(DType dtype, const void* src, size_t rows, size_t n, float* mn, float* mx);
  // n elements of dtype <-> float.
  void (*load_f32)(DType dtype, const void* src, size_t n, float* dst);
  void (*store_f32)(DType dtype, const float* src, size_t n, void* dst);
  // Column-wise minimum and maximum of a rows x n row-major matrix. REQUIRES: rows >= 1.
  void (*column_min_max)(const float* x, size_t rows, size_t n, float* mn, float* mx);
  // Minimum and maximum of each run of `group` values of x[0, n) (the last run may be shorter):
  // ceil(n / group) results.
  void (*group_min_max)(const float* x, size_t n, size_t group, float* mn, float* mx);
  // KIVI parameters of n groups with ranges [mn[i], mx[i]] for `bits`-bit codes
  // (quant::KiviParamsForBits): fp16 step and minimum written little-endian to scale16[2i] and
  // min16[2i], and as floats the minimum and the inverse step. False when any group does not fit
  // fp16 (outputs then unspecified).
  bool (*kivi_params)(const float* mn, const float* mx, size_t n, int bits, uint8_t* scale16,
                      uint8_t* min16, float* min_out, float* inv_out);
  // Codes for n elements with minimum mn[i / group] and inverse step inv[i / group] (group 1:
  // per element; otherwise REQUIRES group % 8 == 0), packed `bits` (2 or 4) per code, element i
  // at bit bits * (i % (8 / bits)) of byte i / (8 / bits). Writes ceil(n * bits / 8) bytes.
  void (*kivi_quantize)(const float* x, const float* mn, const float* inv, size_t n, size_t group,
                        int bits, uint8_t* out);
  // out[i] = q[i] * scale[i / group] + mn[i / group].
  void (*kivi_dequantize)(const uint8_t* codes, const float* mn, const float* scale, size_t n,
                          size_t group, int bits, float* out);
  // Byte-plane shuffle of n elements of esize bytes: dst[b * n + i] = src[i * esize + b].
  void (*shuffle)(const uint8_t* src, size_t n, size_t esize, uint8_t* dst);
  void (*unshuffle)(const uint8_t* src, size_t n, size_t esize, uint8_t* dst);
};

const Kernels& PortableKernels();
// nullptr when this build has no AVX2 path or the CPU lacks AVX2, F16C or FMA.
const Kernels* Avx2Kernels();
// kAuto: AVX2 when available, else portable. kAvx2 without AVX2 falls back to portable.
const Kernels& SelectKernels(CpuPath path);

}  // namespace strata::cpu

#endif  // STRATA_KERNELS_CPU_CPU_KERNELS_H_
