// The last part of the NCCL reduce-scatter (cuda/nccl_communicator.cu): once a round's slots hold
// every rank's values of this rank's elements, each element is summed in rank order. It must give
// the bits of sumInRankOrder (csrc/core/shard_cuts.cpp, which the MPI group's sum equals), so the
// reduced gradient does not depend on whether MPI or NCCL carried it: one float32 rounding per
// addition, left to right, then an IEEE division (nvcc's default -prec-div=true; -fmad=false has
// nothing to contract here). The SIMT harness compares the two (test/native/simt_kernel_test.cpp).
#pragma once

#include <cstdint>

#include "core/numeric.h"
#include "simt.h"

namespace microadam::kernels {

// slots: `ranks` slots of `stride` floats (slot r holds rank r's values); out: n floats; sets
// *nonFinite to 1 when any result is NaN or ±Inf (leaves it otherwise).
MA_KERNEL void rankOrderSumKernel(const float* slots, uint32_t ranks, uint64_t stride, uint64_t n, uint32_t mean,
                                  float* out, uint32_t* nonFinite) {
  const float divisor = static_cast<float>(ranks);
  const uint64_t step = uint64_t(gridDim.x) * blockDim.x;
  bool allFinite = true;
  for (uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    float sum = slots[i];
    for (uint32_t r = 1; r < ranks; ++r) sum = sum + slots[r * stride + i];
    if (mean) sum = sum / divisor;
    out[i] = sum;
    allFinite = allFinite && isFiniteBits(floatBits(sum));
  }
  if (!allFinite) atomicOr(nonFinite, 1u);
}

}  // namespace microadam::kernels
