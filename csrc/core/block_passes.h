// The passes of the block kernel (block_kernel.h) in plain C++: over every element of a block
// (docs/algorithm.md, steps 1 to 3) and over the indices its window names (steps 4 to 7). Each
// is the reference that the vector passes of block_passes_avx2.h and block_passes_avx512.h must
// match bit for bit (test/native/kernel_passes_test.cpp), and BaselinePasses, the policy of the
// baseline build, runs them. Compiled into every build of the kernel, so everything here has
// internal linkage (see numeric.h).
#pragma once

#include <cstdint>

#include "block_prefetch.h"
#include "block_step.h"
#include "error_feedback.h"
#include "kernel_elements.h"
#include "numeric.h"
#include "topk_select.h"
#include "window_moments.h"

namespace microadam {
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
  bool listed = false;    // the marked elements' indices were listed too (Avx512Passes)
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

// Step 2: marks the elements of a whose |a| bits reach `threshold` (1 ... 0x7F800000, where this
// orders like the Top-K keys); returns how many.
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

// Step 2 from a list of candidates (ascending indices) instead of marks, as rankMarked
// (topk_select.h) ranks marked ones: ranked[c] = topkRank(magnitudeKey(a[i]), i), i the c-th.
void rankCandidatesReference(const float* a, const uint32_t* candidates, uint32_t n, uint64_t* ranked) {
  for (uint32_t c = 0; c < n; ++c) ranked[c] = topkRank(magnitudeKey(a[candidates[c]]), candidates[c]);
}

// Step 3 over the block: new ranges and codes from a.
void quantizeBlockReference(const float* a, const BlockErrors& e, uint8_t* codeScratch) {
  for (uint32_t offset = 0, b = 0; offset < e.count; offset += e.q, ++b) {
    const uint32_t size = e.count - offset < e.q ? e.count - offset : e.q;
    quantizeBucket(a + offset, size, e.codes + offset / 2, e.errorMin + b, e.errorMax + b, codeScratch);
  }
}

// Step 4's moments start at +0 in every slot the window can name (accumulateWindowCompact
// adds into them).
void clearMomentSlots(const WindowBlock& block, uint64_t step, uint32_t window, BlockScratch& scratch) {
  const uint64_t rows = step < window ? step : window;
  const uint64_t capacity = scratch.moments.size() / 2;  // a block has no more distinct indices
  const uint64_t slots = rows * block.keep < capacity ? rows * block.keep : capacity;
  float* moments = scratch.moments.data();
  for (uint64_t i = 0; i < 2 * slots; ++i) moments[i] = 0.0f;
}

// Step 5 at the named indices: direction[n] = u of the element in slot n (moments as in
// accumulateWindowCompact).
void namedDirectionsReference(uint32_t count, const float* moments, float c1, float c2, float eps, float* direction) {
  for (uint32_t n = 0; n < count; ++n) direction[n] = adamDirection(moments[2 * n], moments[2 * n + 1], c1, c2, eps);
}

// Steps 5 and 7 at the named indices when lambda = 0 and alpha = 0 (a +0 direction then leaves p
// as it is): u by Passes::namedDirections, p = p - lr * u where u is not +0, and the slot map
// cleared by Passes::clearSlot.
template <class Passes, Dtype P>
void updateNamedParamsBy(uint32_t count, const uint16_t* named, const float* moments, const StepScalars& s,
                         typename Element<P>::Storage* params, BlockScratch& scratch) {
  float* direction = scratch.namedDirection.data();
  Passes::namedDirections(count, moments, s, direction);
  auto* __restrict__ blockParams = params;
  const float lr = s.lr;
  for (uint32_t n = 0; n < count; ++n) {
    const size_t idx = named[n];
    Passes::clearSlot(scratch, uint16_t(idx));
    const float u = direction[n];
    if (floatBits(u) == 0) continue;
    Element<P>::store(blockParams, idx, Element<P>::load(blockParams, idx) - lr * u);
  }
}

// The passes of the baseline build, and what the vector policies inherit where they have no
// pass of their own (block_kernel.h calls them in the order of the steps). `ahead` holds the
// next block's lines (block_prefetch.h), for a pass to ask for as it goes.
struct BaselinePasses {
  // Step 1 into scratch.values (and scratch.marks with a threshold). Asks for every line first.
  template <Dtype G>
  static DequantizedBlock dequantize(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                     uint32_t threshold, LinePrefetcher& ahead, BlockScratch& scratch) {
    ahead.askAll();
    return dequantizeBlockReference<G>(grads, e, threshold, scratch.values.data(), scratch.marks.data(),
                                       scratch.codes.data());
  }

  // Step 2, marking again below a threshold that too few reached.
  static uint32_t markMagnitudes(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
    return markMagnitudesReference(a, count, threshold, marks);
  }

  // Step 2 when dequantize listed the candidates (DequantizedBlock::listed; never here).
  static void rankCandidates(const float* a, const uint32_t* candidates, uint32_t n, uint64_t* ranked) {
    rankCandidatesReference(a, candidates, n, ranked);
  }

  // Step 3. `mayHaveNaN`: some a may be NaN (the vector passes then take the reference's way).
  static void quantize(const float* a, const BlockErrors& e, bool /*mayHaveNaN*/, LinePrefetcher& /*ahead*/,
                       uint8_t* codeScratch) {
    quantizeBlockReference(a, e, codeScratch);
  }

  // Step 4: the indices the window names into scratch.named and their M and W into
  // scratch.moments, by slot, with scratch.slotOf mapping an index to its slot + 1; returns how
  // many are named.
  static uint32_t accumulateNamed(const WindowBlock& block, uint64_t step, uint32_t window, const StepScalars& s,
                                  LinePrefetcher& /*ahead*/, BlockScratch& scratch) {
    clearMomentSlots(block, step, window, scratch);
    return accumulateWindowCompact(block, step, window, s.beta1Powers.data(), s.beta2Powers.data(),
                                   scratch.moments.data(), scratch.slotOf.data(), scratch.named.data());
  }

  // Clears accumulateNamed's slot map at a named index, leaving it zero for the next block.
  static void clearSlot(BlockScratch& scratch, uint16_t idx) { scratch.slotOf[idx] = 0; }

  // Step 5 at the named slots.
  static void namedDirections(uint32_t count, const float* moments, const StepScalars& s, float* direction) {
    namedDirectionsReference(count, moments, s.c1, s.c2, s.eps, direction);
  }

  // Steps 5 and 7 when lambda = 0 and alpha = 0: only the named indices of the block's params
  // (`params`) change.
  template <Dtype P>
  static void updateNamedParams(uint32_t count, const uint16_t* named, const float* moments, const StepScalars& s,
                                typename Element<P>::Storage* params, BlockScratch& scratch) {
    updateNamedParamsBy<BaselinePasses, P>(count, named, moments, s, params, scratch);
  }
};

}  // namespace
}  // namespace microadam
