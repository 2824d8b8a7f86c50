// adamWRange compiled for AVX2 without FMA; chosen at run time like the MicroAdam kernel.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,no-fma")
#define MICROADAM_KERNEL_NAMESPACE kernel_avx2
#include "adamw_kernel.h"
#else
#include "adamw_engine.h"

namespace microadam::kernel_avx2 {
void adamWRange(AdamWState&, const TensorView&, const TensorView&, uint64_t, uint64_t, const AdamWScalars&) {}
}  // namespace microadam::kernel_avx2
#endif
