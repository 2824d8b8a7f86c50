// stepBlock compiled for AVX2 (without FMA, which would fuse roundings the definition keeps
// apart). Chosen at run time by block_step.cpp when the CPU has AVX2. The target applies to
// everything included below, which has internal linkage (numeric.h says why).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,no-fma")
#include "block_kernel.h"
#include "block_passes_avx2.h"

namespace microadam::kernel_avx2 {
bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  stepBlockOf<Avx2Passes, NextBlockPrefetch>(state, block, params, grads, scalars, scratch);
}
}  // namespace microadam::kernel_avx2
#else
#include "block_step.h"

namespace microadam::kernel_avx2 {
bool available() { return false; }
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&) {}
}  // namespace microadam::kernel_avx2
#endif
