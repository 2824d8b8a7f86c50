// stepBlock for any x86-64 (or other) CPU: the plain C++ passes.
#include "block_kernel.h"

namespace microadam::kernel_baseline {
void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  stepBlockOf<BaselinePasses, NextBlockPrefetch>(state, block, params, grads, scalars, scratch);
}
}  // namespace microadam::kernel_baseline
