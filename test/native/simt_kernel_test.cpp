// Runs the real CUDA kernel source (cuda/fused_step_kernel.cuh) as host C++ in the SIMT harness
// (cuda/simt_host.h) and compares every step with the CPU engine, bit for bit: params and the
// whole state, every dtype pair, odd sizes, several tensors per launch, hostile values, and
// several thread-block sizes. Built by CMake (-DMICROADAM_SELFTEST=ON) as microadam_simt_test,
// also with -fsanitize=thread and -fsanitize=address (scripts/simt-test.js). Prints
// "N passed, M failed" and exits non-zero on failure.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_engine.h"
#include "core/numeric.h"
#include "core/state.h"
#include "core/shard_cuts.h"
#include "cuda/fused_step_kernel.cuh"
#include "cuda/rank_order_sum.cuh"
#include "cuda/step_plan.h"
#include "test_support.h"

using namespace microadam;
using namespace microadam::native_test;

namespace {

kernels::StateBuffers buffersOf(HostState& s) {
  return kernels::StateBuffers{s.errorCodes(), s.errorMin(), s.errorMax(), s.windowIndices(), s.windowValues()};
}

// One step of `states` through the kernel in the harness: what the CUDA host code does, with
// host memory in place of device memory.
void kernelStep(std::vector<HostState*>& states, std::vector<HostTensor>& params, std::vector<HostTensor>& grads,
                const std::vector<HyperParams>& hyper, uint32_t threads) {
  std::vector<kernels::PlanInput> inputs;
  for (size_t i = 0; i < states.size(); ++i)
    inputs.push_back(kernels::PlanInput{&states[i]->layout(), states[i]->step() + 1, hyper[i], buffersOf(*states[i]),
                                        params[i].view(), grads[i].view()});
  kernels::LaunchPlan launch = kernels::buildLaunchPlan(inputs);
  launch.bindPowers(launch.betaPowers.data());
  for (HostState* s : states) s->setStep(s->step() + 1);
  simt::launch(uint32_t(launch.gridBlocks), threads, kernels::stepSharedBytes(launch.largestTopkBlock),
               kernels::fusedStepKernel, static_cast<const kernels::TensorPlan*>(launch.plans.data()),
               uint32_t(launch.plans.size()), launch.largestTopkBlock);
}

struct Case {
  std::string name;
  std::vector<uint64_t> sizes;
  StateConfig config;  // numel ignored
  Dtype param, grad;
  double weightDecay, alpha;
  int steps;
  uint32_t threads;
  bool hostile;  // ties, +-0, Inf and NaN among the gradients
};

float drawGradient(std::mt19937& rng, bool hostile) {
  std::normal_distribution<float> normal;
  if (!hostile) return normal(rng) * 1e-2f;
  switch (rng() % 16) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 0.25f;  // exact ties
    case 3: return -0.25f;
    case 4: return (rng() % 64 == 0) ? INFINITY : 1e-3f;
    case 5: return (rng() % 64 == 0) ? NAN : -1e-3f;
    case 6: return 3e38f;
    case 7: return 1e-40f;  // subnormal
    default: return normal(rng);
  }
}

