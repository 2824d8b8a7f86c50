#include "block_step.h"

#include <cstdlib>

#include "topk_select.h"

namespace microadam {

void BlockScratch::reserve(uint32_t capacity) {
  if (values.size() >= capacity) return;
  // Rounded up to whole vectors and mark words, so vector loops may run to the end of a word.
  const uint32_t padded = (capacity + 63) / 64 * 64;
  values.assign(padded, 0.0f);
  keys.assign(padded, 0);
  marks.assign(padded / 64, 0);
  moments.assign(2 * padded, 0.0f);
  direction.assign(padded, 0.0f);
  slotOf.assign(padded, 0);
  named.assign(padded + 64, 0);  // accumulateWindowCompact writes one past the last listed index
  namedDirection.assign(padded, 0.0f);
  windowTerms.assign(2 * padded + 16, 0.0f);
  bucketUnits.assign(padded / 2, 0.0f);
  bucketLows.assign(padded / 2, 0.0f);
  codes.assign(padded + 1, 0);
  histogram.assign(kTopkHistogramSize, 0);
  selected.assign(padded, 0);
  ranked.assign(padded, 0);
}

namespace {
bool useAvx2() {
  static const bool avx2 = !std::getenv("MICROADAM_NO_AVX2") && kernel_avx2::available();
  return avx2;
}
}  // namespace

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  if (useAvx2())
    kernel_avx2::stepBlock(state, block, params, grads, scalars, scratch);
  else
    kernel_baseline::stepBlock(state, block, params, grads, scalars, scratch);
}

const char* blockKernelName() { return useAvx2() ? "avx2" : "baseline"; }

}  // namespace microadam
