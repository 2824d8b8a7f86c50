// The passes of the block kernel over every element of a block (docs/algorithm.md, steps 1 and
// 3), and over the indices its window names (steps 4 and 5), in plain C++: the reference that
// block_passes_avx2.h must match bit for bit, and the code of the baseline build. Included by
// block_kernel.h inside the build's namespace (see kernel_elements.h).
#pragma once

#include <cstdint>

#include "error_feedback.h"
#include "kernel_elements.h"
#include "numeric.h"
#include "topk_select.h"
#include "window_moments.h"

namespace microadam {
namespace MICROADAM_KERNEL_NAMESPACE {
namespace {

// Where a block's error-feedback state lies: its codes (the block starts at a high nibble,
// since B is a multiple of Q and Q is even) and its buckets' ranges.
struct BlockErrors {
  uint8_t* codes;
  uint16_t* errorMin;
  uint16_t* errorMax;
  uint32_t count;  // elements in the block
  uint32_t q;      // Q
};

struct DequantizedBlock {
  uint32_t marked;        // elements whose |a| bits reach the threshold (0 without one)
  uint32_t maxMagnitude;  // the largest |a| bits; above 0x7F800000 if some a is NaN
  bool listed = false;    // the marked elements' indices were listed too (AVX-512 build)
};

// Step 1: a = g + dequantized error over the block. With a threshold (0 = none; at most
// 0x7F800000, where |a| bits and Top-K keys order alike), marks the Top-K candidates: the
// elements whose |a| bits reach it.
template <Dtype G>
DequantizedBlock dequantizeBlockReference(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                          uint32_t threshold, float* a, uint64_t* marks, uint8_t* codeScratch) {
  for (uint32_t i = 0; i < e.count; ++i) a[i] = Element<G>::load(grads, i);
  for (uint32_t offset = 0, b = 0; offset < e.count; offset += e.q, ++b) {
    const uint32_t size = e.count - offset < e.q ? e.count - offset : e.q;
    dequantizeAddBucket(e.codes + offset / 2, size, e.errorMin[b], e.errorMax[b], a + offset, a + offset, codeScratch);
  }
  DequantizedBlock result{0, 0};
  for (uint32_t w = 0; w < markWords(e.count); ++w) {
    const uint32_t begin = 64 * w;
    const uint32_t end = e.count - begin < 64 ? e.count : begin + 64;
    uint64_t word = 0;
    for (uint32_t i = begin; i < end; ++i) {
      const uint32_t magnitude = floatBits(a[i]) & 0x7FFFFFFFu;
      result.maxMagnitude = magnitude > result.maxMagnitude ? magnitude : result.maxMagnitude;
      word |= uint64_t(magnitude >= threshold) << (i - begin);
    }
    if (threshold != 0) {
      marks[w] = word;
      result.marked += uint32_t(__builtin_popcountll(word));
    }
  }
  return result;
}

// Marks the elements of a whose |a| bits reach `threshold` (1 ... 0x7F800000, where this orders
// like the Top-K keys); returns how many.
uint32_t markMagnitudesReference(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
  uint32_t marked = 0;
  for (uint32_t w = 0; w < markWords(count); ++w) {
    const uint32_t begin = 64 * w;
    const uint32_t end = count - begin < 64 ? count : begin + 64;
    uint64_t word = 0;
    for (uint32_t i = begin; i < end; ++i) word |= uint64_t((floatBits(a[i]) & 0x7FFFFFFFu) >= threshold) << (i - begin);
    marks[w] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  return marked;
}

// Step 3 over the block: new ranges and codes from a.
void quantizeBlockReference(const float* a, const BlockErrors& e, uint8_t* codeScratch) {
  for (uint32_t offset = 0, b = 0; offset < e.count; offset += e.q, ++b) {
    const uint32_t size = e.count - offset < e.q ? e.count - offset : e.q;
    quantizeBucket(a + offset, size, e.codes + offset / 2, e.errorMin + b, e.errorMax + b, codeScratch);
  }
}

// Step 5 at the named indices: direction[n] = u of the element in slot n (moments as in
// accumulateWindowCompact).
void namedDirectionsReference(uint32_t count, const float* moments, float c1, float c2, float eps, float* direction) {
  for (uint32_t n = 0; n < count; ++n) direction[n] = adamDirection(moments[2 * n], moments[2 * n + 1], c1, c2, eps);
}

}  // namespace
}  // namespace MICROADAM_KERNEL_NAMESPACE
}  // namespace microadam
