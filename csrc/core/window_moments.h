// Adam's moments recomputed from the sparse window (docs/algorithm.md, steps 4 and 5). CPU
// reference of the CUDA window accumulation.
#pragma once

#include <cmath>
#include <cstdint>

#include "numeric.h"

namespace microadam {

struct WindowBlock {
  const uint16_t* indices;  // row 0, slot o_j
  const uint16_t* values;   // row 0, slot o_j
  uint64_t rowStride;       // K
  uint32_t keep;            // k_j
};

// moment1/moment2 (zero on entry at every index the window names) += over stored rows
// s < rows, in storage order, p1[age]*v and p2[age]*(v*v), age = (step-1-s) mod window.
// Marks every named index in `touched`.
MA_HOST_DEVICE void accumulateWindow(const WindowBlock& block, uint64_t step, uint32_t window,
                                     const float* beta1Powers, const float* beta2Powers, float* moment1,
                                     float* moment2, uint8_t* touched) {
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
      touched[idx] = 1;
    }
  }
}

// accumulateWindow with M and W side by side (moments[2 i] = M_i, moments[2 i + 1] = W_i, zero on
// entry at every named index), that also lists each named index once, in the order first named,
// in `named` (room for one more than the distinct indices); returns how many. Branch-free: each
// slot writes its index at the end of the list, which grows only where the index was not yet
// marked in `touched`.
MA_HOST_DEVICE uint32_t accumulateWindowListed(const WindowBlock& block, uint64_t step, uint32_t window,
                                               const float* beta1Powers, const float* beta2Powers, float* moments,
                                               uint16_t* touched, uint16_t* named) {
  const uint64_t rows = step < window ? step : window;
  uint32_t listed = 0;
  uint32_t age = uint32_t((step - 1) % window);  // of row 0; one less for each later row
  for (uint64_t s = 0; s < rows; ++s, age = age == 0 ? window - 1 : age - 1) {
    const float p1 = beta1Powers[age];
    const float p2 = beta2Powers[age];
    const uint16_t* indices = block.indices + s * block.rowStride;
    const uint16_t* values = block.values + s * block.rowStride;
    for (uint32_t slot = 0; slot < block.keep; ++slot) {
      const float v = bf16ToFloat(values[slot]);
      const uint32_t idx = indices[slot];
      moments[2 * idx] = moments[2 * idx] + p1 * v;
      moments[2 * idx + 1] = moments[2 * idx + 1] + p2 * (v * v);
      named[listed] = uint16_t(idx);
      listed += 1u - touched[idx];
      touched[idx] = 1;
    }
  }
  return listed;
}

// u = (c1*M) / (sqrt(c2*W) + eps): the Adam direction of one element.
MA_HOST_DEVICE float adamDirection(float moment1, float moment2, float c1, float c2, float eps) {
  return (c1 * moment1) / (std::sqrt(c2 * moment2) + eps);
}

}  // namespace microadam
