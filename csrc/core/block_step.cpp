#include "block_step.h"

#include "error_feedback.h"
#include "topk_select.h"
#include "window_moments.h"

namespace microadam {

void BlockScratch::reserve(uint32_t capacity) {
  if (values.size() >= capacity) return;
  values.resize(capacity);
  moment1.resize(capacity);
  moment2.resize(capacity);
  keys.resize(capacity);
}

namespace {

// Calls fn(bucketFirstElement, bucketSize, bucketIndex) for every bucket of the block.
template <typename Fn>
void forEachBucket(const StateLayout& layout, uint64_t begin, uint32_t count, Fn fn) {
  const uint32_t q = layout.config().quantBlockSize;
  for (uint32_t offset = 0; offset < count; offset += q) {
    const uint32_t size = count - offset < q ? count - offset : q;
    fn(begin + offset, offset, size, (begin + offset) / q);
  }
}

}  // namespace

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& s, BlockScratch& scratch) {
  const StateLayout& layout = state.layout();
  const uint32_t window = layout.config().window;
  const uint64_t step = state.step();
  const uint64_t begin = layout.blockBegin(block);
  const uint32_t count = layout.blockSize(block);
  const uint32_t keep = layout.blockKeep(block);
  const uint64_t slot0 = layout.blockSlotOffset(block);
  const uint64_t K = layout.rowLength();
  float* a = scratch.values.data();

  // 1. a = g + dequantized error.
  forEachBucket(layout, begin, count, [&](uint64_t first, uint32_t offset, uint32_t size, uint64_t b) {
    dequantizeBucket(state.errorCodes(), first, size, state.errorMin()[b], state.errorMax()[b], a + offset);
  });
  for (uint32_t i = 0; i < count; ++i) a[i] = loadElement(grads.data, grads.dtype, begin + i) + a[i];

  // 2. Top-K into row r = (t-1) mod m.
  const uint64_t row = (step - 1) % window;
  selectTopk(a, count, keep, state.windowIndices() + row * K + slot0, state.windowValues() + row * K + slot0,
             TopkScratch{scratch.keys.data()});

  // 3. What was left out becomes the new error.
  forEachBucket(layout, begin, count, [&](uint64_t first, uint32_t offset, uint32_t size, uint64_t b) {
    quantizeBucket(a + offset, first, size, state.errorCodes(), state.errorMin() + b, state.errorMax() + b);
  });

  // 4. Moments from the window.
  float* m1 = scratch.moment1.data();
  float* m2 = scratch.moment2.data();
  accumulateWindow(WindowBlock{state.windowIndices() + slot0, state.windowValues() + slot0, K, keep}, count,
                   step, window, s.beta1Powers.data(), s.beta2Powers.data(), m1, m2);

  // 6 (first half). With alpha, the direction also takes alpha * deq and the error keeps
  // (1 - alpha) * deq; a no longer needed, so it holds deq, then e.
  if (s.hasAlpha) {
    forEachBucket(layout, begin, count, [&](uint64_t first, uint32_t offset, uint32_t size, uint64_t b) {
      dequantizeBucket(state.errorCodes(), first, size, state.errorMin()[b], state.errorMax()[b], a + offset);
    });
  }

  // 5 and 7. Direction and parameter update.
  for (uint32_t i = 0; i < count; ++i) {
    float direction = adamDirection(m1[i], m2[i], s.c1, s.c2, s.eps);
    if (s.hasAlpha) {
      direction = direction + s.alpha * a[i];
      a[i] = s.oneMinusAlpha * a[i];
    }
    float x = loadElement(params.data, params.dtype, begin + i);
    if (s.hasDecay) x = x * s.decay;
    x = x - s.lr * direction;
    storeElement(params.data, params.dtype, begin + i, x);
  }

  // 6 (second half). Re-quantize the kept part of the error.
  if (s.hasAlpha) {
    forEachBucket(layout, begin, count, [&](uint64_t first, uint32_t offset, uint32_t size, uint64_t b) {
      quantizeBucket(a + offset, first, size, state.errorCodes(), state.errorMin() + b, state.errorMax() + b);
    });
  }
}

}  // namespace microadam
