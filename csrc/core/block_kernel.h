// The body of stepBlock, included by block_kernel_baseline.cpp, block_kernel_avx2.cpp and
// block_kernel_avx512.cpp, which compile it for three instruction sets. Everything here has
// internal linkage (see numeric.h). MICROADAM_KERNEL_NAMESPACE names the build;
// MICROADAM_KERNEL_AVX2 (the AVX2 and AVX-512 builds) swaps the plain C++ passes for those of
// block_passes_avx2.h, and MICROADAM_KERNEL_AVX512 (the AVX-512 build) the element passes for
// those of block_passes_avx512.h; all give the same bits.
#include <cstdint>

#include "block_passes.h"
#include "block_prefetch.h"
#include "block_step.h"
#include "error_feedback.h"
#include "kernel_elements.h"
#include "numeric.h"
#include "topk_select.h"
#include "window_moments.h"
#if MICROADAM_KERNEL_AVX2
#include "block_passes_avx2.h"
#endif
#if MICROADAM_KERNEL_AVX512
#include "block_passes_avx512.h"
#endif

namespace microadam {
namespace MICROADAM_KERNEL_NAMESPACE {
namespace {

// Step 1 with the candidate marks, in this build's instruction set. Asks `ahead` for a quarter
// of its lines while it runs.
template <Dtype G>
DequantizedBlock dequantizeBlock(const typename Element<G>::Storage* grads, const BlockErrors& e, uint32_t threshold,
                                 LinePrefetcher& ahead, BlockScratch& scratch) {
  float* a = scratch.values.data();
#if MICROADAM_KERNEL_AVX512
  if (e.q % 16 == 0) {
    float* units = scratch.bucketUnits.data();
    float* lows = scratch.bucketLows.data();
    const uint32_t chunks = e.count / 64;
    const uint32_t linesPerChunk = chunks != 0 ? (ahead.left() / 4 + chunks - 1) / chunks : 0;
    uint64_t* marks = scratch.marks.data();
    uint32_t* candidates = scratch.candidates.data();
    // With a threshold, the candidates are listed too (selectBlockTopk ranks them from the list).
    if constexpr (G == Dtype::F16) {
      // f16 is widened element by element (the reference's conversion), then stepped as f32.
      for (uint32_t i = 0; i < e.count; ++i) a[i] = Element<G>::load(grads, i);
      return threshold != 0
                 ? dequantizeBlockAvx512<Dtype::F32, 0, true>(a, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<Dtype::F32, 0>(a, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else if (e.q == 64) {
      return threshold != 0
                 ? dequantizeBlockAvx512<G, 64, true>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<G, 64>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else {
      return threshold != 0
                 ? dequantizeBlockAvx512<G, 0, true>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<G, 0>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    }
  }
#endif
#if MICROADAM_KERNEL_AVX2
  if (e.q % 8 == 0) {
    float* units = scratch.bucketUnits.data();
    float* lows = scratch.bucketLows.data();
    const uint32_t chunks = e.count / 64;
    const uint32_t linesPerChunk = chunks != 0 ? (ahead.left() / 4 + chunks - 1) / chunks : 0;
    if constexpr (G == Dtype::F16) {
      // No F16C in this build: the gradient is widened element by element, then stepped as f32.
      for (uint32_t i = 0; i < e.count; ++i) a[i] = Element<G>::load(grads, i);
      return dequantizeBlockAvx2<Dtype::F32, 0>(a, e, threshold, a, scratch.marks.data(), units, lows, ahead,
                                                linesPerChunk);
    } else if (e.q == 64) {
      return dequantizeBlockAvx2<G, 64>(grads, e, threshold, a, scratch.marks.data(), units, lows, ahead,
                                        linesPerChunk);
    } else {
      return dequantizeBlockAvx2<G, 0>(grads, e, threshold, a, scratch.marks.data(), units, lows, ahead,
                                       linesPerChunk);
    }
  }
#endif
  ahead.askAll();
  return dequantizeBlockReference<G>(grads, e, threshold, a, scratch.marks.data(), scratch.codes.data());
}

// Step 3; asks `ahead` for half of the lines it has left.
void quantizeBlock(const float* a, const BlockErrors& e, bool mayHaveNaN, LinePrefetcher& ahead,
                   uint8_t* codeScratch) {
#if MICROADAM_KERNEL_AVX512
  const uint32_t lines = ahead.left() / 2;
  if (e.q == 64)
    quantizeBlockAvx512<64>(a, e, mayHaveNaN, codeScratch, ahead, lines);
  else
    quantizeBlockAvx512<0>(a, e, mayHaveNaN, codeScratch, ahead, lines);
#elif MICROADAM_KERNEL_AVX2
  const uint32_t lines = ahead.left() / 2;
  if (e.q == 64)
    quantizeBlockAvx2<64>(a, e, mayHaveNaN, codeScratch, ahead, lines);
  else
    quantizeBlockAvx2<0>(a, e, mayHaveNaN, codeScratch, ahead, lines);
#else
  (void)mayHaveNaN;
  (void)ahead;
  quantizeBlockReference(a, e, codeScratch);
#endif
}

// Steps 4-5 inputs: the indices the window names (scratch.named) and their M and W
// (scratch.moments), in slots; scratch.slotOf maps an index to its slot.
uint32_t accumulateNamed(const WindowBlock& block, uint64_t step, uint32_t window, const StepScalars& s,
                         LinePrefetcher& ahead, BlockScratch& scratch) {
#if MICROADAM_KERNEL_AVX512
  // Fresh slots start at +0 inside the pass.
  return accumulateWindowCompactAvx512(block, step, window, s.beta1Powers.data(), s.beta2Powers.data(),
                                       scratch.moments.data(), scratch.slotIndex.data(), scratch.named.data(), ahead);
#else
  // Every slot that can be used starts at +0.
  const uint64_t rows = step < window ? step : window;
  const uint64_t capacity = scratch.moments.size() / 2;  // a block has no more distinct indices
  const uint64_t slots = rows * block.keep < capacity ? rows * block.keep : capacity;
  float* moments = scratch.moments.data();
  for (uint64_t i = 0; i < 2 * slots; ++i) moments[i] = 0.0f;
#if MICROADAM_KERNEL_AVX2
  return accumulateWindowCompactAvx2(block, step, window, s.beta1Powers.data(), s.beta2Powers.data(), moments,
                                     scratch.slotOf.data(), scratch.named.data(), scratch.windowTerms.data(), ahead);
#else
  (void)ahead;
  return accumulateWindowCompact(block, step, window, s.beta1Powers.data(), s.beta2Powers.data(), moments,
                                 scratch.slotOf.data(), scratch.named.data());
#endif
#endif
}

// The index-to-slot map of accumulateNamed, cleared again at the named indices.
void clearSlot(BlockScratch& scratch, uint16_t idx) {
#if MICROADAM_KERNEL_AVX512
  scratch.slotIndex[idx] = 0;
#else
  scratch.slotOf[idx] = 0;
#endif
}

void namedDirections(uint32_t count, const float* moments, const StepScalars& s, float* direction) {
#if MICROADAM_KERNEL_AVX2
  namedDirectionsAvx2(count, moments, s.c1, s.c2, s.eps, direction);
#else
  namedDirectionsReference(count, moments, s.c1, s.c2, s.eps, direction);
#endif
}

uint32_t markMagnitudes(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
#if MICROADAM_KERNEL_AVX512
  return markMagnitudesAvx512(a, count, threshold, marks);
#elif MICROADAM_KERNEL_AVX2
  return markMagnitudesAvx2(a, count, threshold, marks);
#else
  return markMagnitudesReference(a, count, threshold, marks);
#endif
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

// Step 2: the Top-K of the block into `selected` (ascending); returns how many. Uses the marks
// of dequantizeBlock when the hint's threshold gave at least `keep` of them, or marks again
// below it; without a hint (the first step) takes the keys of a and lets a histogram of them
// find a threshold.
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
    // Too few keys reach the hint: the block's top fell. Lower the threshold by a quarter octave,
    // then by twice as much each time, and mark again.
    uint32_t threshold = hintThreshold(*hint), marked = d.marked;
#if MICROADAM_KERNEL_AVX512
    if (marked >= keep && d.listed) {
      // The hint held, and dequantizeBlock listed its candidates' indices.
      rankCandidatesAvx512(a, scratch.candidates.data(), marked, scratch.ranked.data());
      *hint = selectRanked(scratch.ranked.data(), marked, keep, threshold, maxKey, aim, scratch.histogram.data(), selected);
      return keep;
    }
#endif
    for (uint32_t drop = 1u << 21; marked < keep && threshold > 1 && drop <= (1u << 26); drop <<= 1) {
      threshold = threshold > drop ? threshold - drop : 1;
      marked = markMagnitudes(a, count, threshold, scratch.marks.data());
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

template <Dtype P, Dtype G>
void stepBlockTyped(HostState& state, uint64_t block, void* paramData, const void* gradData, const StepScalars& s,
                    BlockScratch& scratch) {
  using Param = Element<P>;
  using Grad = Element<G>;
  auto* params = static_cast<typename Param::Storage*>(paramData);
  const auto* grads = static_cast<const typename Grad::Storage*>(gradData);
  const StateLayout& layout = state.layout();
  const uint32_t window = layout.config().window;
  const uint32_t q = layout.config().quantBlockSize;
  const uint64_t step = state.step();
  const uint64_t begin = layout.blockBegin(block);
  const uint32_t count = layout.blockSize(block);
  const uint32_t keep = layout.blockKeep(block);
  const uint64_t slot0 = layout.blockSlotOffset(block);
  const uint64_t K = layout.rowLength();
  const uint64_t firstBucket = begin / q;
  const BlockErrors errors{state.errorCodes() + begin / 2, state.errorMin() + firstBucket, state.errorMax() + firstBucket,
                           count, q};
  float* a = scratch.values.data();

  // The next block (most likely this thread's next): its codes now, its gradient and params
  // spread over steps 1, 3 and 4 (block_prefetch.h), its window rows and bucket ranges below.
  const bool hasNext = block + 1 < layout.blockCount();
  const uint32_t nextCount = hasNext ? layout.blockSize(block + 1) : 0;
  LinePrefetcher ahead(grads + begin + count, uint64_t(nextCount) * sizeof(*grads), params + begin + count,
                       uint64_t(nextCount) * sizeof(*params));
  for (uint32_t offset = 0; offset < (nextCount + 1) / 2; offset += 64)
    __builtin_prefetch(errors.codes + count / 2 + offset, 0, 2);

  // 1. a = g + dequantized error; with a usable hint, the Top-K candidates are marked too.
  uint32_t* hint = state.topkHint(block);
  const uint32_t threshold = hintThreshold(*hint);
  const bool hinted = keep < count && threshold != 0 && threshold <= 0x7F800000u;
  const DequantizedBlock dequantized = dequantizeBlock<G>(grads + begin, errors, hinted ? threshold : 0, ahead, scratch);
  if (TopkHintStats& stats = topkHintStats(); stats.enabled.load(std::memory_order_relaxed)) {
    stats.blocks.fetch_add(1, std::memory_order_relaxed);
    stats.hinted.fetch_add(hinted, std::memory_order_relaxed);
    stats.held.fetch_add(hinted && dequantized.marked >= keep, std::memory_order_relaxed);
  }

  // The small scattered pieces of state the next block starts with, its window rows and bucket
  // ranges: otherwise each is a miss that a pass waits on.
  if (hasNext) {
    const uint32_t nextKeep = layout.blockKeep(block + 1);
    const uint64_t rows = step < window ? step : window;
    auto askLines = [](const void* from, uint64_t bytes) {
      const char* p = static_cast<const char*>(from);
      for (uint64_t offset = 0; offset < bytes + 63; offset += 64) __builtin_prefetch(p + offset, 0, 2);
    };
    for (uint64_t r = 0; r < rows; ++r) {
      askLines(state.windowIndices() + r * K + slot0 + keep, nextKeep * sizeof(uint16_t));
      askLines(state.windowValues() + r * K + slot0 + keep, nextKeep * sizeof(uint16_t));
    }
    const uint64_t nextBuckets = (layout.blockSize(block + 1) + q - 1) / q;
    const uint64_t buckets = (count + q - 1) / q;
    askLines(errors.errorMin + buckets, nextBuckets * sizeof(uint16_t));
    askLines(errors.errorMax + buckets, nextBuckets * sizeof(uint16_t));
  }

  // 2. Top-K into row r = (t-1) mod m; the selected a become 0.
  const uint64_t row = (step - 1) % window;
  uint16_t* rowIndices = state.windowIndices() + row * K + slot0;
  uint16_t* rowValues = state.windowValues() + row * K + slot0;
  const uint16_t* selected = scratch.selected.data();
  const uint32_t taken = selectBlockTopk(a, count, keep, dequantized, hinted, hint, scratch);
  for (uint32_t n = 0; n < taken; ++n) {
    const uint16_t i = selected[n];
    rowIndices[n] = i;
    rowValues[n] = floatToBf16(a[i]);
    a[i] = 0.0f;
  }

  // 3. What was left out becomes the new error.
  const bool mayHaveNaN = dequantized.maxMagnitude > 0x7F800000u;
  quantizeBlock(a, errors, mayHaveNaN, ahead, scratch.codes.data());

  // 4-5. Moments at the indices the window names, each listed once; everywhere else u = +0.
  const float* moments = scratch.moments.data();
  const uint16_t* named = scratch.named.data();
  const WindowBlock windowBlock{state.windowIndices() + slot0, state.windowValues() + slot0, K, keep};
  const uint32_t namedCount = accumulateNamed(windowBlock, step, window, s, ahead, scratch);
  ahead.askAll();

  if (!s.hasDecay && !s.hasAlpha) {
    // 7, sparse: with lambda = 0 a +0 direction leaves p as it is, so only named indices change.
#if MICROADAM_KERNEL_AVX512
    if constexpr (P == Dtype::F32) {
      updateNamedParamsAvx512(namedCount, named, moments, s.c1, s.c2, s.eps, s.lr, params + begin,
                              scratch.slotIndex.data());
      return;
    }
#endif
    float* direction = scratch.namedDirection.data();
    namedDirections(namedCount, moments, s, direction);
    auto* __restrict__ blockParams = params + begin;
    const float lr = s.lr;
    for (uint32_t n = 0; n < namedCount; ++n) {
      const size_t idx = named[n];
      clearSlot(scratch, uint16_t(idx));
      const float u = direction[n];
      if (floatBits(u) == 0) continue;
      Param::store(blockParams, idx, Param::load(blockParams, idx) - lr * u);
    }
    return;
  }

  float* direction = scratch.direction.data();
  for (uint32_t n = 0; n < namedCount; ++n) {
    const uint16_t idx = named[n];
    direction[idx] = adamDirection(moments[2 * n], moments[2 * n + 1], s.c1, s.c2, s.eps);
    clearSlot(scratch, idx);
  }
  // 6. With alpha, u += alpha*deq and the error keeps (1-alpha)*deq; a holds deq, then e.
  if (s.hasAlpha) {
    for (uint32_t offset = 0, b = 0; offset < count; offset += q, ++b) {
      const uint32_t size = count - offset < q ? count - offset : q;
      dequantizeAddBucket(errors.codes + offset / 2, size, errors.errorMin[b], errors.errorMax[b], nullptr, a + offset,
                          scratch.codes.data());
    }
    for (uint32_t i = 0; i < count; ++i) {
      direction[i] = direction[i] + s.alpha * a[i];
      a[i] = s.oneMinusAlpha * a[i];
    }
  }
  // 7, dense.
  for (uint32_t i = 0; i < count; ++i) {
    const float u = direction[i];
    direction[i] = 0.0f;
    if (!s.hasDecay && floatBits(u) == 0) continue;
    float x = Param::load(params, begin + i);
    if (s.hasDecay) x = x * s.decay;
    Param::store(params, begin + i, x - s.lr * u);
  }
  if (s.hasAlpha) {
    // e = (1 - alpha) * deq is finite: codes are 0..15 and ranges finite bf16.
    LinePrefetcher none;
    quantizeBlock(a, errors, false, none, scratch.codes.data());
  }
}

using TypedKernel = void (*)(HostState&, uint64_t, void*, const void*, const StepScalars&, BlockScratch&);

template <Dtype P>
TypedKernel kernelFor(Dtype g) {
  switch (g) {
    case Dtype::F32: return &stepBlockTyped<P, Dtype::F32>;
    case Dtype::BF16: return &stepBlockTyped<P, Dtype::BF16>;
    case Dtype::F16: return &stepBlockTyped<P, Dtype::F16>;
  }
  return nullptr;
}

}  // namespace

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  TypedKernel kernel = params.dtype == Dtype::F32    ? kernelFor<Dtype::F32>(grads.dtype)
                       : params.dtype == Dtype::BF16 ? kernelFor<Dtype::BF16>(grads.dtype)
                                                     : kernelFor<Dtype::F16>(grads.dtype);
  kernel(state, block, params.data, grads.data, scalars, scratch);
}

}  // namespace MICROADAM_KERNEL_NAMESPACE
}  // namespace microadam
