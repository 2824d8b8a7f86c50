// One Top-K block through the whole step (docs/algorithm.md, steps 1-7): stepBlockWith calls
// the steps in order. Passes is the instruction set's policy (BaselinePasses in block_passes.h,
// Avx2Passes in block_passes_avx2.h, Avx512Passes in block_passes_avx512.h; all give the same
// bits) and Prefetch the prefetch policy (block_prefetch.h). Each of block_kernel_baseline.cpp,
// block_kernel_avx2.cpp and block_kernel_avx512.cpp compiles this file for its instruction set
// and exports its build as kernel_<isa>::stepBlock, so everything here has internal linkage (see
// numeric.h): no copy compiled for AVX2 or AVX-512 can stand in for the baseline's.
#pragma once

#include <atomic>
#include <cstdint>

#include "block_passes.h"
#include "block_prefetch.h"
#include "block_step.h"
#include "kernel_elements.h"
#include "numeric.h"
#include "topk_select.h"
#include "window_moments.h"

namespace microadam {
namespace {

BlockPlace placeOf(HostState& state, uint64_t block) {
  const StateLayout& layout = state.layout();
  const bool hasNext = block + 1 < layout.blockCount();
  return BlockPlace{block,
                    layout.blockBegin(block),
                    layout.blockSize(block),
                    layout.blockKeep(block),
                    layout.blockSlotOffset(block),
                    layout.rowLength(),
                    layout.config().quantBlockSize,
                    layout.config().window,
                    state.step(),
                    hasNext ? layout.blockSize(block + 1) : 0};
}

BlockErrors errorsOf(HostState& state, const BlockPlace& at) {
  const uint64_t firstBucket = at.begin / at.q;
  return BlockErrors{state.errorCodes() + at.begin / 2, state.errorMin() + firstBucket,
                     state.errorMax() + firstBucket, at.count, at.q};
}

void countHint(bool hinted, bool held) {
  if (TopkHintStats& stats = topkHintStats(); stats.enabled.load(std::memory_order_relaxed)) {
    stats.blocks.fetch_add(1, std::memory_order_relaxed);
    stats.hinted.fetch_add(hinted, std::memory_order_relaxed);
    stats.held.fetch_add(held, std::memory_order_relaxed);
  }
}

// The Top-K when the marks (|a| bits >= 1) are fewer than k: every marked element, and the
// first `zeros` unmarked ones (key 0: ties go to the smaller index), in ascending order.
uint32_t selectNonzeroThenFirstZeros(const uint64_t* marks, uint32_t count, uint32_t zeros, uint16_t* selected) {
  uint32_t taken = 0, i = 0;
  for (; i < count && zeros != 0; ++i) {
    const bool marked = (marks[i / 64] >> (i % 64)) & 1;
    selected[taken++] = uint16_t(i);
    zeros -= uint32_t(!marked);
  }
  // Past the last zero taken, only the marked ones.
  for (uint32_t w = i / 64; w < markWords(count); ++w) {
    uint64_t bits = marks[w] & (w == i / 64 ? ~uint64_t(0) << (i % 64) : ~uint64_t(0));
    for (; bits != 0; bits &= bits - 1) selected[taken++] = uint16_t(64 * w + uint32_t(__builtin_ctzll(bits)));
  }
  return taken;
}

// Step 2: the Top-K of the block into scratch.selected (ascending); returns how many. Uses the
// candidates dequantize marked (or listed) when the hint's threshold gave at least `keep` of
// them, or marks again below it; without a hint (the first step) takes the keys of a and lets a
// histogram of them find a threshold.
template <class Passes>
uint32_t selectBlockTopk(const float* a, uint32_t count, uint32_t keep, const DequantizedBlock& d, bool hinted,
                         uint32_t* hint, BlockScratch& scratch) {
  uint16_t* selected = scratch.selected.data();
  if (keep >= count) {
    for (uint32_t i = 0; i < count; ++i) selected[i] = uint16_t(i);
    return count;
  }
  if (d.maxMagnitude == 0) {
    // Every a is +0 or -0 (a gradient that is zero here, as at an input never lit): all keys
    // tie at 0, so the smallest indices win. No hint: none would be reached.
    for (uint32_t i = 0; i < keep; ++i) selected[i] = uint16_t(i);
    *hint = 0;
    return keep;
  }
  const uint32_t maxKey = d.maxMagnitude > 0x7F800000u ? kNanKey : d.maxMagnitude;
  const uint32_t aim = nextTopkAim(hinted ? hintAim(*hint) : 0, d.marked, keep);
  if (hinted) {
    uint32_t threshold = hintThreshold(*hint), marked = d.marked;
    if (marked >= keep && d.listed) {
      Passes::rankCandidates(a, scratch.candidates.data(), marked, scratch.ranked.data());
      *hint = selectRanked(scratch.ranked.data(), marked, keep, threshold, maxKey, aim, scratch.histogram.data(), selected);
      return keep;
    }
    // Too few keys reach the hint: the block's top fell. Lower the threshold by a quarter octave,
    // then by twice as much each time, and mark again.
    for (uint32_t drop = 1u << 21; marked < keep && threshold > 1 && drop <= (1u << 26); drop <<= 1) {
      threshold = threshold > drop ? threshold - drop : 1;
      marked = Passes::markMagnitudes(a, count, threshold, scratch.marks.data());
    }
    if (marked >= keep) {
      *hint = selectMarked([a](uint32_t i) { return magnitudeKey(a[i]); }, scratch.marks.data(), count, keep, threshold,
                           maxKey, aim, scratch.ranked.data(), scratch.histogram.data(), selected);
      return keep;
    }
    if (threshold == 1) {
      // Fewer than k keys are above 0 (a block mostly zero, as where inputs are rarely lit): the
      // marked ones and the first k - marked zeros, which the tie rule ranks next.
      *hint = 16 | aim;
      return selectNonzeroThenFirstZeros(scratch.marks.data(), count, keep - marked, selected);
    }
  }
  uint32_t* keys = scratch.keys.data();
  for (uint32_t i = 0; i < count; ++i) keys[i] = magnitudeKey(a[i]);
  const uint32_t lowestKey = topkThresholdByHistogram(keys, count, keep, maxKey, scratch.histogram.data());
  markAtLeast(keys, count, lowestKey, scratch.marks.data());
  *hint = selectMarked([keys](uint32_t i) { return keys[i]; }, scratch.marks.data(), count, keep, lowestKey, maxKey,
                       aim, scratch.ranked.data(), scratch.histogram.data(), selected);
  return keep;
}

// The rest of step 2: the selected a into row r = (t-1) mod m of the window, then 0 in a.
void writeWindowRow(HostState& state, const BlockPlace& at, const uint16_t* selected, uint32_t taken, float* a) {
  const uint64_t row = (at.step - 1) % at.window;
  uint16_t* rowIndices = state.windowIndices() + row * at.rowLength + at.slot0;
  uint16_t* rowValues = state.windowValues() + row * at.rowLength + at.slot0;
  for (uint32_t n = 0; n < taken; ++n) {
    const uint16_t i = selected[n];
    rowIndices[n] = i;
    rowValues[n] = floatToBf16(a[i]);
    a[i] = 0.0f;
  }
}

// Step 5 at the named indices into scratch.direction (by index: +0 elsewhere).
template <class Passes>
void directionsAtNamed(uint32_t namedCount, const StepScalars& s, BlockScratch& scratch) {
  const float* moments = scratch.moments.data();
  const uint16_t* named = scratch.named.data();
  float* direction = scratch.direction.data();
  for (uint32_t n = 0; n < namedCount; ++n) {
    const uint16_t idx = named[n];
    direction[idx] = adamDirection(moments[2 * n], moments[2 * n + 1], s.c1, s.c2, s.eps);
    Passes::clearSlot(scratch, idx);
  }
}

// Step 6: u += alpha * deq, and a (zero where selected) becomes (1 - alpha) * deq, the new
// error before quantization.
void injectError(const BlockErrors& errors, const StepScalars& s, float* a, BlockScratch& scratch) {
  float* direction = scratch.direction.data();
  for (uint32_t offset = 0, b = 0; offset < errors.count; offset += errors.q, ++b) {
    const uint32_t size = errors.count - offset < errors.q ? errors.count - offset : errors.q;
    dequantizeAddBucket(errors.codes + offset / 2, size, errors.errorMin[b], errors.errorMax[b], nullptr, a + offset,
                        scratch.codes.data());
  }
  for (uint32_t i = 0; i < errors.count; ++i) {
    direction[i] = direction[i] + s.alpha * a[i];
    a[i] = s.oneMinusAlpha * a[i];
  }
}

// Step 7 over every element of the block (p = p * decay - lr * u), clearing scratch.direction.
template <Dtype P>
void updateAllParams(uint32_t count, const StepScalars& s, typename Element<P>::Storage* params, BlockScratch& scratch) {
  float* direction = scratch.direction.data();
  for (uint32_t i = 0; i < count; ++i) {
    const float u = direction[i];
    direction[i] = 0.0f;
    if (!s.hasDecay && floatBits(u) == 0) continue;
    float x = Element<P>::load(params, i);
    if (s.hasDecay) x = x * s.decay;
    Element<P>::store(params, i, x - s.lr * u);
  }
}

template <class Passes, class Prefetch, Dtype P, Dtype G>
void stepBlockWith(HostState& state, uint64_t block, void* paramData, const void* gradData, const StepScalars& s,
                   BlockScratch& scratch) {
  auto* params = static_cast<typename Element<P>::Storage*>(paramData);
  const auto* grads = static_cast<const typename Element<G>::Storage*>(gradData);
  const BlockPlace at = placeOf(state, block);
  const BlockErrors errors = errorsOf(state, at);
  float* a = scratch.values.data();
  LinePrefetcher ahead = Prefetch::start(state, at, grads, params);

  // 1. a = g + dequantized error; with a usable hint, the Top-K candidates are marked too.
  uint32_t* hint = state.topkHint(block);
  const uint32_t threshold = hintThreshold(*hint);
  const bool hinted = at.keep < at.count && threshold != 0 && threshold <= 0x7F800000u;
  const DequantizedBlock dequantized =
      Passes::template dequantize<G>(grads + at.begin, errors, hinted ? threshold : 0, ahead, scratch);
  countHint(hinted, hinted && dequantized.marked >= at.keep);
  Prefetch::afterFirstPass(state, at);

  // 2. Top-K into row r = (t-1) mod m; the selected a become 0.
  const uint32_t taken = selectBlockTopk<Passes>(a, at.count, at.keep, dequantized, hinted, hint, scratch);
  writeWindowRow(state, at, scratch.selected.data(), taken, a);

  // 3. What was left out becomes the new error.
  const bool mayHaveNaN = dequantized.maxMagnitude > 0x7F800000u;
  Passes::quantize(a, errors, mayHaveNaN, ahead, scratch.codes.data());

  // 4. M and W at the indices the window names, each listed once; everywhere else u = +0.
  const WindowBlock windowBlock{state.windowIndices() + at.slot0, state.windowValues() + at.slot0, at.rowLength,
                                at.keep};
  const uint32_t namedCount = Passes::accumulateNamed(windowBlock, at.step, at.window, s, ahead, scratch);
  Prefetch::afterLastPass(ahead);

  // 5 and 7, sparse: with lambda = 0 and alpha = 0 a +0 direction leaves p as it is, so only
  // the named indices change.
  if (!s.hasDecay && !s.hasAlpha) {
    Passes::template updateNamedParams<P>(namedCount, scratch.named.data(), scratch.moments.data(), s,
                                          params + at.begin, scratch);
    return;
  }
  // 5, then 6 (with alpha, u += alpha * deq and the error keeps the rest), then 7 everywhere.
  directionsAtNamed<Passes>(namedCount, s, scratch);
  if (s.hasAlpha) injectError(errors, s, a, scratch);
  updateAllParams<P>(at.count, s, params + at.begin, scratch);
  if (s.hasAlpha) {
    // e = (1 - alpha) * deq is finite: codes are 0..15 and ranges finite bf16.
    LinePrefetcher none;
    Passes::quantize(a, errors, false, none, scratch.codes.data());
  }
}

using TypedKernel = void (*)(HostState&, uint64_t, void*, const void*, const StepScalars&, BlockScratch&);

template <class Passes, class Prefetch, Dtype P>
TypedKernel kernelFor(Dtype g) {
  switch (g) {
    case Dtype::F32: return &stepBlockWith<Passes, Prefetch, P, Dtype::F32>;
    case Dtype::BF16: return &stepBlockWith<Passes, Prefetch, P, Dtype::BF16>;
    case Dtype::F16: return &stepBlockWith<Passes, Prefetch, P, Dtype::F16>;
  }
  return nullptr;
}

// stepBlock (block_step.h) with these policies, for the dtypes of params and grads.
template <class Passes, class Prefetch>
void stepBlockOf(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
                 const StepScalars& scalars, BlockScratch& scratch) {
  TypedKernel kernel = params.dtype == Dtype::F32    ? kernelFor<Passes, Prefetch, Dtype::F32>(grads.dtype)
                       : params.dtype == Dtype::BF16 ? kernelFor<Passes, Prefetch, Dtype::BF16>(grads.dtype)
                                                     : kernelFor<Passes, Prefetch, Dtype::F16>(grads.dtype);
  kernel(state, block, params.data, grads.data, scalars, scratch);
}

}  // namespace
}  // namespace microadam
