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
  uint32_t key;          // selected: keys above `key`, and the first `equalTaken` keys equal to it
  uint32_t equalTaken;   // (smallest indices first); 0xFFFFFFFF: every key equal to it
};

constexpr uint32_t kEveryEqualKey = 0xFFFFFFFFu;

// The digit whose bin holds the remaining-th largest of the matching keys, found by warp 0: each
// lane sums 8 bins (from the top), a warp scan places the lanes, and the lane whose bins hold
// it walks them. Writes digit, what remains inside its bin, and whether the bin is taken whole.
MA_DEVICE void findDigit(const uint32_t* histogram, uint32_t remaining, uint32_t* broadcast) {
  const uint32_t lane = threadIdx.x;
  const uint32_t top = 255 - 8 * lane;
  uint32_t sum = 0;
  for (uint32_t j = 0; j < 8; ++j) sum += histogram[top - j];
  const uint32_t inclusive = warpInclusiveScan(sum);
  uint32_t above = inclusive - sum;
  if (above < remaining && remaining <= inclusive) {
    uint32_t digit = top;
    while (above + histogram[digit] < remaining) above += histogram[digit--];
    broadcast[0] = digit;
    broadcast[1] = remaining - above;
    broadcast[2] = histogram[digit] == remaining - above;
  }
}

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
    if (tid < kWarpSize) findDigit(histogram, remaining, broadcast);
    __syncthreads();
    prefix |= broadcast[0] << shift;
    prefixMask |= 0xFFu << shift;
    remaining = broadcast[1];
    // Every key in the digit's bin is taken: keys >= prefix (lower digits 0) are the selection.
    if (broadcast[2]) return TopkThreshold{prefix, kEveryEqualKey};
    // broadcast is rewritten only after two more barriers, histogram only after findDigit's
    // reads ended: no barrier needed here.
  }
  return TopkThreshold{prefix, remaining};
}

MA_DEVICE uint32_t minU32(uint32_t a, uint32_t b) { return a < b ? a : b; }

// Writes the selected indices (offsets in the block) and their bf16 values to the block's slots
// of one window row, ascending, and zeroes the selected values. `scan` holds 32 words. Every
// thread of the block calls this.
//
// Each thread owns one contiguous chunk, so "smaller index first" is "earlier thread first". A
// thread reads its chunk starting at a rotation of its own, which keeps a warp's shared-memory
// reads on different banks; the order matters only when writing, and that pass works on 32-bit
// masks of the chunk's selected elements, in ascending bit order.
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
  const uint32_t chunk = (count + threads - 1) / threads;
  const uint32_t begin = minU32(tid * chunk, count);
  const uint32_t length = minU32(begin + chunk, count) - begin;
  const uint32_t rotation = length ? tid % length : 0;
  uint32_t greater = 0, equal = 0;
  for (uint32_t j = 0; j < length; ++j) {
    uint32_t at = j + rotation;
    if (at >= length) at -= length;
    const uint32_t key = magnitudeKey(values[begin + at]);
    greater += key > threshold.key;
    equal += key == threshold.key;
  }
  const uint32_t equalBefore = blockExclusiveScan(equal, scan);
  uint32_t equalMine = threshold.equalTaken > equalBefore ? minU32(threshold.equalTaken - equalBefore, equal) : 0;
  uint32_t slot = blockExclusiveScan(greater + equalMine, scan);
  for (uint32_t segment = 0; segment < length; segment += 32) {
    const uint32_t width = minU32(32, length - segment);
    const uint32_t segmentRotation = width ? tid % width : 0;
    uint32_t take = 0, equalMask = 0;
    for (uint32_t j = 0; j < width; ++j) {
      uint32_t at = j + segmentRotation;
      if (at >= width) at -= width;
      const uint32_t key = magnitudeKey(values[begin + segment + at]);
      take |= uint32_t(key > threshold.key) << at;
      equalMask |= uint32_t(key == threshold.key) << at;
    }
    for (; equalMine > 0 && equalMask; --equalMine) {  // the lowest indices among the ties
      take |= equalMask & (0u - equalMask);
      equalMask &= equalMask - 1;
    }
    while (take) {
      const uint32_t i = begin + segment + uint32_t(__ffs(take) - 1);
      take &= take - 1;
      rowIndices[slot] = uint16_t(i);
      rowValues[slot] = floatToBf16(values[i]);
      ++slot;
      values[i] = 0.0f;
    }
  }
  __syncthreads();
}

}  // namespace microadam::kernels
