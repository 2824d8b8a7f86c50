// One Top-K block of one tensor through the whole step (docs/algorithm.md, steps 1-7).
// A block's window slots, buckets and elements belong to it alone, so blocks run in parallel
// in any order and the result does not depend on the thread count. CPU reference of the fused
// kernel in cuda/.
#pragma once

#include <cstdint>
#include <vector>

#include "hyper_params.h"
#include "state.h"
#include "tensor.h"

namespace microadam {

// Per-thread working memory for blocks of up to `capacity` elements.
struct BlockScratch {
  std::vector<float> values;   // a, later e
  std::vector<float> moment1;  // M
  std::vector<float> moment2;  // W
  std::vector<uint32_t> keys;  // Top-K keys
  void reserve(uint32_t capacity);
};

// Runs block `block` of `state` (its counter already advanced to the new t).
void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch);

}  // namespace microadam
