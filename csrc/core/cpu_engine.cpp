#include "cpu_engine.h"

#include <algorithm>

#include "batch_checks.h"
#include "block_step.h"
#include "thread_pool.h"

namespace microadam {

StepReport cpuStep(const std::vector<TensorStep>& steps, NonFinitePolicy policy) {
  activeCpuPath();  // throws here, before any work, if MICROADAM_CPU_PATH names no usable path
  if (shouldSkipForNonFinite(gradientsOf(steps), policy)) return StepReport{true};

  std::vector<StepScalars> scalars;
  scalars.reserve(steps.size());
  std::vector<uint64_t> firstBlock(steps.size() + 1, 0);
  uint32_t largestBlock = 1;
  for (size_t i = 0; i < steps.size(); ++i) {
    const StateLayout& layout = steps[i].state->layout();
    scalars.push_back(makeStepScalars(steps[i].hyper, steps[i].state->step() + 1, layout.config().window));
    firstBlock[i + 1] = firstBlock[i] + layout.blockCount();
    largestBlock = std::max(largestBlock, layout.config().topkBlockSize);
  }
  for (const TensorStep& s : steps) s.state->setStep(s.state->step() + 1);

  ThreadPool& pool = ThreadPool::shared();
  const uint64_t totalBlocks = firstBlock.back();
  const uint64_t grain = std::max<uint64_t>(1, totalBlocks / (uint64_t(pool.threadCount()) * 16));
  pool.parallelFor(totalBlocks, grain, [&](uint64_t begin, uint64_t end) {
    thread_local BlockScratch scratch;
    scratch.reserve(largestBlock);
    for (uint64_t b = begin; b < end; ++b) {
      const size_t t = size_t(std::upper_bound(firstBlock.begin(), firstBlock.end(), b) - firstBlock.begin() - 1);
      const TensorStep& s = steps[t];
      stepBlock(*s.state, b - firstBlock[t], s.params, s.grads, scalars[t], scratch);
    }
  });
  return StepReport{false};
}

}  // namespace microadam
