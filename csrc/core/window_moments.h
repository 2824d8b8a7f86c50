// Adam's moments recomputed from the sparse window (docs/algorithm.md, steps 4 and 5).
// CPU reference of the accumulation in cuda/window_adam.cuh.
#pragma once

#include <cstdint>

namespace microadam {

struct WindowBlock {
  const uint16_t* indices;  // row 0, slot o_j
  const uint16_t* values;   // row 0, slot o_j
  uint64_t rowStride;       // K
  uint32_t keep;            // k_j
};

// moment1/moment2[0..count) := sum over stored rows s < rows (storage order) of
// p1[age]*v and p2[age]*(v*v), age = (step-1-s) mod window.
void accumulateWindow(const WindowBlock& block, uint32_t count, uint64_t step, uint32_t window,
                      const float* beta1Powers, const float* beta2Powers, float* moment1, float* moment2);

// u = (c1*M) / (sqrt(c2*W) + eps): the Adam direction of one element.
inline float adamDirection(float moment1, float moment2, float c1, float c2, float eps);

}  // namespace microadam

#include <cmath>

namespace microadam {
inline float adamDirection(float moment1, float moment2, float c1, float c2, float eps) {
  return (c1 * moment1) / (std::sqrt(c2 * moment2) + eps);
}
}  // namespace microadam
