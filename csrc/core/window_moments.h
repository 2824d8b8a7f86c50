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

// M and W over the stored rows s < rows, in storage order: p1[age]*v and p2[age]*(v*v),
// age = (step-1-s) mod window, into a compact list: each index the window names gets a slot, in
// the order first named; named[n] is the index of slot n, and moments[2 n] and moments[2 n + 1] its M and
// W (zero on entry for every slot that will be used). slotOf[idx] is 0 for an index not yet
// named and n + 1 once it has slot n; it is 0 on entry everywhere, and the caller clears it
// again at the named indices. Returns how many were named. Branch-free: each slot's index is
// written at the end of the list, which grows only where the index is new.
MA_HOST_DEVICE uint32_t accumulateWindowCompact(const WindowBlock& block, uint64_t step, uint32_t window,
                                                const float* beta1Powers, const float* beta2Powers, float* moments,
                                                uint16_t* slotOf, uint16_t* named) {
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
      const uint32_t known = slotOf[idx];
      const uint32_t n = known != 0 ? known - 1 : listed;
      slotOf[idx] = uint16_t(n + 1);
      named[listed] = uint16_t(idx);
      listed += uint32_t(known == 0);
      moments[2 * n] = moments[2 * n] + p1 * v;
      moments[2 * n + 1] = moments[2 * n + 1] + p2 * (v * v);
    }
  }
  return listed;
}

// u = (c1*M) / (sqrt(c2*W) + eps): the Adam direction of one element.
MA_HOST_DEVICE float adamDirection(float moment1, float moment2, float c1, float c2, float eps) {
  return (c1 * moment1) / (std::sqrt(c2 * moment2) + eps);
}

}  // namespace microadam
