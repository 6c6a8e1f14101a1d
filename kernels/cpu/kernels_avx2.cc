// The AVX2 + F16C codec kernels' dispatch table (the kernels are in avx2_*.cc, one file per codec
// family) and the CPU check that selects it at run time.
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/internal/avx2_common.h"

#if defined(STRATA_HAVE_AVX2_PATH)
#include <cpuid.h>
#endif

namespace strata::cpu {

#if defined(STRATA_HAVE_AVX2_PATH)
namespace {

using namespace avx2;  // NOLINT: the table names every entry point

constexpr Kernels kAvx2 = {
    "avx2",
    AbsMaxEncodeAvx2,
    AbsMaxDecodeAvx2,
    AbsMaxEncodeCenteredAvx2,
    AbsMaxDecodeCenteredAvx2,
    PlaneMinMaxAvx2,
    LoadF32Avx2,
    StoreF32Avx2,
    ColumnMinMaxAvx2,
    GroupMinMaxAvx2,
    KiviParamsAvx2,
    KiviQuantizeAvx2,
    KiviDequantizeAvx2,
    ShuffleAvx2,
    UnshuffleAvx2,
};

// CPUID, not __builtin_cpu_supports: clang 14 does not know "f16c" there. AVX2 (leaf 7 EBX
// bit 5), FMA and F16C (leaf 1 ECX bits 12 and 29), and the OS saving YMM state (OSXSAVE, XCR0).
bool CpuSupportsAvx2() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), f16c = ecx & (1u << 29), osxsave = ecx & (1u << 27);
  if (!fma || !f16c || !osxsave) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6u) != 0x6u) return false;  // SSE and AVX state enabled
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx & (1u << 5);
}

}  // namespace

const Kernels* Avx2Kernels() {
  static const bool supported = CpuSupportsAvx2();
  return supported ? &kAvx2 : nullptr;
}

#else

const Kernels* Avx2Kernels() { return nullptr; }

#endif

}  // namespace strata::cpu

namespace strata {
bool CpuHasAvx2Path() { return cpu::Avx2Kernels() != nullptr; }
}  // namespace strata
