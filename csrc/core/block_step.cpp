#include "block_step.h"

#include <cstdlib>

#include "topk_select.h"

namespace microadam {

void BlockScratch::reserve(uint32_t capacity) {
  if (values.size() >= capacity) return;
  values.resize(capacity);
  keys.resize(capacity);
  moment1.assign(capacity, 0.0f);
  moment2.assign(capacity, 0.0f);
  direction.assign(capacity, 0.0f);
  touched.assign(capacity, 0);
  codes.resize(capacity + 1);
  histogram.resize(kTopkHistogramSize);
  candidates.resize(capacity);
  selected.resize(capacity);
  ranked.resize(capacity);
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
