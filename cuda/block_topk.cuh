// Block-wise Top-K on the GPU (docs/algorithm.md, step 2). Must select exactly what the CPU
// reference, core/topk_select.h, selects: the `keep` largest magnitude keys of one Top-K block,
// ties to the smaller index, written in ascending index order.
//
// Radix select, most significant digit first: four passes of a 256-bin shared histogram over
// the 8-bit digits of the keys that still match the prefix found so far give the exact keep-th
// largest key T and how many keys equal to T are taken (the ones with the smallest indices).
// No sort. A block-wide prefix sum then gives every selected element its slot, so the indices
// come out ascending.
#pragma once

#include <cstdint>

#include "core/numeric.h"
#include "simt.h"

namespace microadam::kernels {

struct TopkThreshold {
  uint32_t key;          // the keep-th largest key
  uint32_t equalTaken;   // how many keys equal to `key` are selected (smallest indices first)
};

// Every thread of the block calls this; all get the same result.
MA_DEVICE TopkThreshold radixSelectThreshold(const float* values, uint32_t count, uint32_t keep, uint32_t* histogram,
                                             uint32_t* broadcast) {
  const uint32_t tid = threadIdx.x, threads = blockDim.x;
  uint32_t prefix = 0, prefixMask = 0, remaining = keep;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (uint32_t b = tid; b < 256; b += threads) histogram[b] = 0;
    __syncthreads();
    for (uint32_t i = tid; i < count; i += threads) {
      const uint32_t key = magnitudeKey(values[i]);
      if ((key & prefixMask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xFFu], 1u);
    }
    __syncthreads();
    if (tid == 0) {
      // The digit whose bin holds the remaining-th largest among the matching keys.
      uint32_t above = 0, digit = 255;
      while (digit > 0 && above + histogram[digit] < remaining) above += histogram[digit--];
      broadcast[0] = digit;
      broadcast[1] = remaining - above;
    }
    __syncthreads();
    prefix |= broadcast[0] << shift;
    prefixMask |= 0xFFu << shift;
    remaining = broadcast[1];
    // broadcast is rewritten only after two more barriers, histogram only after this loop's
    // reads by thread 0 ended: no barrier needed here.
  }
  return TopkThreshold{prefix, remaining};
}

// Writes the selected indices (offsets in the block) and their bf16 values to the block's slots
// of one window row, ascending, and zeroes the selected values. `scan` holds 2 * blockDim.x
// words. Every thread of the block calls this.
MA_DEVICE void writeSelection(float* values, uint32_t count, uint32_t keep, const TopkThreshold& threshold,
                              uint16_t* rowIndices, uint16_t* rowValues, uint32_t* scan) {
  const uint32_t tid = threadIdx.x, threads = blockDim.x;
  if (keep >= count) {
    for (uint32_t i = tid; i < count; i += threads) {
      rowIndices[i] = uint16_t(i);
      rowValues[i] = floatToBf16(values[i]);
      values[i] = 0.0f;
    }
    __syncthreads();
    return;
  }
  // Each thread owns one contiguous chunk, so "smaller index first" is "earlier thread first".
  const uint32_t chunk = (count + threads - 1) / threads;
  const uint32_t begin = tid * chunk < count ? tid * chunk : count;
  const uint32_t end = begin + chunk < count ? begin + chunk : count;
  uint32_t greater = 0, equal = 0;
  for (uint32_t i = begin; i < end; ++i) {
    const uint32_t key = magnitudeKey(values[i]);
    greater += key > threshold.key;
    equal += key == threshold.key;
  }
  const uint32_t equalBefore = blockExclusiveScan(equal, scan);
  const uint32_t equalMine =
      threshold.equalTaken > equalBefore ? (threshold.equalTaken - equalBefore < equal ? threshold.equalTaken - equalBefore : equal) : 0;
  uint32_t slot = blockExclusiveScan(greater + equalMine, scan);
  uint32_t equalSeen = 0;
  for (uint32_t i = begin; i < end; ++i) {
    const uint32_t key = magnitudeKey(values[i]);
    const bool take = key > threshold.key || (key == threshold.key && equalSeen++ < equalMine);
    if (!take) continue;
    rowIndices[slot] = uint16_t(i);
    rowValues[slot] = floatToBf16(values[i]);
    ++slot;
    values[i] = 0.0f;
  }
  __syncthreads();
}

}  // namespace microadam::kernels
