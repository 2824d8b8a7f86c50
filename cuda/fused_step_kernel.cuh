// The fused MicroAdam step (docs/algorithm.md, steps 1-7): one thread block per Top-K block of
// any tensor of the launch. A block's window slots, buckets, codes and parameters belong to it
// alone, so one kernel compresses the gradient, writes the new window row, recomputes the
// moments and updates the parameters in one pass over memory. CPU reference: core/block_kernel.h.
#pragma once

#include <cstdint>

#include "block_error_feedback.cuh"
#include "block_topk.cuh"
#include "block_window.cuh"
#include "core/window_moments.h"
#include "shared_layout.h"
#include "simt.h"
#include "step_plan.h"
#include "tensor_access.h"

namespace microadam::kernels {

// The plan whose blocks contain grid block `gridBlock` (plans sorted by firstBlock).
MA_DEVICE uint32_t planOfBlock(const TensorPlan* plans, uint32_t planCount, uint64_t gridBlock) {
  uint32_t lo = 0, hi = planCount - 1;
  while (lo < hi) {
    const uint32_t mid = (lo + hi + 1) / 2;
    if (plans[mid].firstBlock <= gridBlock)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Steps 5-7 for this thread's elements: u from M and W (+0 where the window named nothing), the
// optional error injection (values then hold (1 - alpha) * deq for re-quantization), the
// parameter write. With no decay a +0 direction leaves the parameter untouched, as on the CPU.
// Elements go in batches whose parameter loads are all issued before the first is used: the
// loads are scattered (only named elements, when there is no decay), so they would otherwise
// wait on memory one after another.
MA_DEVICE void updateParameters(const TensorPlan& p, uint64_t begin, uint32_t count, float* moment1,
                                const float* moment2) {
  constexpr uint32_t kBatch = 8;
  const uint32_t threads = blockDim.x;
  const BucketIndex bucketOf = bucketIndexOf(p.quantBlockSize);
  for (uint32_t first = threadIdx.x; first < count; first += kBatch * threads) {
    float direction[kBatch], param[kBatch];
    bool writes[kBatch];
MA_UNROLL
    for (uint32_t k = 0; k < kBatch; ++k) {
      const uint32_t i = first + k * threads;
      writes[k] = false;
      direction[k] = 0.0f;
      param[k] = 0.0f;
      if (i >= count) continue;
      // Where the window named nothing M = W = +0 and u is +0 (eps > 0): no division or root.
      const bool named = floatBits(moment1[i]) != 0 || floatBits(moment2[i]) != 0;
      float u = named ? adamDirection(moment1[i], moment2[i], p.c1, p.c2, p.eps) : 0.0f;
      if (p.hasAlpha) {
        const float deq = dequantizedError(p.state, bucketOf, begin, i);
        u = u + p.alpha * deq;
        moment1[i] = p.oneMinusAlpha * deq;
      }
      direction[k] = u;
      writes[k] = p.hasDecay || floatBits(u) != 0;
    }
MA_UNROLL
    for (uint32_t k = 0; k < kBatch; ++k)
      if (writes[k]) param[k] = loadAsFloat(p.params, p.paramDtype, begin + first + k * threads);
MA_UNROLL
    for (uint32_t k = 0; k < kBatch; ++k) {
      if (!writes[k]) continue;
      float x = param[k];
      if (p.hasDecay) x = x * p.decay;
      storeFromFloat(p.params, p.paramDtype, begin + first + k * threads, x - p.lr * direction[k]);
    }
  }
}

// Six resident blocks per multiprocessor (registers capped at 40 per thread): the step is bound
// by latency, and more warps in flight hide more of it.
MA_KERNEL void MA_LAUNCH_BOUNDS(kStepThreads, 6)
    fusedStepKernel(const TensorPlan* plans, uint32_t planCount, uint32_t sharedTopkBlockSize) {
  MA_DYNAMIC_SHARED(unsigned char, shared);
  const SharedLayout layout = sharedLayout(sharedTopkBlockSize);
  float* values = reinterpret_cast<float*>(shared + layout.valuesOffset);
  float* bucketsThenMoment2 = reinterpret_cast<float*>(shared + layout.bucketsThenMoment2Offset);
  uint32_t* histogram = reinterpret_cast<uint32_t*>(shared + layout.histogramOffset);
  uint32_t* scan = reinterpret_cast<uint32_t*>(shared + layout.scanOffset);
  uint32_t* broadcast = reinterpret_cast<uint32_t*>(shared + layout.broadcastOffset);

  // A copy, so the fields live in registers: through a reference into global memory the
  // compiler reloads them after every store (it cannot rule out that a store changed them).
  const TensorPlan p = plans[planOfBlock(plans, planCount, blockIdx.x)];
  const uint64_t block = blockIdx.x - p.firstBlock;
  const bool last = block + 1 == p.blockCount;
  const uint64_t begin = block * p.topkBlockSize;
  const uint32_t count = last ? uint32_t(p.numel - begin) : p.topkBlockSize;
  const uint32_t keep = last ? p.keepLast : p.keepFull;
  const uint64_t slot0 = block * p.keepFull;
  const uint64_t row = (p.step - 1) % p.window;

  // 1. a = g + deq (the bucket table lives in `bucketsThenMoment2` until step 3 needs it).
  loadAccumulator(p, begin, count, values, bucketsThenMoment2);
  __syncthreads();
  // 2. Top-K into row (t-1) mod m; the selected a become 0.
  TopkThreshold threshold{0, 0};
  if (keep < count) threshold = radixSelectThreshold(values, count, keep, histogram, broadcast);
  writeSelection(values, count, keep, threshold, p.state.windowIndices + row * p.rowLength + slot0,
                 p.state.windowValues + row * p.rowLength + slot0, scan);
  // 3. What was left out becomes the new error.
  quantizeBlock(values, count, p.quantBlockSize, begin, p.state, reinterpret_cast<uint32_t*>(bucketsThenMoment2));
  // 4. Moments from the window (the row written above included).
  accumulateWindowBlock(p, slot0, keep, count, values, bucketsThenMoment2);
  // 5-7. Directions, error injection, parameters.
  updateParameters(p, begin, count, values, bucketsThenMoment2);
  if (p.hasAlpha) {
    __syncthreads();
    quantizeBlock(values, count, p.quantBlockSize, begin, p.state, reinterpret_cast<uint32_t*>(bucketsThenMoment2));
  }
}

// Skip/Error policies: flag = 1 if any gradient element of any tensor is NaN or +-Inf.
MA_KERNEL void nonFiniteKernel(const TensorPlan* plans, uint32_t planCount, uint32_t* flag) {
  const uint64_t stride = uint64_t(gridDim.x) * blockDim.x;
  for (uint32_t t = 0; t < planCount; ++t) {
    const TensorPlan& p = plans[t];
    for (uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride)
      if (!elementIsFinite(p.grads, p.gradDtype, i)) {
        atomicOr(flag, 1u);
        return;
      }
  }
}

}  // namespace microadam::kernels
