// adamWRange compiled for AVX2 without FMA; chosen at run time like the MicroAdam kernel.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,no-fma")
#include "adamw_kernel.h"

namespace microadam::kernel_avx2 {
void adamWRange(AdamWState& state, const TensorView& params, const TensorView& grads, uint64_t begin, uint64_t end,
                const AdamWScalars& scalars) {
  adamWRangeOf(state, params, grads, begin, end, scalars);
}
}  // namespace microadam::kernel_avx2
#else
#include "adamw_engine.h"

namespace microadam::kernel_avx2 {
void adamWRange(AdamWState&, const TensorView&, const TensorView&, uint64_t, uint64_t, const AdamWScalars&) {}
}  // namespace microadam::kernel_avx2
#endif
