// stepBlock compiled for AVX2 (without FMA, which would fuse roundings the definition keeps
// apart). Chosen at run time by block_step.cpp when the CPU has AVX2.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,no-fma")
#define MICROADAM_KERNEL_NAMESPACE kernel_avx2
#define MICROADAM_KERNEL_AVX2 1
#include "block_kernel.h"

namespace microadam::kernel_avx2 {
bool available() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
}  // namespace microadam::kernel_avx2
#else
#include "block_step.h"

namespace microadam::kernel_avx2 {
bool available() { return false; }
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&) {}
}  // namespace microadam::kernel_avx2
#endif