void runCase(const Case& c) {
  const auto started = std::chrono::steady_clock::now();
  std::mt19937 rng(1234);
  std::vector<std::unique_ptr<HostState>> cpuStates, gpuStates;
  std::vector<HostTensor> cpuParams, gpuParams;
  std::vector<HyperParams> hyper;
  for (uint64_t n : c.sizes) {
    StateConfig config = c.config;
    config.numel = n;
    cpuStates.push_back(std::make_unique<HostState>(config));
    gpuStates.push_back(std::make_unique<HostState>(config));
    cpuParams.emplace_back(c.param, n);
    for (uint64_t i = 0; i < n; ++i) cpuParams.back().set(i, std::normal_distribution<float>()(rng));
    gpuParams.push_back(cpuParams.back());
    HyperParams h;
    h.lr = 1e-2 * (1 + hyper.size());
    h.weightDecay = c.weightDecay;
    h.alpha = c.alpha;
    hyper.push_back(h);
  }
  std::vector<HostState*> gpuPointers;
  for (auto& s : gpuStates) gpuPointers.push_back(s.get());
  bool same = true;
  int firstDiff = -1;
  for (int t = 0; t < c.steps && same; ++t) {
    std::vector<HostTensor> grads;
    for (uint64_t n : c.sizes) {
      grads.emplace_back(c.grad, n);
      for (uint64_t i = 0; i < n; ++i) grads.back().set(i, drawGradient(rng, c.hostile));
    }
    std::vector<TensorStep> steps;
    for (size_t i = 0; i < c.sizes.size(); ++i)
      steps.push_back(TensorStep{cpuStates[i].get(), cpuParams[i].view(), grads[i].view(), hyper[i]});
    cpuStep(steps, NonFinitePolicy::Ignore);
    kernelStep(gpuPointers, gpuParams, grads, hyper, c.threads);
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      if (cpuParams[i].bytes != gpuParams[i].bytes || !(Snapshot(*cpuStates[i]) == Snapshot(*gpuStates[i])) ||
          cpuStates[i]->step() != gpuStates[i]->step()) {
        same = false;
        firstDiff = t + 1;
      }
    }
  }
  check(same, c.name + (same ? "" : " (first difference at step " + std::to_string(firstDiff) + ")"));
  // Progress on stderr (stdout ends with the summary line the jest wrapper reads): a sanitizer
  // build runs for minutes, and a line per case shows where it is.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "  case %d: %s, %s (%.1f s)\n", tally.passed + tally.failed, same ? "ok" : "FAIL", c.name.c_str(), seconds);
}

void testDtypePairs(uint32_t threads) {
  const Dtype all[] = {Dtype::F32, Dtype::BF16, Dtype::F16};
  for (Dtype p : all)
    for (Dtype g : all)
      runCase(Case{std::string("kernel = CPU engine, params ") + dtypeName(p) + ", grads " + dtypeName(g) +
                       ", decay and alpha, " + std::to_string(threads) + " threads",
                   {1000, 517}, config(3, 0.05, 256, 16), p, g, 0.1, 0.25, 7, threads, false});
}

void testShapes(uint32_t threads) {
  const std::string suffix = ", " + std::to_string(threads) + " threads";
  runCase(Case{"odd sizes, many tensors, no decay (sparse writes)" + suffix, {1, 3, 255, 256, 257, 2049},
               config(4, 0.02, 256, 32), Dtype::F32, Dtype::F32, 0.0, 0.0, 9, threads, false});
  runCase(Case{"hostile gradients: ties, +-0, Inf, NaN, subnormals" + suffix, {700, 64},
               config(3, 0.1, 128, 8), Dtype::F32, Dtype::F32, 0.05, 0.0, 6, threads, true});
  runCase(Case{"hostile gradients in bf16 with alpha" + suffix, {513}, config(5, 0.03, 128, 64), Dtype::BF16,
               Dtype::BF16, 0.0, 0.5, 6, threads, true});
  runCase(Case{"Q = 6 (lane groups of 2)" + suffix, {300}, config(2, 0.1, 96, 6), Dtype::F16, Dtype::F32,
               0.0, 0.1, 5, threads, false});
  runCase(Case{"Q = 2" + suffix, {301}, config(2, 0.1, 64, 2), Dtype::F32, Dtype::F16, 0.01, 0.0, 5, threads, false});
  runCase(Case{"k = 1 and k = block (density 1)" + suffix, {130, 70}, config(3, 0.001, 64, 16), Dtype::F32,
               Dtype::F32, 0.0, 0.0, 5, threads, false});
  runCase(Case{"density 1: every element kept" + suffix, {200}, config(2, 1.0, 64, 16), Dtype::F32, Dtype::BF16,
               0.0, 0.0, 4, threads, false});
  runCase(Case{"window longer than the run, then wrapping" + suffix, {500}, config(4, 0.05, 128, 16), Dtype::F32,
               Dtype::F32, 0.0, 0.0, 11, threads, false});
}

