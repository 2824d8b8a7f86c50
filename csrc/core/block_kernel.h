// The body of stepBlock, included by block_kernel_baseline.cpp and block_kernel_avx2.cpp, which
// compile it for two instruction sets. Everything here has internal linkage (see numeric.h).
// MICROADAM_KERNEL_NAMESPACE names the build.
#include <cstdint>

#include "block_step.h"
#include "error_feedback.h"
#include "kernel_elements.h"
#include "numeric.h"
#include "topk_select.h"
#include "window_moments.h"

namespace microadam {
namespace MICROADAM_KERNEL_NAMESPACE {
namespace {

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
  uint8_t* codes = state.errorCodes() + begin / 2;
  uint16_t* errorMin = state.errorMin() + firstBucket;
  uint16_t* errorMax = state.errorMax() + firstBucket;
  float* a = scratch.values.data();
  uint32_t* keys = scratch.keys.data();

  // 1. a = g + dequantized error, and the Top-K keys of a.
  for (uint32_t i = 0; i < count; ++i) a[i] = Grad::load(grads, begin + i);
  // The params are written at the end of the block at scattered indices: ask for their cache
  // lines now, so the loads there do not wait on memory. The next block's gradient (which this
  // thread most likely steps next) is requested as well.
  {
    const auto* paramBytes = reinterpret_cast<const char*>(params + begin);
    const uint64_t paramLength = uint64_t(count) * sizeof(*params);
    for (uint64_t offset = 0; offset < paramLength; offset += 64) __builtin_prefetch(paramBytes + offset, 1, 3);
    const uint64_t nextBegin = begin + count;
    if (nextBegin < layout.numel()) {
      const auto* nextGrad = reinterpret_cast<const char*>(grads + nextBegin);
      const uint64_t nextLength = uint64_t(layout.blockSize(block + 1)) * sizeof(*grads);
      for (uint64_t offset = 0; offset < nextLength; offset += 64) __builtin_prefetch(nextGrad + offset, 0, 3);
    }
  }
  for (uint32_t offset = 0, b = 0; offset < count; offset += q, ++b) {
    const uint32_t size = count - offset < q ? count - offset : q;
    dequantizeAddBucket(codes + offset / 2, size, errorMin[b], errorMax[b], a + offset, a + offset,
                        scratch.codes.data());
  }
  uint32_t maxKey = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t magnitude = floatBits(a[i]) & 0x7FFFFFFFu;
    const uint32_t key = magnitude > 0x7F800000u ? kNanKey : magnitude;
    keys[i] = key;
    maxKey = key > maxKey ? key : maxKey;
  }

  // 2. Top-K into row r = (t-1) mod m; the selected a become 0.
  const uint64_t row = (step - 1) % window;
  uint16_t* rowIndices = state.windowIndices() + row * K + slot0;
  uint16_t* rowValues = state.windowValues() + row * K + slot0;
  uint16_t* selected = scratch.selected.data();
  const uint32_t taken = selectTopk(keys, count, keep, maxKey,
                                    TopkScratch{scratch.histogram.data(), scratch.candidates.data(), scratch.ranked.data()},
                                    selected, state.topkHint(block));
  for (uint32_t n = 0; n < taken; ++n) {
    const uint16_t i = selected[n];
    rowIndices[n] = i;
    rowValues[n] = floatToBf16(a[i]);
    a[i] = 0.0f;
  }

  // 3. What was left out becomes the new error.
  for (uint32_t offset = 0, b = 0; offset < count; offset += q, ++b) {
    const uint32_t size = count - offset < q ? count - offset : q;
    quantizeBucket(a + offset, size, codes + offset / 2, errorMin + b, errorMax + b, scratch.codes.data());
  }

  // 4-5. Moments and directions at the indices the window names; everywhere else u = +0.
  float* m1 = scratch.moment1.data();
  float* m2 = scratch.moment2.data();
  float* direction = scratch.direction.data();
  uint8_t* touched = scratch.touched.data();
  const WindowBlock windowBlock{state.windowIndices() + slot0, state.windowValues() + slot0, K, keep};
  accumulateWindow(windowBlock, step, window, s.beta1Powers.data(), s.beta2Powers.data(), m1, m2, touched);
  const uint64_t rows = step < window ? step : window;
  // Visit each named index once (an index can sit in several rows): `touched` goes 1 -> 0.
  auto forEachNamed = [&](auto fn) {
    for (uint64_t r = 0; r < rows; ++r)
      for (uint32_t slot = 0; slot < keep; ++slot) {
        const uint16_t idx = windowBlock.indices[r * K + slot];
        if (touched[idx]) {
          touched[idx] = 0;
          fn(idx);
        }
      }
  };

  if (!s.hasDecay && !s.hasAlpha) {
    // 7, sparse: with lambda = 0 a +0 direction leaves p as it is, so only named indices change.
    forEachNamed([&](uint16_t idx) {
      const float u = adamDirection(m1[idx], m2[idx], s.c1, s.c2, s.eps);
      m1[idx] = m2[idx] = 0.0f;
      if (floatBits(u) == 0) return;
      const float x = Param::load(params, begin + idx);
      Param::store(params, begin + idx, x - s.lr * u);
    });
    return;
  }

  forEachNamed([&](uint16_t idx) {
    direction[idx] = adamDirection(m1[idx], m2[idx], s.c1, s.c2, s.eps);
    m1[idx] = m2[idx] = 0.0f;
  });
  // 6. With alpha, u += alpha*deq and the error keeps (1-alpha)*deq; a holds deq, then e.
  if (s.hasAlpha) {
    for (uint32_t offset = 0, b = 0; offset < count; offset += q, ++b) {
      const uint32_t size = count - offset < q ? count - offset : q;
      dequantizeAddBucket(codes + offset / 2, size, errorMin[b], errorMax[b], nullptr, a + offset,
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
    for (uint32_t offset = 0, b = 0; offset < count; offset += q, ++b) {
      const uint32_t size = count - offset < q ? count - offset : q;
      quantizeBucket(a + offset, size, codes + offset / 2, errorMin + b, errorMax + b, scratch.codes.data());
    }
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
