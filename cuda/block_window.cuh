// Adam's moments from the sparse window on the GPU (docs/algorithm.md, steps 4 and 5) for one
// Top-K block. CPU reference: core/window_moments.h (accumulateWindowCompact: the same sums in
// the same order, in slots instead of per element; adamDirection).
#pragma once

#include <cstdint>

#include "core/numeric.h"
#include "core/window_moments.h"
#include "simt.h"
#include "step_plan.h"

namespace microadam::kernels {

// moment1/moment2 (shared, count entries each) = the window's sums for this block. Rows are
// added in storage order, one barrier apart, exactly as the CPU adds them; the slots of one row
// name distinct indices (ascending, checked on restore), so the threads of a row never collide.
MA_DEVICE void accumulateWindowBlock(const TensorPlan& p, uint64_t slot0, uint32_t keep, uint32_t count,
                                     float* moment1, float* moment2) {
  const uint32_t tid = threadIdx.x, threads = blockDim.x;
  for (uint32_t i = tid; i < count; i += threads) moment1[i] = moment2[i] = 0.0f;
  __syncthreads();
  const uint64_t rows = p.step < p.window ? p.step : p.window;
  for (uint64_t s = 0; s < rows; ++s) {
    const uint32_t age = uint32_t((p.step - 1 - s) % p.window);
    const float p1 = p.beta1Powers[age], p2 = p.beta2Powers[age];
    const uint16_t* indices = p.state.windowIndices + s * p.rowLength + slot0;
    const uint16_t* values = p.state.windowValues + s * p.rowLength + slot0;
    for (uint32_t slot = tid; slot < keep; slot += threads) {
      const float v = bf16ToFloat(values[slot]);
      const uint16_t idx = indices[slot];
      moment1[idx] = moment1[idx] + p1 * v;
      moment2[idx] = moment2[idx] + p2 * (v * v);
    }
    __syncthreads();
  }
}

}  // namespace microadam::kernels
