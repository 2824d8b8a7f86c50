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

// Bucket of element i of a block (blocks start at bucket boundaries): a shift when Q is a power
// of two, as it almost always is (a 32-bit division costs a GPU about 20 instructions).
struct BucketIndex {
  uint32_t size, shift;  // shift 0: Q is not a power of two
  MA_DEVICE_MEMBER uint32_t operator()(uint32_t i) const { return shift ? i >> shift : i / size; }
};

MA_DEVICE BucketIndex bucketIndexOf(uint32_t quantBlockSize) {
  uint32_t shift = 0;
  if ((quantBlockSize & (quantBlockSize - 1)) == 0)
    while ((1u << shift) < quantBlockSize) ++shift;
  return BucketIndex{quantBlockSize, shift};
}

// The dequantized error of element `begin + i` from the codes and bucket range in memory.
MA_DEVICE float dequantizedError(const StateBuffers& state, const BucketIndex& bucketOf, uint64_t begin, uint32_t i) {
  const uint64_t bucket = begin / bucketOf.size + bucketOf(i);
  const uint16_t lo = state.errorMin[bucket];
  const float unit = bucketUnit(lo, state.errorMax[bucket]);
  return float(readCode(state.errorCodes + begin / 2, i)) * unit + bf16ToFloat(lo);
}

// Step 1: values[i] = g + deq for the block's elements [begin, begin + count). Each bucket's
// u_b and lo_b are computed once into `bucketTable` (2 words per bucket of shared memory).
MA_DEVICE void loadAccumulator(const TensorPlan& p, uint64_t begin, uint32_t count, float* values, float* bucketTable) {
  const BucketIndex bucketOf = bucketIndexOf(p.quantBlockSize);
  const uint32_t buckets = (count + p.quantBlockSize - 1) / p.quantBlockSize;
  const uint64_t firstBucket = begin / p.quantBlockSize;
  for (uint32_t b = threadIdx.x; b < buckets; b += blockDim.x) {
    const uint16_t lo = p.state.errorMin[firstBucket + b];
    bucketTable[2 * b] = bucketUnit(lo, p.state.errorMax[firstBucket + b]);
    bucketTable[2 * b + 1] = bf16ToFloat(lo);
  }
  __syncthreads();
  const uint8_t* codes = p.state.errorCodes + begin / 2;
  for (uint32_t i = threadIdx.x; i < count; i += blockDim.x) {
    const uint32_t b = bucketOf(i);
    values[i] = loadAsFloat(p.grads, p.gradDtype, begin + i) +
                (float(readCode(codes, i)) * bucketTable[2 * b] + bucketTable[2 * b + 1]);
  }
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
  const BucketIndex bucketOf = bucketIndexOf(quantBlockSize);
  // Bucket b's minimum and maximum key at rangeKeys[2b] and [2b + 1]; later its (low, unit).
  for (uint32_t b = tid; b < buckets; b += threads) {
    rangeKeys[2 * b] = 0xFFFFFFFFu;
    rangeKeys[2 * b + 1] = 0;
  }
  __syncthreads();
  // Range in the order of orderedBits (-0 below +0), NaN ignored. Each thread reduces its own
  // contiguous chunk in registers and updates a bucket once per run of its elements in it (a
  // chunk meets one or two buckets); it starts reading at a rotation of its own so that a
  // warp's shared-memory reads fall on different banks.
  const uint32_t chunk = (count + threads - 1) / threads;
  const uint32_t chunkBegin = tid * chunk < count ? tid * chunk : count;
  const uint32_t length = (chunkBegin + chunk < count ? chunkBegin + chunk : count) - chunkBegin;
  const uint32_t rotation = length ? tid % length : 0;
  uint32_t current = 0xFFFFFFFFu, forMin = 0xFFFFFFFFu, forMax = 0;
  for (uint32_t j = 0; j < length; ++j) {
    uint32_t at = j + rotation;
    if (at >= length) at -= length;
    const uint32_t i = chunkBegin + at;
    const uint32_t b = bucketOf(i);
    if (b != current) {
      if (current != 0xFFFFFFFFu) {
        atomicMin(&rangeKeys[2 * current], forMin);
        atomicMax(&rangeKeys[2 * current + 1], forMax);
      }
      current = b;
      forMin = 0xFFFFFFFFu;
      forMax = 0;
    }
    const float v = values[i];
    if (!isNanBits(floatBits(v))) {
      const uint32_t key = orderedBits(v);
      forMin = key < forMin ? key : forMin;
      forMax = key > forMax ? key : forMax;
    }
  }
  if (current != 0xFFFFFFFFu) {
    atomicMin(&rangeKeys[2 * current], forMin);
    atomicMax(&rangeKeys[2 * current + 1], forMax);
  }
  __syncthreads();
  // Per bucket: lo/hi to memory, then (low, unit) for the codes, or a NaN low for a constant
  // bucket (a real low is a bf16 value, never NaN).
  const uint64_t firstBucket = begin / quantBlockSize;
  float* lowAndUnit = reinterpret_cast<float*>(rangeKeys);
  for (uint32_t b = tid; b < buckets; b += threads) {
    const uint32_t minKey = rangeKeys[2 * b], maxKey = rangeKeys[2 * b + 1];
    uint16_t lo = 0, hi = 0;
    float low = bitsFloat(kNanKey), unit = 0.0f;
    if (minKey <= maxKey) {
      lo = bf16RoundDown(fromOrderedBits(minKey));
      hi = bf16RoundUp(fromOrderedBits(maxKey));
      const float lowValue = bf16ToFloat(lo), high = bf16ToFloat(hi);
      unit = (high - lowValue) / 15.0f;
      if (high != lowValue && isFiniteBits(floatBits(unit))) low = lowValue;
    }
    state.errorMin[firstBucket + b] = lo;
    state.errorMax[firstBucket + b] = hi;
    lowAndUnit[2 * b] = low;  // each thread rewrites only its own buckets' pair
    lowAndUnit[2 * b + 1] = unit;
  }
  __syncthreads();
  // Two elements per byte: Q is even, so both are in the same bucket.
  const uint32_t bytes = (count + 1) / 2;
  for (uint32_t byte = tid; byte < bytes; byte += threads) {
    const uint32_t e = 2 * byte;
    const uint32_t b = bucketOf(e);
    const float low = lowAndUnit[2 * b], unit = lowAndUnit[2 * b + 1];
    uint32_t packed = 0;
    if (!isNanBits(floatBits(low))) {
      packed = clampedCode((values[e] - low) / unit + 0.5f) << 4;
      if (e + 1 < count) packed |= clampedCode((values[e + 1] - low) / unit + 0.5f);
    }
    state.errorCodes[begin / 2 + byte] = uint8_t(packed);
  }
  __syncthreads();
}

}  // namespace microadam::kernels
