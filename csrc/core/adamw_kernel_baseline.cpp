// adamWRange for any CPU.
#include "adamw_kernel.h"

namespace microadam::kernel_baseline {
void adamWRange(AdamWState& state, const TensorView& params, const TensorView& grads, uint64_t begin, uint64_t end,
                const AdamWScalars& scalars) {
  adamWRangeOf(state, params, grads, begin, end, scalars);
}
}  // namespace microadam::kernel_baseline
