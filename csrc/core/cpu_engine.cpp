#include "cpu_engine.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "block_step.h"
#include "errors.h"
#include "thread_pool.h"

namespace microadam {

namespace {

std::string tensorName(const char* what, size_t i) { return std::string(what) + "[" + std::to_string(i) + "]"; }

struct ByteRange {
  uintptr_t begin, end;
  size_t tensor;
  bool isParams;
};

// Param memory written by one tensor must not be read or written by another; a tensor's own
// gradient may alias its params (each block reads its gradient before it writes its params).
void checkNoSharedParams(const std::vector<TensorStep>& steps) {
  std::vector<ByteRange> ranges;
  for (size_t i = 0; i < steps.size(); ++i) {
    const TensorStep& s = steps[i];
    auto begin = reinterpret_cast<uintptr_t>(s.params.data);
    ranges.push_back({begin, begin + s.params.numel * dtypeBytes(s.params.dtype), i, true});
    begin = reinterpret_cast<uintptr_t>(s.grads.data);
    ranges.push_back({begin, begin + s.grads.numel * dtypeBytes(s.grads.dtype), i, false});
  }
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  // Sweep: compare each range with every earlier one that still overlaps it.
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = i + 1; j < ranges.size() && ranges[j].begin < ranges[i].end; ++j) {
      const ByteRange& a = ranges[i];
      const ByteRange& b = ranges[j];
      if (a.tensor == b.tensor || (!a.isParams && !b.isParams)) continue;
      const ByteRange& p = a.isParams ? a : b;
      const ByteRange& o = a.isParams ? b : a;
      throw RangeError(tensorName("params", p.tensor) + " shares memory with " +
                       tensorName(o.isParams ? "params" : "grads", o.tensor));
    }
}

}  // namespace

void validateSteps(const std::vector<TensorStep>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    const TensorStep& s = steps[i];
    if (s.state == nullptr) throw TypeError(tensorName("states", i) + " is missing");
    const uint64_t n = s.state->numel();
    if (s.params.numel != n)
      throw RangeError(tensorName("params", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.params.numel));
    if (s.grads.numel != n)
      throw RangeError(tensorName("grads", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.grads.numel));
    if (s.params.data == nullptr || s.grads.data == nullptr)
      throw TypeError(tensorName("params", i) + " or its grads has no memory");
    validateHyperParams(s.hyper);
    for (size_t j = 0; j < i; ++j)
      if (steps[j].state == s.state)
        throw RangeError(tensorName("states", i) + " is the same state as " + tensorName("states", j));
  }
  checkNoSharedParams(steps);
}

StepReport cpuStep(const std::vector<TensorStep>& steps, NonFinitePolicy policy) {
  validateSteps(steps);
  ThreadPool& pool = ThreadPool::shared();
  const uint64_t chunkElements = 1 << 16;

  if (policy != NonFinitePolicy::Ignore) {
    // Chunks over the concatenation of all gradients.
    std::vector<uint64_t> firstChunk(steps.size() + 1, 0);
    for (size_t i = 0; i < steps.size(); ++i)
      firstChunk[i + 1] = firstChunk[i] + (steps[i].grads.numel + chunkElements - 1) / chunkElements;
    std::atomic<bool> finite{true};
    pool.parallelFor(firstChunk.back(), 1, [&](uint64_t begin, uint64_t end) {
      for (uint64_t c = begin; c < end && finite.load(std::memory_order_relaxed); ++c) {
        const size_t t = size_t(std::upper_bound(firstChunk.begin(), firstChunk.end(), c) - firstChunk.begin() - 1);
        const TensorView& g = steps[t].grads;
        const uint64_t from = (c - firstChunk[t]) * chunkElements;
        if (!rangeIsFinite(g, from, std::min(g.numel, from + chunkElements))) finite = false;
      }
    });
    if (!finite) {
      if (policy == NonFinitePolicy::Error)
        throw NonFiniteGradientError("a gradient holds NaN or Inf (nonFinite: 'error'); nothing was changed");
      return StepReport{true};
    }
  }

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
