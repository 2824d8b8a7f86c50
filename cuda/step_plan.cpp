#include "step_plan.h"

#include "shared_layout.h"

namespace microadam::kernels {

namespace {

TensorPlan planTensor(const StateLayout& layout, uint64_t newStep, const StepScalars& s, const StateBuffers& state,
                      const TensorView& params, const TensorView& grads, uint64_t firstBlock) {
  const StateConfig& c = layout.config();
  TensorPlan p{};
  p.params = params.data;
  p.grads = grads.data;
  p.state = state;
  p.beta1Powers = nullptr;
  p.beta2Powers = nullptr;
  p.numel = layout.numel();
  p.rowLength = layout.rowLength();
  p.firstBlock = firstBlock;
  p.blockCount = layout.blockCount();
  p.step = newStep;
  p.topkBlockSize = c.topkBlockSize;
  p.quantBlockSize = c.quantBlockSize;
  p.window = c.window;
  p.keepFull = StateLayout::keepCount(c.topkBlockSize, c.density);
  p.keepLast = layout.blockKeep(layout.blockCount() - 1);
  p.paramDtype = uint8_t(params.dtype);
  p.gradDtype = uint8_t(grads.dtype);
  p.hasDecay = s.hasDecay;
  p.hasAlpha = s.hasAlpha;
  p.lr = s.lr;
  p.eps = s.eps;
  p.alpha = s.alpha;
  p.oneMinusAlpha = s.oneMinusAlpha;
  p.decay = s.decay;
  p.c1 = s.c1;
  p.c2 = s.c2;
  return p;
}

}  // namespace

void LaunchPlan::bindPowers(const float* base) {
  for (size_t i = 0; i < plans.size(); ++i) {
    plans[i].beta1Powers = base + powersOffset[i];
    plans[i].beta2Powers = base + powersOffset[i] + plans[i].window;
  }
}

LaunchPlan buildLaunchPlan(const std::vector<PlanInput>& inputs) {
  LaunchPlan launch;
  for (const PlanInput& in : inputs) {
    const uint32_t window = in.layout->config().window;
    const StepScalars scalars = makeStepScalars(in.hyper, in.newStep, window);
    launch.plans.push_back(planTensor(*in.layout, in.newStep, scalars, in.state, in.params, in.grads, launch.gridBlocks));
    launch.powersOffset.push_back(launch.betaPowers.size());
    launch.betaPowers.insert(launch.betaPowers.end(), scalars.beta1Powers.begin(), scalars.beta1Powers.end());
    launch.betaPowers.insert(launch.betaPowers.end(), scalars.beta2Powers.begin(), scalars.beta2Powers.end());
    launch.gridBlocks += in.layout->blockCount();
    if (in.layout->config().topkBlockSize > launch.largestTopkBlock)
      launch.largestTopkBlock = in.layout->config().topkBlockSize;
  }
  return launch;
}

uint64_t stepSharedBytes(uint32_t topkBlockSize) {
  return sharedLayout(topkBlockSize).totalBytes;
}

}  // namespace microadam::kernels
