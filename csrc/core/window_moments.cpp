#include "window_moments.h"

#include "numeric.h"

namespace microadam {

void accumulateWindow(const WindowBlock& block, uint32_t count, uint64_t step, uint32_t window,
                      const float* beta1Powers, const float* beta2Powers, float* moment1, float* moment2) {
  for (uint32_t i = 0; i < count; ++i) moment1[i] = moment2[i] = 0.0f;
  const uint64_t rows = step < window ? step : window;
  for (uint64_t s = 0; s < rows; ++s) {
    const uint32_t age = uint32_t((step - 1 - s) % window);
    const float p1 = beta1Powers[age];
    const float p2 = beta2Powers[age];
    const uint16_t* indices = block.indices + s * block.rowStride;
    const uint16_t* values = block.values + s * block.rowStride;
    for (uint32_t slot = 0; slot < block.keep; ++slot) {
      const float v = bf16ToFloat(values[slot]);
      const uint16_t idx = indices[slot];
      moment1[idx] = moment1[idx] + p1 * v;
      moment2[idx] = moment2[idx] + p2 * (v * v);
    }
  }
}

}  // namespace microadam