void testDefaults() {
  runCase(Case{"defaults (m=10, 1%, B=4096, Q=64), 256 threads", {4096 * 2 + 1000}, StateConfig{}, Dtype::F32,
               Dtype::F32, 0.0, 0.0, 12, 256, false});
}

void testNonFiniteKernel() {
  for (int variant = 0; variant < 4; ++variant) {
    HostTensor a(Dtype::F32, 100), b(Dtype::BF16, 77);
    for (uint64_t i = 0; i < 100; ++i) a.set(i, 1.0f);
    for (uint64_t i = 0; i < 77; ++i) b.set(i, -2.0f);
    if (variant == 1) a.set(99, NAN);
    if (variant == 2) b.set(0, -INFINITY);
    if (variant == 3) b.set(76, NAN);
    std::vector<kernels::TensorPlan> plans(2);
    plans[0].grads = a.bytes.data();
    plans[0].numel = 100;
    plans[0].gradDtype = uint8_t(Dtype::F32);
    plans[1].grads = b.bytes.data();
    plans[1].numel = 77;
    plans[1].gradDtype = uint8_t(Dtype::BF16);
    uint32_t flag = 0;
    simt::launch(2, 32, 0, kernels::nonFiniteKernel, static_cast<const kernels::TensorPlan*>(plans.data()), 2u, &flag);
    check(flag == (variant == 0 ? 0u : 1u), "non-finite scan, variant " + std::to_string(variant));
  }
}

// The NCCL reduce-scatter's sum against the CPU's (which the MPI group uses): values whose sum
// depends on the order (large and small magnitudes, cancellations), subnormals, a NaN and an
// infinity, at 1 to 4 ranks, mean and sum, more elements than threads.
void testRankOrderSum() {
  std::mt19937 random(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (uint32_t ranks = 1; ranks <= 4; ++ranks)
    for (int variant = 0; variant < 3; ++variant)
      for (uint32_t mean = 0; mean <= 1; ++mean) {
        const uint64_t n = 1000, stride = 1003;
        std::vector<float> slots(stride * ranks, 12345.0f);  // past n in each slot: never read
        for (uint32_t r = 0; r < ranks; ++r)
          for (uint64_t i = 0; i < n; ++i) {
            const float scale = (i % 3 == 0) ? 1e8f : (i % 3 == 1) ? 1e-3f : 1e-40f;  // the last subnormal
            slots[r * stride + i] = unit(random) * scale;
          }
        if (variant == 1) slots[(ranks - 1) * stride + 500] = NAN;
        if (variant == 2) slots[999] = INFINITY;
        std::vector<float> expected(n), actual(n, -1.0f);
        const bool expectedBad = sumInRankOrder(slots.data(), int(ranks), int64_t(stride), int64_t(n), mean != 0, expected.data());
        uint32_t flag = 0;
        simt::launch(3, 64, 0, kernels::rankOrderSumKernel, static_cast<const float*>(slots.data()), ranks, stride, n, mean,
                     actual.data(), &flag);
        const std::string name = "rank-order sum, " + std::to_string(ranks) + " ranks, variant " + std::to_string(variant) +
                                 (mean ? ", mean" : ", sum");
        check(std::memcmp(expected.data(), actual.data(), n * sizeof(float)) == 0, name + ": the same bits as sumInRankOrder");
        check((flag != 0) == expectedBad && expectedBad == (variant != 0), name + ": the non-finite flag");
      }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  testNonFiniteKernel();
  testRankOrderSum();
  testDtypePairs(64);
  testShapes(64);
  if (!quick) {
    testShapes(32);
    testShapes(256);
    testDefaults();
  }
  return tally.finish();
}
