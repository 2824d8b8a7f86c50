#include "adamw_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "batch_checks.h"
#include "block_step.h"
#include "thread_pool.h"

namespace microadam {

AdamWScalars makeAdamWScalars(const HyperParams& hp, uint64_t step) {
  const double biasCorrection1 = 1.0 - powerByBinaryExponentiation(hp.beta1, step);
  const double biasCorrection2 = 1.0 - powerByBinaryExponentiation(hp.beta2, step);
  return AdamWScalars{float(hp.beta1),
                      float(hp.beta2),
                      float(1.0 - hp.beta1),
                      float(1.0 - hp.beta2),
                      float(hp.eps),
                      float(1.0 - hp.lr * hp.weightDecay),
                      float(hp.lr / biasCorrection1),
                      float(std::sqrt(biasCorrection2))};
}

StepReport adamWCpuStep(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy) {
  // Throws before any work if MICROADAM_CPU_PATH names no usable path. AdamW has no AVX-512
  // build: it moves 28 bytes per element and waits on memory.
  const bool avx2 = activeCpuPath() != CpuPath::Baseline;
  if (shouldSkipForNonFinite(gradientsOf(steps), policy)) return StepReport{true};
  constexpr uint64_t kChunk = 1 << 14;  // 16K elements: about 200 KB of data touched per chunk
  std::vector<AdamWScalars> scalars;
  std::vector<uint64_t> firstChunk(steps.size() + 1, 0);
  for (size_t i = 0; i < steps.size(); ++i) {
    scalars.push_back(makeAdamWScalars(steps[i].hyper, steps[i].state->step() + 1));
    firstChunk[i + 1] = firstChunk[i] + (steps[i].state->numel() + kChunk - 1) / kChunk;
  }
  for (const AdamWTensorStep& s : steps) s.state->setStep(s.state->step() + 1);
  ThreadPool::shared().parallelFor(firstChunk.back(), 1, [&](uint64_t begin, uint64_t end) {
    for (uint64_t c = begin; c < end; ++c) {
      const size_t t = size_t(std::upper_bound(firstChunk.begin(), firstChunk.end(), c) - firstChunk.begin() - 1);
      const AdamWTensorStep& s = steps[t];
      const uint64_t from = (c - firstChunk[t]) * kChunk;
      const uint64_t to = std::min(s.state->numel(), from + kChunk);
      if (avx2)
        kernel_avx2::adamWRange(*s.state, s.params, s.grads, from, to, scalars[t]);
      else
        kernel_baseline::adamWRange(*s.state, s.params, s.grads, from, to, scalars[t]);
    }
  });
  return StepReport{false};
}

}  // namespace microadam
