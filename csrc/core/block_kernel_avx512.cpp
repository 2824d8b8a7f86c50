// stepBlock compiled for AVX-512 (F, BW, DQ, VL, CD; without FMA, which would fuse roundings the
// definition keeps apart). Chosen at run time by block_step.cpp when the CPU has these. The
// target applies to everything included below, which has internal linkage (numeric.h says why).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers initialize their undefined vectors from themselves (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx2,avx512f,avx512bw,avx512dq,avx512vl,avx512cd,no-fma")
#include "block_kernel.h"
#include "block_passes_avx512.h"

namespace microadam::kernel_avx512 {
bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
}

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  stepBlockOf<Avx512Passes, NextBlockPrefetch>(state, block, params, grads, scalars, scratch);
}
}  // namespace microadam::kernel_avx512
#else
#include "block_step.h"

namespace microadam::kernel_avx512 {
bool available() { return false; }
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&) {}
}  // namespace microadam::kernel_avx512
#endif
