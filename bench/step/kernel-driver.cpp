// A small native driver for the CPU step, without Node: times MicroAdam (cpuStep) and the fused
// AdamW (adamWCpuStep) on the same data and threads, and gives callgrind a deterministic
// workload. Build against the core that `npm run build:native` made:
//
//   g++ -O2 -std=c++20 -Icsrc bench/step/kernel-driver.cpp build/libmicroadam_core.a -lpthread \
//       -o build/kernel-driver
//   build/kernel-driver --numel 16M --threads 1 --steps 12          # wall clock, both methods
//   valgrind --tool=callgrind --collect-atstart=no \
//       build/kernel-driver --numel 1M --steps 10 --only microadam  # instructions per element
//
// Under callgrind only the timed steps are counted (the warm-up steps are not: the first step of
// a state has no Top-K hint), so Ir / (numel * steps) is the steady state's cost per element.
//
// Gradients are those of the step benchmark (bench/step/contenders.ts, makeValues: uniform
// values scaled by 1 + i % 17, three buffers in turn) or, with --grads normal, Gaussian values
// with a per-block scale, closer to a real network's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(STEP_MARKERS)
// Markers for bench/step/count-instructions.c, which counts what runs between them.
#define CALLGRIND_TOGGLE_COLLECT __asm__ volatile("int3")
#elif __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "core/adamw_engine.h"
#include "core/block_step.h"
#include "core/cpu_engine.h"
#include "core/thread_pool.h"

using namespace microadam;

namespace {

uint64_t parseCount(const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (*end == 'K' || *end == 'k') value *= 1024;
  if (*end == 'M' || *end == 'm') value *= 1024 * 1024;
  return uint64_t(value);
}

// bench/step/contenders.ts makeValues, bit for bit (the LCG and the float arithmetic).
std::vector<float> benchValues(uint64_t numel, uint32_t seed) {
  std::vector<float> out(numel);
  uint32_t s = seed;
  for (uint64_t i = 0; i < numel; ++i) {
    s = s * 1664525u + 1013904223u;
    out[i] = float((double(s >> 8) / 16777216.0 - 0.5) * double(1 + i % 17));
  }
  return out;
}

// Gaussian values with a scale per block of 4096 that stays within 20% from step to step (a
// lognormal spread across blocks, as between the layers and rows of a network).
std::vector<float> normalValues(uint64_t numel, uint32_t seed) {
  std::vector<float> out(numel);
  std::mt19937 rng(seed), blockRng(12345);
  std::normal_distribution<float> normal;
  std::lognormal_distribution<float> blockScale(0.0f, 1.0f);
  std::uniform_real_distribution<float> stepScale(0.8f, 1.2f);
  float scale = 1.0f;
  for (uint64_t i = 0; i < numel; ++i) {
    if (i % 4096 == 0) scale = 1e-3f * blockScale(blockRng) * stepScale(rng);
    out[i] = scale * normal(rng);
  }
  return out;
}

struct Timing {
  double median, min;
};

Timing timingOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[0]};
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t numel = 16 << 20;
  unsigned threads = 1;
  int steps = 12, warmup = 3;
  uint32_t window = 10;
  double density = 0.01;
  std::string only = "both", grads = "bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--numel") numel = parseCount(argv[i + 1]);
    else if (flag == "--threads") threads = unsigned(std::atoi(argv[i + 1]));
    else if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    else if (flag == "--warmup") warmup = std::atoi(argv[i + 1]);
    else if (flag == "--window") window = uint32_t(std::atoi(argv[i + 1]));
    else if (flag == "--density") density = std::atof(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
    else if (flag == "--grads") grads = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  ThreadPool::shared().setThreadCount(threads);
  std::vector<std::vector<float>> gradients;
  for (uint32_t seed : {2u, 5u, 7u})
    gradients.push_back(grads == "normal" ? normalValues(numel, seed) : benchValues(numel, seed));
  HyperParams hyper;
  hyper.lr = 1e-3;
  auto timeSteps = [&](auto&& step) {
    std::vector<double> ms;
    for (int t = 0; t < warmup + steps; ++t) {
      if (t == warmup) CALLGRIND_TOGGLE_COLLECT;
      const auto start = std::chrono::steady_clock::now();
      step(gradients[t % gradients.size()]);
      const auto stop = std::chrono::steady_clock::now();
      if (t >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    CALLGRIND_TOGGLE_COLLECT;
    return timingOf(ms);
  };
  std::printf("numel %llu, threads %u, kernel %s, grads %s, m %u, density %g\n", (unsigned long long)numel, threads,
              blockKernelName(), grads.c_str(), window, density);
  if (only == "both" || only == "microadam") {
    StateConfig config;
    config.numel = numel;
    config.window = window;
    config.density = density;
    HostState state(config);
    std::vector<float> params = benchValues(numel, 1);
    const Timing ms = timeSteps([&](std::vector<float>& g) {
      TensorStep s;
      s.state = &state;
      s.params = TensorView{params.data(), numel, Dtype::F32};
      s.grads = TensorView{g.data(), numel, Dtype::F32};
      s.hyper = hyper;
      cpuStep({s}, NonFinitePolicy::Skip);
    });
    // Params and every state buffer, to compare builds and versions bit for bit.
    const StateLayout& layout = state.layout();
    const size_t windowSize = size_t(layout.config().window) * layout.rowLength();
    std::vector<uint8_t> codes(layout.codeBytes());
    std::vector<uint16_t> mins(layout.bucketCount()), maxs(layout.bucketCount()), idx(windowSize), val(windowSize);
    state.copyTo(SnapshotTarget{codes.data(), mins.data(), maxs.data(), idx.data(), val.data()});
    uint64_t checksum = 0;
    auto add = [&](const void* data, size_t bytes) {
      const auto* p = static_cast<const uint8_t*>(data);
      for (size_t i = 0; i < bytes; ++i) checksum = checksum * 1000003u + p[i];
    };
    add(params.data(), params.size() * 4);
    add(codes.data(), codes.size());
    add(mins.data(), mins.size() * 2);
    add(maxs.data(), maxs.size() * 2);
    add(idx.data(), idx.size() * 2);
    add(val.data(), val.size() * 2);
    std::printf("MicroAdam  %8.2f ms/step (median of %d, min %.2f)  checksum of params and state %016llx\n", ms.median,
                steps, ms.min, (unsigned long long)checksum);
  }
  if (only == "both" || only == "adamw") {
    AdamWState state(numel);
    std::vector<float> params = benchValues(numel, 1);
    const Timing ms = timeSteps([&](std::vector<float>& g) {
      AdamWTensorStep s;
      s.state = &state;
      s.params = TensorView{params.data(), numel, Dtype::F32};
      s.grads = TensorView{g.data(), numel, Dtype::F32};
      s.hyper = hyper;
      adamWCpuStep({s}, NonFinitePolicy::Skip);
    });
    std::printf("AdamW      %8.2f ms/step (median of %d, min %.2f)\n", ms.median, steps, ms.min);
  }
  return 0;
}
