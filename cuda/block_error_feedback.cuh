// 4-bit error feedback on the GPU (docs/algorithm.md, steps 1, 3 and 6) for one Top-K block.
// CPU reference: core/error_feedback.h, whose per-element pieces (bucketUnit, readCode,
// clampedCode) these kernels call, so both compute every value with the same operations.
#pragma once

#include <cstdint>

#include "core/error_feedback.h"
#include "core/numeric.h"
#include "simt.h"
#include "step_plan.h"
#include "tensor_access.h"

namespace microadam::kernels {

// The dequantized error of element `begin + i` of a block that starts at a bucket boundary
// (32-bit index arithmetic: a 64-bit division costs a GPU far more).
MA_DEVICE float dequantizedError(const StateBuffers& state, uint32_t quantBlockSize, uint64_t begin, uint32_t i) {
  const uint64_t bucket = begin / quantBlockSize + i / quantBlockSize;
  const uint16_t lo = state.errorMin[bucket];
  const float unit = bucketUnit(lo, state.errorMax[bucket]);
  return float(readCode(state.errorCodes + begin / 2, i)) * unit + bf16ToFloat(lo);
}

// Step 1: values[i] = g + deq for the block's elements [begin, begin + count).
MA_DEVICE void loadAccumulator(const TensorPlan& p, uint64_t begin, uint32_t count, float* values) {
  for (uint32_t i = threadIdx.x; i < count; i += blockDim.x)
    values[i] = loadAsFloat(p.grads, p.gradDtype, begin + i) + dequantizedError(p.state, p.quantBlockSize, begin, i);
}

MA_DEVICE float fromOrderedBits(uint32_t key) {
  return bitsFloat((key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key);
}

// Step 3 for every bucket of the block: lo/hi and the 4-bit codes of values[0..count).
// `rangeKeys` holds 2 * ceil(count / Q) words of shared memory. Every thread calls this.
MA_DEVICE void quantizeBlock(const float* values, uint32_t count, uint32_t quantBlockSize, uint64_t begin,
                             const StateBuffers& state, uint32_t* rangeKeys) {
  const uint32_t tid = threadIdx.x, threads = blockDim.x;
  const uint32_t buckets = (count + quantBlockSize - 1) / quantBlockSize;
  uint32_t* minKeys = rangeKeys;
  uint32_t* maxKeys = rangeKeys + buckets;
  for (uint32_t b = tid; b < buckets; b += threads) {
    minKeys[b] = 0xFFFFFFFFu;
    maxKeys[b] = 0;
  }
  __syncthreads();
  // Range in the order of orderedBits (-0 below +0), NaN ignored. Aligned groups of lanes hold
  // consecutive elements of one bucket (the group size divides Q), so each group reduces in
  // registers and one lane per group updates the bucket.
  const uint32_t lowestBit = quantBlockSize & (0u - quantBlockSize);
  const uint32_t groupLanes = lowestBit < kWarpSize ? lowestBit : kWarpSize;
  const uint32_t rounds = (count + threads - 1) / threads;
  for (uint32_t r = 0; r < rounds; ++r) {
    const uint32_t i = r * threads + tid;
    uint32_t forMin = 0xFFFFFFFFu, forMax = 0;
    if (i < count) {
      const float v = values[i];
      if (!isNanBits(floatBits(v))) forMin = forMax = orderedBits(v);
    }
    forMin = groupMin(forMin, groupLanes);
    forMax = groupMax(forMax, groupLanes);
    if (i < count && tid % groupLanes == 0) {
      atomicMin(&minKeys[i / quantBlockSize], forMin);
      atomicMax(&maxKeys[i / quantBlockSize], forMax);
    }
  }
  __syncthreads();
  const uint64_t firstBucket = begin / quantBlockSize;
  for (uint32_t b = tid; b < buckets; b += threads) {
    const uint32_t minKey = minKeys[b], maxKey = maxKeys[b];
    uint16_t lo = 0, hi = 0;
    bool constant = true;  // every code 0
    if (minKey <= maxKey) {
      lo = bf16RoundDown(fromOrderedBits(minKey));
      hi = bf16RoundUp(fromOrderedBits(maxKey));
      const float low = bf16ToFloat(lo), high = bf16ToFloat(hi);
      const float unit = (high - low) / 15.0f;
      constant = high == low || !isFiniteBits(floatBits(unit));
    }
    state.errorMin[firstBucket + b] = lo;
    state.errorMax[firstBucket + b] = hi;
    minKeys[b] = uint32_t(lo) | (uint32_t(hi) << 16);
    maxKeys[b] = constant;
  }
  __syncthreads();
  // Two elements per byte: Q is even, so both are in the same bucket.
  const uint32_t bytes = (count + 1) / 2;
  for (uint32_t byte = tid; byte < bytes; byte += threads) {
    const uint32_t e = 2 * byte;
    const uint32_t b = e / quantBlockSize;
    uint32_t packed = 0;
    if (!maxKeys[b]) {
      const float low = bf16ToFloat(uint16_t(minKeys[b] & 0xFFFFu));
      const float high = bf16ToFloat(uint16_t(minKeys[b] >> 16));
      const float unit = (high - low) / 15.0f;
      packed = clampedCode((values[e] - low) / unit + 0.5f) << 4;
      if (e + 1 < count) packed |= clampedCode((values[e + 1] - low) / unit + 0.5f);
    }
    state.errorCodes[begin / 2 + byte] = uint8_t(packed);
  }
  __syncthreads();
}

}  // namespace microadam::kernels
